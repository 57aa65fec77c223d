"""One HTTP message, as the signature schemes see it.

:class:`HttpMessage` is a request (method + absolute URL) or a response (status, plus the
request that triggered it for RFC 9421's ``req`` parameter), with its header field lines and
body bytes. It is built from the client's ``PreparedRequest`` + URL, from a ``RawResponse``,
or from whatever a server (a mock bank) received.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cached_property
from urllib.parse import SplitResult, urlsplit

import attrs

from walletlink.errors import ValidationError
from walletlink.http import PreparedRequest, RawResponse, wire_url

__all__ = ["HttpMessage", "Target", "full_url", "replace_headers", "target_of"]

Headers = tuple[tuple[str, str], ...]

_DEFAULT_PORTS = {"https": "443", "http": "80"}


@attrs.frozen
class Target:
    """A request URL normalised as RFC 9421 §2.2 derives its components from it.

    Scheme and host are lower-cased, a default port and an empty port are dropped, an empty
    path is ``/`` (RFC 9110 §4.2.3), and userinfo and fragment are gone (RFC 9110 §7.1:
    neither is sent, so neither may be signed). Path and query keep their percent-encoding
    exactly as sent. ``query`` is ``None`` when the URL has no ``?`` at all.
    """

    scheme: str
    authority: str
    path: str
    query: str | None

    @property
    def request_target(self) -> str:
        """Origin form: what goes on the request line (``/path?query``)."""
        return self.path if self.query is None else f"{self.path}?{self.query}"

    @property
    def uri(self) -> str:
        return f"{self.scheme}://{self.authority}{self.request_target}"


def _authority(scheme: str, netloc: str) -> str:
    host_port = netloc.rpartition("@")[2]
    if host_port.startswith("["):
        host, _, rest = host_port.partition("]")
        host, port = host + "]", rest.removeprefix(":")
        if rest and not rest.startswith(":"):
            raise ValidationError("a request URL has a malformed IPv6 authority")
    else:
        host, _, port = host_port.partition(":")
    if not host or not port.isascii() or not (port.isdigit() or port == ""):
        raise ValidationError("a request URL has a malformed host or port")
    # The number, not its spelling: ":0443" is the port the transport connects to as 443.
    port = str(int(port)) if port else ""
    if port and port != _DEFAULT_PORTS.get(scheme):
        return f"{host.lower()}:{port}"
    return host.lower()


def target_of(url: str) -> Target:
    """``url`` (absolute) as a normalised :class:`Target`; a relative URL is an error."""
    try:
        parts = urlsplit(url)
    except ValueError:  # an unbalanced IPv6 bracket
        raise ValidationError("a request URL has a malformed authority") from None
    if not parts.scheme or not parts.netloc:
        raise ValidationError("a request URL must be absolute (scheme://host/path)")
    scheme = parts.scheme.lower()
    # urlsplit cannot tell "…/p?" (an empty query) from "…/p": look for the "?" itself.
    has_query = "?" in url.partition("#")[0]
    return Target(
        scheme=scheme,
        authority=_authority(scheme, parts.netloc),
        path=parts.path or "/",
        query=parts.query if has_query else None,
    )


def _header_lines(value: Mapping[str, str] | Iterable[tuple[str, str]]) -> Headers:
    items = value.items() if isinstance(value, Mapping) else value
    return tuple((str(name), str(val)) for name, val in items)


def full_url(request: PreparedRequest, url: str) -> str:
    """The URL ``request`` goes out to at ``url``: its ``params`` encoded as the transport
    encodes them (:func:`walletlink.http.wire_url`)."""
    return wire_url(url, request.params)


def replace_headers(headers: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """``headers`` with ``extra`` set, dropping any old spelling of the same names."""
    lowered = {name.lower() for name in extra}
    kept = {name: value for name, value in headers.items() if name.lower() not in lowered}
    return {**kept, **extra}


@attrs.frozen(kw_only=True)
class HttpMessage:
    """A request (``method`` + absolute ``url``) or a response (``status``)."""

    method: str | None = None
    url: str | None = None
    headers: Headers = attrs.field(default=(), converter=_header_lines)
    body: bytes | None = None
    status: int | None = None
    request: HttpMessage | None = None

    @classmethod
    def from_request(cls, request: PreparedRequest, url: str) -> HttpMessage:
        """The client's request as it will go out to the absolute ``url``."""
        return cls(
            method=request.method,
            url=full_url(request, url),
            headers=request.headers,
            body=request.body,
        )

    @classmethod
    def from_response(
        cls, response: RawResponse, *, request: HttpMessage | None = None
    ) -> HttpMessage:
        """A reply; the triggering request comes from ``request`` or ``response.request``."""
        if request is None and response.request is not None and response.url:
            request = cls.from_request(response.request, response.url)
        return cls(
            status=response.status,
            headers=response.headers,
            body=response.body,
            url=response.url or None,
            request=request,
        )

    @property
    def is_response(self) -> bool:
        return self.status is not None

    @cached_property
    def _index(self) -> dict[str, list[str]]:
        index: dict[str, list[str]] = {}
        for name, value in self.headers:
            index.setdefault(name.lower(), []).append(value)
        return index

    def header_lines(self, name: str) -> list[str] | None:
        """Every line of field ``name`` (case-insensitive), or ``None`` when absent."""
        return self._index.get(name.lower())

    def header(self, name: str) -> str | None:
        """Field ``name`` with its lines joined by ``", "`` as HTTP combines them."""
        lines = self._index.get(name.lower())
        if lines is None:
            return None
        if len(lines) == 1:
            return lines[0].strip()
        return ", ".join(line.strip() for line in lines)

    def has_header(self, name: str) -> bool:
        return name.lower() in self._index

    def with_headers(self, extra: Mapping[str, str]) -> HttpMessage:
        """This message with ``extra`` fields set, replacing lines of the same names."""
        lowered = {name.lower() for name in extra}
        kept = tuple((n, v) for n, v in self.headers if n.lower() not in lowered)
        headers = kept + tuple(extra.items())
        if type(self) is not HttpMessage:
            return attrs.evolve(self, headers=headers)
        # What evolve does, without its per-call walk over the attrs fields.
        return HttpMessage(
            method=self.method,
            url=self.url,
            headers=headers,
            body=self.body,
            status=self.status,
            request=self.request,
        )

    @cached_property
    def target(self) -> Target:
        """The request URL normalised for signing (see :class:`Target`)."""
        if not self.url:
            raise ValidationError("this message has no URL")
        return target_of(self.url)

    @cached_property
    def split_url(self) -> SplitResult:
        if not self.url:
            raise ValidationError("this message has no URL")
        parts = urlsplit(self.url)
        if not parts.scheme or not parts.netloc:
            raise ValidationError("a request URL must be absolute (scheme://host/path)")
        return parts
