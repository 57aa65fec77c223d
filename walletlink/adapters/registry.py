"""Adapter registry: protocol name → adapter class, loaded lazily.

Built-in adapters are imported only when a bank uses their protocol, so importing walletlink
stays cheap. Third-party adapters register through the ``walletlink.adapters`` entry-point
group (``name = "package.module:AdapterClass"``) or by calling :func:`register_adapter`.
"""

from __future__ import annotations

import importlib
import threading
from importlib.metadata import entry_points
from typing import Final

from walletlink.adapters.base import Adapter
from walletlink.errors import ConfigurationError

__all__ = ["BUILTIN_ADAPTERS", "available_protocols", "get_adapter_class", "register_adapter"]

#: Dotted paths of the adapters that ship with walletlink.
BUILTIN_ADAPTERS: Final[dict[str, str]] = {
    "berlin_group": "walletlink.protocols.berlin_group.adapter:BerlinGroupAdapter",
    "generic_rest": "walletlink.protocols.generic_rest.adapter:GenericRestAdapter",
    "cn_openapi": "walletlink.protocols.cn_openapi.adapter:CnOpenApiAdapter",
    "cn_bank_sm": "walletlink.protocols.cn_bank_sm.adapter:CnBankSmAdapter",
    "iso20022_h2h": "walletlink.protocols.iso20022_h2h.adapter:Iso20022H2HAdapter",
    "openbanking_uk": "walletlink.protocols.openbanking_uk.adapter:OpenBankingUkAdapter",
    "wechatpay_v3": "walletlink.protocols.wechatpay_v3.adapter:WeChatPayV3Adapter",
}

_ENTRY_POINT_GROUP: Final = "walletlink.adapters"
_registered: dict[str, type[Adapter] | str] = {}
_lock = threading.Lock()


def register_adapter(protocol: str, adapter: type[Adapter] | str, *, replace: bool = False) -> None:
    """Make ``protocol`` resolve to ``adapter`` (a class or a ``"module:Class"`` path)."""
    with _lock:
        if not replace and (protocol in _registered or protocol in BUILTIN_ADAPTERS):
            raise ConfigurationError(f"protocol {protocol!r} is already registered")
        _registered[protocol] = adapter


def _entry_point_paths() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=_ENTRY_POINT_GROUP)}


def available_protocols() -> list[str]:
    """Every protocol name that can be resolved now, sorted."""
    return sorted({*BUILTIN_ADAPTERS, *_registered, *_entry_point_paths()})


def _load(path: str) -> type[Adapter]:
    module_name, _, attribute = path.partition(":")
    try:
        target = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"cannot load adapter {path!r}: {exc}") from None
    if not (isinstance(target, type) and issubclass(target, Adapter)):
        raise ConfigurationError(f"{path!r} is not a walletlink Adapter subclass")
    return target


def get_adapter_class(protocol: str) -> type[Adapter]:
    """The adapter class for ``protocol``; unknown names raise :class:`ConfigurationError`."""
    with _lock:
        found = _registered.get(protocol)
    if isinstance(found, type):
        return found
    path = found or BUILTIN_ADAPTERS.get(protocol) or _entry_point_paths().get(protocol)
    if path is None:
        raise ConfigurationError(
            f"no adapter for protocol {protocol!r}; known: {', '.join(available_protocols())}"
        )
    adapter = _load(path)
    with _lock:
        _registered.setdefault(protocol, adapter)
    return adapter
