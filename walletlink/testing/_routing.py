"""Path routing for the mock protocol servers: one table of (method, pattern, …) per server.

Each server keeps its own error format, so routing only finds the route and says why when it
cannot: an unknown path and a known path with the wrong method are different answers (404
and 405) in every protocol walletlink speaks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, TypeVar
from urllib.parse import unquote

from walletlink.testing._http import MockRequest

__all__ = ["NoRoute", "find_route"]

R = TypeVar("R", bound=tuple[Any, ...])


class NoRoute(Exception):
    """No route answers the request; ``method_not_allowed`` when the path exists."""

    def __init__(self, *, method_not_allowed: bool) -> None:
        super().__init__("method not allowed" if method_not_allowed else "not found")
        self.method_not_allowed = method_not_allowed


def find_route(routes: Iterable[R], request: MockRequest) -> tuple[R, list[str]]:
    """The first route whose ``route[0]`` is the method and whose ``route[1]`` (a compiled
    pattern) matches the whole path, with the URL-decoded groups of the match."""
    path = request.path.rstrip("/") or "/"
    path_known = False
    for route in routes:
        method, pattern = route[0], route[1]
        assert isinstance(pattern, re.Pattern)
        match = pattern.fullmatch(path)
        if match is None:
            continue
        if method != request.method:
            path_known = True
            continue
        return route, [unquote(group) for group in match.groups()]
    raise NoRoute(method_not_allowed=path_known)
