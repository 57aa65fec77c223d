"""Tell a statement or report file's format from its first bytes, without parsing it.

XML is recognised by its root namespace (``urn:iso:std:iso:20022:tech:xsd:camt.053.001.08``
→ ``camt.053``); MT940 by a SWIFT envelope (``{1:``) or a leading ``:20:`` field; anything
else that looks like delimited text is ``csv``. Detection only sniffs: the parsers still
validate everything.
"""

from __future__ import annotations

import enum
import re
from typing import Final

from walletlink.errors import ParseError

__all__ = ["FileFormat", "detect_format"]

#: How many leading bytes are looked at: enough for a declaration, comments and the root.
SNIFF_BYTES: Final = 4096
_NAMESPACE: Final = re.compile(rb"urn:iso:std:iso:20022:tech:xsd:([a-z]{4})\.(\d{3})\.\d{3}\.\d{2}")
_MT940: Final = re.compile(rb"\A\s*(?:\{1:|:20:)")


class FileFormat(enum.StrEnum):
    CAMT053 = "camt.053"
    CAMT054 = "camt.054"
    CAMT052 = "camt.052"
    PAIN001 = "pain.001"
    PAIN002 = "pain.002"
    MT940 = "mt940"
    CSV = "csv"


_BY_MESSAGE: Final = {
    (b"camt", b"053"): FileFormat.CAMT053,
    (b"camt", b"054"): FileFormat.CAMT054,
    (b"camt", b"052"): FileFormat.CAMT052,
    (b"pain", b"001"): FileFormat.PAIN001,
    (b"pain", b"002"): FileFormat.PAIN002,
}


def detect_format(data: bytes | str) -> FileFormat:
    """The format of a document from its start (pass the whole file or its first 4 KiB).

    Raises ``ParseError`` for empty input, binary data or XML of an unknown message.
    """
    head = data[:SNIFF_BYTES].encode("utf-8") if isinstance(data, str) else data[:SNIFF_BYTES]
    head = head.removeprefix(b"\xef\xbb\xbf")
    if not head.strip():
        raise ParseError("empty file: no format to detect", position="offset 0")
    if head.lstrip().startswith(b"<"):
        match = _NAMESPACE.search(head)
        found = _BY_MESSAGE.get((match.group(1), match.group(2))) if match else None
        if found is None:
            raise ParseError("XML, but not a known ISO 20022 message", position="offset 0")
        return found
    if _MT940.match(head):
        return FileFormat.MT940
    if b"\x00" in head:
        raise ParseError("binary data is not a statement format", position="offset 0")
    return FileFormat.CSV
