"""The adapter base class: the generic pre-journal checks and the request-id lookup."""

from __future__ import annotations

from typing import Any

import pytest

from walletlink.accounts import Iban
from walletlink.adapters.base import Adapter
from walletlink.config import BankConfig
from walletlink.errors import ValidationError
from walletlink.http import RawResponse
from walletlink.models import Party, TransferRequest
from walletlink.money import Money


class _Plain(Adapter):
    protocol = "plain"


def _adapter() -> _Plain:
    return _Plain(BankConfig(bank_id="b", protocol="generic_rest", base_url="https://b.test"))


def _request(**changes: Any) -> TransferRequest:
    fields: dict[str, Any] = {
        "amount": Money("1.00", "EUR"),
        "debtor_account": Iban("DE89370400440532013000"),
        "creditor": Party(name="Ada", account=Iban("GB33BUKB20201555555555")),
    }
    fields.update(changes)
    return TransferRequest(**fields)


def test_control_characters_never_reach_an_adapter() -> None:
    """The text policy refuses them when the request is built, before any adapter runs."""
    with pytest.raises(ValidationError, match="idempotency_key"):
        _request(idempotency_key="k\r\nX-Injected: 1")


def test_the_base_class_accepts_ordinary_requests() -> None:
    adapter = _adapter()
    adapter.validate(_request(idempotency_key="order-42"))
    adapter.validate_batch([_request(), _request()])


def test_the_request_id_comes_from_the_first_header_named() -> None:
    reply = RawResponse(status=200, headers={"request-id": "r-2", "X-Request-ID": "r-1"}, body=b"")
    assert _adapter().request_id(reply) == "r-1"
    assert None is _adapter().request_id(RawResponse(status=200, headers={}, body=b""))
