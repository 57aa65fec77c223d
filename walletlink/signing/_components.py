"""RFC 9421 §2 component identifiers and how each one's value is taken from a message."""

from __future__ import annotations

import base64
import re
from typing import Final
from urllib.parse import parse_qsl, quote

import attrs

from walletlink.errors import ParseError, SignatureError, SignatureMissingError
from walletlink.signing import _sf
from walletlink.signing._message import HttpMessage

__all__ = ["Component", "component_value", "to_component"]

_REQUEST_DERIVED: Final = frozenset(
    {
        "@method",
        "@target-uri",
        "@authority",
        "@scheme",
        "@request-target",
        "@path",
        "@query",
        "@query-param",
    }
)
_FIELD_PARAMS: Final = frozenset({"sf", "key", "bs", "req"})
_OBS_FOLD = re.compile(r"\r?\n[ \t]+")


def _identifier(component: Component) -> str:
    return _sf.serialize_item(_sf.Item(component.name, dict(component.params)))


@attrs.frozen
class Component:
    """A component identifier: a field name or ``@derived`` name plus its parameters.

    ``Component("@query-param", (("name", "Pet"),))`` is ``"@query-param";name="Pet"``;
    ``Component("content-digest", (("req", True),))`` is ``"content-digest";req``.
    """

    name: str
    params: tuple[tuple[str, _sf.BareItem], ...] = ()
    identifier: str = attrs.field(
        init=False, eq=False, default=attrs.Factory(_identifier, takes_self=True)
    )

    def __attrs_post_init__(self) -> None:
        if self.name != self.name.lower() or not self.name:
            raise SignatureError(f"component name {self.name[:40]!r} must be lower-case")
        allowed = _FIELD_PARAMS
        if self.name.startswith("@"):
            allowed = frozenset({"req", "name"} if self.name == "@query-param" else {"req"})
        unknown = [key for key, _ in self.params if key not in allowed]
        if unknown:
            raise SignatureError(f"component {self.name!r}: unsupported parameter {unknown[0]!r}")
        if self.param("bs") and (self.param("sf") or self.param("key") is not None):
            raise SignatureError(f"component {self.name!r}: bs cannot combine with sf or key")

    @classmethod
    def parse(cls, text: str) -> Component:
        """A component from its serialised identifier, e.g. ``'"@query-param";name="Pet"'``."""
        try:
            item = _sf.parse_item(text)
        except ParseError as exc:
            raise SignatureError(f"malformed component identifier: {exc.message}") from None
        if not isinstance(item.value, str) or isinstance(item.value, _sf.Token):
            raise SignatureError("a component identifier is a quoted string")
        return cls(item.value, tuple(item.params.items()))

    def param(self, key: str) -> _sf.BareItem | None:
        return next((value for name, value in self.params if name == key), None)

    def present_in(self, message: HttpMessage) -> bool:
        """Whether ``message`` has this component (used for optionally covered fields)."""
        target = message.request if self.param("req") else message
        if target is None:
            return False
        if not self.name.startswith("@"):
            return target.has_header(self.name)
        if self.name == "@query-param":
            try:
                _query_param(target, self)
            except SignatureError:
                return False
        return True


def to_component(value: str | Component) -> Component:
    """A :class:`Component` from itself, a bare name (``"Content-Type"``) or an identifier."""
    if isinstance(value, Component):
        return value
    if value.startswith('"'):
        return Component.parse(value)
    return Component(value.lower())


def component_value(message: HttpMessage, component: Component) -> str:
    """The component's value in ``message`` (RFC 9421 §2.1, §2.2); absent ones raise."""
    target = message
    params = component.params
    if params and component.param("req"):
        if not message.is_response or message.request is None:
            raise SignatureMissingError(f"{component.identifier} needs the triggering request")
        target = message.request
    name = component.name
    if name[0] == "@":
        value = _derived(target, component)
    elif params:
        value = _field(target, component)
    else:
        value = _plain_field(target, name)
    if "\n" in value or "\r" in value:
        raise SignatureError(f"{component.identifier} value contains a line break")
    return value


def _derived(message: HttpMessage, component: Component) -> str:
    name = component.name
    if name == "@status":
        if message.status is None:
            raise SignatureError("@status only applies to responses")
        return f"{message.status:03d}"
    if name not in _REQUEST_DERIVED:
        raise SignatureError(f"unknown derived component {name[:40]!r}")
    if message.status is not None or message.method is None:
        raise SignatureError(f"{name} applies to requests (use ;req on a response)")
    if name == "@method":
        return message.method
    if name == "@query-param":
        return _query_param(message, component)
    target = message.target
    if name == "@authority":
        return target.authority
    if name == "@path":
        return target.path
    if name == "@query":
        return f"?{target.query or ''}"
    if name == "@target-uri":
        return target.uri
    if name == "@scheme":
        return target.scheme
    return target.request_target


def _form_encode(text: str) -> str:
    # WHATWG form-urlencoded percent-encode set, spaces as %20 (RFC 9421 §2.2.8).
    return quote(text, safe="*").replace("~", "%7E")


def _query_param(message: HttpMessage, component: Component) -> str:
    wanted = component.param("name")
    if not isinstance(wanted, str) or isinstance(wanted, _sf.Token):
        raise SignatureError('@query-param needs a string "name" parameter')
    pairs = parse_qsl(message.split_url.query, keep_blank_values=True)
    values = [v for k, v in pairs if _form_encode(k) == wanted]
    if not values:
        raise SignatureMissingError(f"query parameter {wanted[:40]!r} is missing")
    if len(values) > 1:
        raise SignatureError(f"query parameter {wanted[:40]!r} occurs more than once")
    return _form_encode(values[0])


def _plain_field(message: HttpMessage, name: str) -> str:
    """:func:`_field` for a bare (lower-case) field name: the common case, taken directly."""
    lines = message.header_lines(name)
    if lines is None:
        raise SignatureMissingError(f"header {name!r} is missing")
    if len(lines) == 1:
        line = lines[0]
        return (_OBS_FOLD.sub(" ", line) if "\n" in line else line).strip(" \t")
    return ", ".join(_OBS_FOLD.sub(" ", line).strip(" \t") for line in lines)


def _field(message: HttpMessage, component: Component) -> str:
    lines = message.header_lines(component.name)
    if lines is None:
        raise SignatureMissingError(f"header {component.name!r} is missing")
    cleaned = [_OBS_FOLD.sub(" ", line).strip(" \t") for line in lines]
    if component.param("bs"):
        return ", ".join(f":{base64.b64encode(line.encode()).decode()}:" for line in cleaned)
    joined = ", ".join(cleaned)
    key = component.param("key")
    if key is not None:
        return _dictionary_member(joined, component.name, key)
    if component.param("sf"):
        return _strict(joined, component.name)
    return joined


def _dictionary_member(value: str, name: str, key: _sf.BareItem) -> str:
    try:
        members = _sf.parse_dictionary(value)
    except ParseError as exc:
        raise SignatureError(f"header {name!r} is not a dictionary: {exc.message}") from None
    if not isinstance(key, str) or key not in members:
        raise SignatureMissingError(f"header {name!r} has no member {str(key)[:40]!r}")
    return _sf.serialize_member(members[key])


def _strict(value: str, name: str) -> str:
    """Strict re-serialisation: as a dictionary if it parses as one, else as a list."""
    try:
        return _sf.serialize_dictionary(_sf.parse_dictionary(value))
    except ParseError:
        pass
    try:
        return _sf.serialize_list(_sf.parse_list(value))
    except ParseError as exc:
        raise SignatureError(f"header {name!r} is not a structured field: {exc.message}") from None
