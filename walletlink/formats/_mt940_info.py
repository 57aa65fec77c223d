"""Read MT940 ``:86:`` (information to account owner) into references, party and text.

Three shapes occur in the wild:

* German structured (DFÜ/DK): ``GVC?00booking text?10prima nota?20…?29 remittance
  ?30 bank code?31 account?32?33 name?60…?63 more remittance``; the remittance lines carry
  SEPA keys such as ``EREF+`` (end-to-end id), ``MREF+``, ``CRED+`` and ``SVWZ+`` (text).
* SWIFT-style tags: ``/EREF/…/REMI/…/NAME/…/IBAN/…/BIC/…/MREF/…/CRED/…``.
* Free text, kept as the remittance.
"""

from __future__ import annotations

import re
from typing import Final, TypeAlias

import attrs

__all__ = ["EntryInfo", "Info", "entry_info", "parse_info"]

_GERMAN: Final = re.compile(r"\d{3}\?")
_SUBFIELD: Final = re.compile(r"\?(\d\d)")
_SEPA_KEY: Final = re.compile(r"(EREF|KREF|MREF|CRED|DEBT|SVWZ|ABWA|ABWE|IBAN|BIC)\+")
_SWIFT_TAG: Final = re.compile(
    r"/(EREF|REMI|CRED|MREF|IBAN|BIC|NAME|ORDP|BENM|KREF|PURP|ULTD|ULTC|TRCD|CSID"
    r"|TRTP|RTRN|MARF|ISDT|ADDR)/"
)
# Any tag-shaped start: banks lead with tags of their own (ING's /TRTP/, /CNTP/ …), and the
# known tags that follow still carry the name and references.
_ANY_TAG: Final = re.compile(r"/[A-Z0-9]{2,4}/")
# The usual SWIFT shape (and the one write_mt940 writes), read with a plain split.
_USUAL_TAGS: Final = ["EREF", "NAME", "IBAN", "REMI"]
_NOT_PROVIDED: Final = frozenset({"NOTPROVIDED", "NONREF", ""})


@attrs.frozen
class Info:
    """What a ``:86:`` said about its entry; ``None`` where it said nothing."""

    end_to_end_id: str | None = None
    name: str | None = None
    account: str | None = None
    remittance: str | None = None
    mandate_id: str | None = None
    creditor_id: str | None = None


def _ref(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return None if value.upper() in _NOT_PROVIDED else value


def parse_info(body: str) -> Info:
    """Parse the text of one ``:86:`` field (its lines still joined by line ends)."""
    if _GERMAN.match(body):
        # Structured lines are cut at 65 characters anywhere: glue them back exactly.
        return _german(_glue(body))
    if body.startswith("/") and (
        _SWIFT_TAG.match(body) or (_ANY_TAG.match(body) and _SWIFT_TAG.search(body))
    ):
        return _swift(_glue(body))
    text = " ".join(body.split())
    return Info(remittance=text or None)


#: What an entry takes from its ``:86:``: end-to-end id, name, account, remittance.
EntryInfo: TypeAlias = tuple[str | None, str | None, str | None, str | None]


def entry_info(body: str) -> EntryInfo:
    """The :class:`Info` fields a :class:`~walletlink.models.Transaction` uses, as a tuple.

    The same values as :func:`parse_info`, without building an ``Info`` per entry.
    """
    if body.startswith("/EREF/"):
        parts = body.replace("\r", "").replace("\n", "").split("/")
        if len(parts) == 9 and parts[1::2] == _USUAL_TAGS:
            # "/EREF/…/NAME/…/IBAN/…/REMI/…" and no other "/": exactly where parse_info's
            # split at every known tag would cut it. _ref inline (once per entry); only a
            # value starting with N (or empty) can be NONREF or NOTPROVIDED.
            _, _, end_to_end_id, _, name, _, account, _, remittance = parts
            end_to_end_id, name, account = end_to_end_id.strip(), name.strip(), account.strip()
            return (
                None
                if end_to_end_id[:1] in "Nn" and end_to_end_id.upper() in _NOT_PROVIDED
                else end_to_end_id,
                None if name[:1] in "Nn" and name.upper() in _NOT_PROVIDED else name,
                None if account[:1] in "Nn" and account.upper() in _NOT_PROVIDED else account,
                remittance.strip() if remittance else None,
            )
    return _info_tuple(parse_info(body))


def _info_tuple(info: Info) -> EntryInfo:
    return info.end_to_end_id, info.name, info.account, info.remittance


def _glue(body: str) -> str:
    return body.replace("\r", "").replace("\n", "")


def _german(text: str) -> Info:
    subfields: dict[str, list[str]] = {}
    pieces = _SUBFIELD.split(text[4:] if text[3] == "?" else text)
    # split() gives [before, code, value, code, value, …]
    for code, value in zip(pieces[1::2], pieces[2::2], strict=True):
        subfields.setdefault(code, []).append(value)
    remittance_lines = [
        v
        for code in sorted(subfields)
        if "20" <= code <= "29" or "60" <= code <= "63"
        for v in subfields[code]
    ]
    keyed = _sepa_keys("".join(remittance_lines))
    name = "".join(subfields.get("32", []) + subfields.get("33", [])).strip()
    remittance = keyed.get("SVWZ") if keyed else None
    if remittance is None:
        remittance = " ".join(v.strip() for v in remittance_lines if v.strip())
    return Info(
        end_to_end_id=_ref(keyed.get("EREF")),
        name=name or None,
        account=_ref("".join(subfields.get("31", []))) or _ref(keyed.get("IBAN")),
        remittance=remittance or None,
        mandate_id=_ref(keyed.get("MREF")),
        creditor_id=_ref(keyed.get("CRED")),
    )


def _sepa_keys(text: str) -> dict[str, str]:
    pieces = _SEPA_KEY.split(text)
    return {key: value.strip() for key, value in zip(pieces[1::2], pieces[2::2], strict=True)}


def _swift_tags(text: str) -> dict[str, str]:
    pieces = iter(_SWIFT_TAG.split(text))
    next(pieces)  # before the first known tag: empty, or a tag of the bank's own (dropped)
    # A repeated tag keeps its last value; values end at the next known tag.
    return dict(zip(pieces, pieces, strict=True))


def _swift(text: str) -> Info:
    tags = _swift_tags(text)
    remittance = tags.get("REMI")
    return Info(
        end_to_end_id=_ref(tags.get("EREF")),
        name=_ref(tags.get("NAME")),
        account=_ref(tags.get("IBAN")),
        remittance=remittance.strip() if remittance else None,
        mandate_id=_ref(tags.get("MREF")),
        creditor_id=_ref(tags.get("CRED")),
    )
