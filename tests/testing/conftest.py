"""The mock bank shell is tested through a generic_rest bank: share its fixtures."""

from tests.protocols.generic_rest.conftest import bank, session

__all__ = ["bank", "session"]
