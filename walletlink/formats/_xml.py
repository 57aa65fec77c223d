"""Safe XML for untrusted bank files: every byte goes through defusedxml's expat parser.

ISO 20022 needs no DTD, so any ``<!DOCTYPE``, entity declaration or external reference is
refused *before* expansion (``forbid_dtd``, ``forbid_entities``, ``forbid_external``) and
becomes :class:`~walletlink.errors.HostileInputError`. Malformed XML becomes
:class:`~walletlink.errors.ParseError` naming the line and column.

Two ways in:

* :func:`parse_tree` builds a whole (small) document, with namespaces stripped from tags.
* :class:`SubtreeStream` is the streaming form for statements of any size. The parser's
  target never builds the full tree: elements below a *container* (``Document``, ``Stmt``…)
  are built one subtree at a time, handed to a callback and dropped, so memory holds one entry
  at a time however large the file is. That is ``iterparse`` + ``elem.clear()`` taken to its
  end: nothing is ever attached to the root, so there is nothing to clear.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Callable, Collection, Iterator
from pyexpat import ExpatError
from typing import IO, Any, Final, TypeAlias

import defusedxml
import defusedxml.ElementTree as DET

from walletlink.errors import HostileInputError, ParseError, WalletLinkError

__all__ = [
    "CHUNK_SIZE",
    "Source",
    "SubtreeStream",
    "feed",
    "local_name",
    "namespace_of",
    "parse_tree",
    "read_chunks",
]

#: A document as bytes, as text, as a path, or as an open binary file.
Source: TypeAlias = bytes | str | os.PathLike[str] | IO[bytes]

#: Bytes read per ``feed``; large enough to amortise the call, small enough to stay flat.
CHUNK_SIZE: Final = 1 << 16

# defusedxml raises its own subclasses; expat errors come from the pure-Python ElementTree
# module defusedxml loads (a class distinct from xml.etree.ElementTree.ParseError).
_XML_SYNTAX_ERRORS: Final = (ET.ParseError, DET.ParseError, ExpatError)


def local_name(tag: str) -> str:
    """``{urn:…}Ntry`` → ``Ntry``."""
    return tag[tag.rfind("}") + 1 :]


def namespace_of(tag: str) -> str:
    """``{urn:…camt.053.001.08}Document`` → ``urn:…camt.053.001.08`` (``""`` if none)."""
    return tag[1 : tag.find("}")] if tag.startswith("{") else ""


def read_chunks(source: Source) -> Iterator[bytes | str]:
    """Yield the document in chunks without ever holding a file whole."""
    if isinstance(source, bytes | str):
        yield source
        return
    if isinstance(source, os.PathLike):
        with open(source, "rb") as handle:
            yield from _chunks_of(handle)
        return
    yield from _chunks_of(source)


def _chunks_of(handle: IO[bytes]) -> Iterator[bytes]:
    while chunk := handle.read(CHUNK_SIZE):
        yield chunk


def _position(parser: Any) -> str:
    expat = parser.parser
    return f"line {expat.CurrentLineNumber}, column {expat.CurrentColumnNumber + 1}"


def _new_parser(target: object) -> Any:
    return DET.DefusedXMLParser(
        target=target, forbid_dtd=True, forbid_entities=True, forbid_external=True
    )


def feed(parser: Any, source: Source) -> Iterator[None]:
    """Feed ``source`` chunk by chunk, pausing after each so a caller can drain its output.

    Parser failures become typed, positioned errors; errors raised by the target (our own
    ``ParseError`` for a bad amount, say) pass through unchanged.
    """
    try:
        for chunk in read_chunks(source):
            parser.feed(chunk)
            yield
        parser.close()
    except defusedxml.DefusedXmlException as exc:
        raise HostileInputError(
            f"refused hostile XML ({type(exc).__name__}): DTDs, entities and external "
            "references are not allowed",
            position=_position(parser),
        ) from None
    except _XML_SYNTAX_ERRORS as exc:
        found = getattr(exc, "position", None)
        where = f"line {found[0]}, column {found[1] + 1}" if found else _position(parser)
        raise ParseError(f"malformed XML: {_reason(exc)}", position=where) from None
    except (UnicodeError, LookupError) as exc:
        raise ParseError(f"undecodable XML: {type(exc).__name__}", position="start") from None
    except ValueError as exc:
        if isinstance(exc, WalletLinkError):
            raise  # the target's own error (an invalid amount, say): unchanged
        # pyexpat refuses a declared multi-byte encoding (Shift_JIS, GBK, Big5, EUC-JP)
        # with a bare ValueError; ISO 20022 files are UTF-8.
        raise ParseError(f"undecodable XML: {exc}", position=_position(parser)) from None
    yield


def _reason(exc: Exception) -> str:
    # expat's message ends with ": line L, column C"; the position is reported separately.
    return str(exc).split(":")[0]


class _StrippingBuilder:
    """A TreeBuilder target that stores local names only and remembers the root namespace."""

    def __init__(self) -> None:
        self._builder = ET.TreeBuilder()
        self.namespace: str | None = None

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        if self.namespace is None:
            self.namespace = namespace_of(tag)
        self._builder.start(local_name(tag), attrib)

    def end(self, tag: str) -> None:
        self._builder.end(local_name(tag))

    def data(self, text: str) -> None:
        self._builder.data(text)

    def close(self) -> ET.Element:
        return self._builder.close()


def parse_tree(source: Source) -> tuple[str, ET.Element]:
    """Parse a whole document safely; return its root namespace and its root element.

    Tags carry local names only (``GrpHdr``, not ``{urn:…}GrpHdr``): the namespace is
    checked once, at the root, by the caller.
    """
    target = _StrippingBuilder()
    for _ in feed(_new_parser(target), source):
        pass
    try:
        root = target.close()
    except AssertionError:  # TreeBuilder asserts on an empty or unbalanced document
        raise ParseError("empty XML document", position="end") from None
    return target.namespace or "", root


#: Called for a container's start (name, attributes, line) and end (name, None, line).
ContainerHandler: TypeAlias = Callable[[str, dict[str, str] | None, int], None]
#: Called with each finished subtree and the line it started on.
SubtreeHandler: TypeAlias = Callable[[ET.Element, int], None]


class SubtreeStream:
    """Stream a document, building only the subtrees directly under *container* elements.

    ``containers`` are local names (``Document``, ``BkToCstmrStmt``, ``Stmt``). Every element
    whose parent is a container, and which is not one itself, is built as a small tree and
    passed to ``on_subtree``; container starts and ends go to ``on_container``.
    """

    def __init__(
        self,
        containers: Collection[str],
        on_container: ContainerHandler,
        on_subtree: SubtreeHandler,
    ) -> None:
        self._containers = frozenset(containers)
        self._on_container = on_container
        self._on_subtree = on_subtree
        self._builder: Any = None  # a C TreeBuilder while inside a subtree
        self._depth = 0  # depth inside the current subtree
        self._line = 0
        self._parser: Any = None
        self._expat: Any = None
        self.namespace: str | None = None

    def run(self, source: Source) -> Iterator[None]:
        """Parse ``source``, pausing after every chunk (and once at the end)."""
        self._parser = _new_parser(self)
        # defusedxml's guards (DTD, entity and external-reference handlers) stay installed;
        # only the element handlers are replaced, skipping the pure-Python ElementTree layer.
        self._expat = self._parser.parser
        self._outside()
        return feed(self._parser, source)

    @property
    def line(self) -> int:
        return int(self._expat.CurrentLineNumber)

    def _outside(self) -> None:
        expat = self._expat
        expat.StartElementHandler = self._start_outside
        expat.EndElementHandler = self._end_outside
        expat.CharacterDataHandler = None  # text between subtrees is layout only

    def _start_outside(self, tag: str, attributes: list[str]) -> None:
        name = tag[tag.rfind("}") + 1 :]
        if name in self._containers:
            if self.namespace is None:
                self.namespace = tag[: tag.rfind("}")] if "}" in tag else ""
            self._on_container(name, _attrib(attributes), self.line)
            return
        builder = self._builder = ET.TreeBuilder()
        self._depth = 1
        self._line = self.line
        builder.start(name, _attrib(attributes))
        expat = self._expat
        expat.StartElementHandler = self._start_inside
        expat.EndElementHandler = self._end_inside
        expat.CharacterDataHandler = builder.data

    def _end_outside(self, tag: str) -> None:
        self._on_container(tag[tag.rfind("}") + 1 :], None, self.line)

    # The two handlers below run for every element of every entry: keep them lean.
    def _start_inside(self, tag: str, attributes: list[str]) -> None:
        self._depth += 1
        self._builder.start(tag[tag.rfind("}") + 1 :], _attrib(attributes) if attributes else {})

    def _end_inside(self, tag: str) -> None:
        self._builder.end(tag)  # the C builder closes the innermost element; name unused
        self._depth -= 1
        if not self._depth:
            self._outside()
            self._on_subtree(self._builder.close(), self._line)
            self._builder = None

    # The parser target interface (defusedxml requires one; our handlers replace it).
    def start(self, tag: str, attrib: dict[str, str]) -> None:  # pragma: no cover
        raise AssertionError("element handlers are replaced in run()")

    def end(self, tag: str) -> None:  # pragma: no cover
        raise AssertionError("element handlers are replaced in run()")

    def data(self, text: str) -> None:  # pragma: no cover
        return None

    def close(self) -> None:
        return None


def _attrib(attributes: list[str]) -> dict[str, str]:
    """expat's flat ``[name, value, …]`` list (``ordered_attributes``) as local names."""
    return {
        attributes[i][attributes[i].rfind("}") + 1 :]: attributes[i + 1]
        for i in range(0, len(attributes), 2)
    }
