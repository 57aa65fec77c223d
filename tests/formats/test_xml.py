"""Hostile and malformed XML is refused fast, with typed errors that say where."""

from __future__ import annotations

import time

import pytest

from walletlink.errors import HostileInputError, ParseError
from walletlink.formats import iter_camt, parse_camt, parse_pain001, parse_pain002
from walletlink.formats._xml import parse_tree

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">&lol9;</Document>"""

QUADRATIC = (
    b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "'
    + b"x" * 200_000
    + b'">]><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">'
    + b"&a;" * 20_000
    + b"</Document>"
)
XXE_FILE = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.10">&xxe;</Document>"""
XXE_HTTP = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "http://127.0.0.1:9/evil">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09">&xxe;</Document>"""
EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE Document SYSTEM "http://127.0.0.1:9/camt.dtd">
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"/>"""
PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"/>"""

HOSTILE = {
    "billion_laughs": BILLION_LAUGHS,
    "quadratic_blowup": QUADRATIC,
    "xxe_file": XXE_FILE,
    "xxe_http": XXE_HTTP,
    "external_dtd": EXTERNAL_DTD,
    "parameter_entity": PARAMETER_ENTITY,
}
PARSERS = {
    "camt": lambda data: parse_camt(data),
    "pain001": parse_pain001,
    "pain002": parse_pain002,
}


@pytest.mark.parametrize("payload", HOSTILE.values(), ids=HOSTILE.keys())
@pytest.mark.parametrize("parse", PARSERS.values(), ids=PARSERS.keys())
def test_hostile_xml_is_refused_quickly(payload: bytes, parse: object) -> None:
    start = time.perf_counter()
    with pytest.raises(HostileInputError) as caught:
        parse(payload)  # type: ignore[operator]
    assert time.perf_counter() - start < 1.0
    assert caught.value.position is not None
    assert "line" in caught.value.position
    assert "passwd" not in str(caught.value)


def test_hostile_xml_is_refused_when_streamed_in_chunks() -> None:
    import io

    with pytest.raises(HostileInputError):
        list(iter_camt(io.BytesIO(BILLION_LAUGHS)))


@pytest.mark.parametrize(
    ("document", "where"),
    [
        (b"<Document><Stmt>", "line 1"),
        (b'<?xml version="1.0"?>\n<Document>\n  <a></b>\n</Document>', "line 3"),
        (b"", "line 1"),
        (b"\xff\xfe\x00garbage", "line 1"),
        (b"not xml at all", "line 1"),
    ],
)
def test_malformed_xml_names_the_position(document: bytes, where: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_tree(document)
    assert caught.value.position is not None
    assert where in caught.value.position


def test_parse_tree_strips_namespaces_and_reports_the_root_namespace() -> None:
    namespace, root = parse_tree(b'<a xmlns="urn:x"><b c="1">t</b></a>')
    assert (namespace, root.tag, root.findtext("b"), root[0].get("c")) == ("urn:x", "a", "t", "1")


@pytest.mark.parametrize("encoding", ["Shift_JIS", "GBK", "Big5", "EUC-JP"])
@pytest.mark.parametrize("parse", PARSERS.values(), ids=PARSERS.keys())
def test_a_declared_multibyte_encoding_is_a_parse_error(encoding: str, parse: object) -> None:
    """pyexpat raises a bare ValueError for these (found by the T13 fuzzer)."""
    document = (
        f'<?xml version="1.0" encoding="{encoding}"?>'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"/>'
    ).encode()
    with pytest.raises(ParseError, match="undecodable XML: multi-byte encodings"):
        parse(document)  # type: ignore[operator]
