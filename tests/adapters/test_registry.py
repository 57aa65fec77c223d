import pytest

from walletlink.adapters.base import Adapter
from walletlink.adapters.registry import (
    available_protocols,
    get_adapter_class,
    register_adapter,
)
from walletlink.errors import ConfigurationError


class Dummy(Adapter):
    protocol = "dummy_for_tests"


def test_builtin_adapter_loads_lazily_by_name() -> None:
    cls = get_adapter_class("generic_rest")
    assert cls.protocol == "generic_rest"


def test_unknown_protocol_names_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match="generic_rest"):
        get_adapter_class("nope")


def test_register_adapter() -> None:
    register_adapter("dummy_for_tests", Dummy, replace=True)
    assert get_adapter_class("dummy_for_tests") is Dummy
    assert "dummy_for_tests" in available_protocols()
    with pytest.raises(ConfigurationError, match="already registered"):
        register_adapter("dummy_for_tests", Dummy)


def test_register_by_dotted_path_checks_the_type() -> None:
    register_adapter("broken_for_tests", "walletlink.money:Money", replace=True)
    with pytest.raises(ConfigurationError, match="not a walletlink Adapter"):
        get_adapter_class("broken_for_tests")


def test_entry_points_are_discovered(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib.metadata import EntryPoint

    import walletlink.adapters.registry as registry

    point = EntryPoint(
        name="from_entry_point", value=f"{__name__}:Dummy", group="walletlink.adapters"
    )
    monkeypatch.setattr(registry, "entry_points", lambda group: [point])
    assert get_adapter_class("from_entry_point") is Dummy
