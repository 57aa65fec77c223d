import json
import re

import attrs
import pytest

from walletlink.accounts import Bic, Iban, LocalAccount
from walletlink.errors import InvalidAmountError, InvalidTransitionError, ValidationError
from walletlink.models import (
    Direction,
    NextAction,
    Party,
    Transaction,
    Transfer,
    TransferRequest,
    TransferStatus,
    idempotency_key_for,
)
from walletlink.money import Money
from walletlink.protocols.cn_openapi.adapter import out_biz_no

S = TransferStatus


def request(**changes: object) -> TransferRequest:
    base = TransferRequest(
        amount=Money("10.00", "EUR"),
        debtor_account=Iban("DE89370400440532013000"),
        creditor=Party(name="Bob", account=Iban("GB33BUKB20201555555555"), agent=Bic("BUKBGB22")),
        remittance="Invoice 1",
        end_to_end_id="e2e-1",
        idempotency_key="key-1",
    )
    return attrs.evolve(base, **changes)


def test_idempotency_key_and_end_to_end_id_are_generated() -> None:
    a = TransferRequest(
        amount=Money("1", "EUR"),
        debtor_account=LocalAccount("a"),
        creditor=Party(name="B", account=LocalAccount("b")),
    )
    assert a.idempotency_key
    assert len(a.end_to_end_id) <= 35


def payout(**fields: object) -> TransferRequest:
    return TransferRequest(
        amount=Money("1", "EUR"),
        debtor_account=LocalAccount("a"),
        creditor=Party(name="B", account=LocalAccount("b")),
        **fields,  # type: ignore[arg-type]
    )


def test_a_payout_id_gives_the_same_key_and_request_every_time() -> None:
    first, again = payout(payout_id="PAYOUT-981"), payout(payout_id="PAYOUT-981")
    assert first.idempotency_key == again.idempotency_key
    assert first.fingerprint() == again.fingerprint()
    assert first.end_to_end_id == "PAYOUT-981"
    assert idempotency_key_for("PAYOUT-981") == first.idempotency_key
    assert first.has_caller_identity


def test_a_caller_end_to_end_id_is_the_identity_too() -> None:
    assert payout(payout_id="P-1").idempotency_key == payout(end_to_end_id="P-1").idempotency_key
    assert (
        payout(end_to_end_id="P-1").idempotency_key != payout(end_to_end_id="P-2").idempotency_key
    )


def test_a_payout_id_unfit_for_an_end_to_end_id_is_digested() -> None:
    long_id = "payout/2026-03-02/user:42/" + "x" * 40
    request = payout(payout_id=long_id)
    assert len(request.end_to_end_id) == 32
    assert payout(payout_id=long_id).end_to_end_id == request.end_to_end_id


@pytest.mark.parametrize("identity", ["PAYOUT-981", "é" * 128, "a.b.c", " "])
def test_derived_keys_fit_every_protocol(identity: str) -> None:
    """UK OB allows 40 characters, Alipay's out_biz_no 64 of [0-9A-Za-z_-]."""
    key = idempotency_key_for(identity)
    assert len(key) == 36
    assert re.fullmatch(r"[0-9A-Za-z_-]{1,40}", key)


def test_a_derived_key_is_a_valid_alipay_out_biz_no() -> None:
    request = payout(payout_id="PAYOUT.2026.03.981")
    assert out_biz_no(request) == request.idempotency_key


def test_an_explicit_key_wins_and_no_identity_means_a_random_key() -> None:
    assert payout(payout_id="P-1", idempotency_key="mine").idempotency_key == "mine"
    assert payout(idempotency_key="mine").has_caller_identity
    anonymous = payout()
    assert not anonymous.has_caller_identity
    assert anonymous.idempotency_key != payout().idempotency_key


def test_a_blank_payout_id_is_refused() -> None:
    with pytest.raises(ValidationError, match="payout id"):
        payout(payout_id="  ")


def test_an_explicit_empty_end_to_end_id_is_still_refused() -> None:
    with pytest.raises(ValidationError):
        payout(end_to_end_id="")


def test_fingerprint_ignores_the_key_but_not_the_content() -> None:
    assert request().fingerprint() == request(idempotency_key="other").fingerprint()
    assert request().fingerprint() != request(amount=Money("10.01", "EUR")).fingerprint()
    assert request().fingerprint() != request(remittance="Invoice 2").fingerprint()


def test_canonical_round_trip() -> None:
    original = request(metadata={"order": "42"})
    assert TransferRequest.from_canonical(original.canonical(), "key-1") == original


def test_amount_must_be_positive() -> None:
    with pytest.raises(InvalidAmountError):
        request(amount=Money("0", "EUR"))


def test_text_limits() -> None:
    with pytest.raises(ValidationError, match="140"):
        request(remittance="x" * 141)
    with pytest.raises(ValidationError, match="35"):
        request(end_to_end_id="x" * 36)


@pytest.mark.parametrize(
    ("old", "new", "allowed"),
    [
        (S.PENDING, S.PROCESSING, True),
        (S.PROCESSING, S.SETTLED, True),
        (S.SETTLED, S.RETURNED, True),
        (S.SETTLED, S.PROCESSING, False),
        (S.REJECTED, S.SETTLED, False),
        (S.UNKNOWN, S.SETTLED, True),
        (S.PROCESSING, S.PENDING, False),
        (S.SETTLED, S.SETTLED, True),
    ],
)
def test_transitions(old: TransferStatus, new: TransferStatus, allowed: bool) -> None:
    assert old.can_become(new) is allowed


def test_moved_to_refuses_backward_moves() -> None:
    transfer = Transfer(
        id="wl_1",
        bank_id="b",
        bank_transfer_id="tr_1",
        end_to_end_id="e2e",
        idempotency_key="k",
        amount=Money("1", "EUR"),
        status=S.SETTLED,
    )
    with pytest.raises(InvalidTransitionError):
        transfer.moved_to(S.PROCESSING)
    assert transfer.moved_to(S.RETURNED).status is S.RETURNED


def test_next_action_round_trips() -> None:
    action = NextAction(kind="redirect", url="https://bank.example/sca", data={"consent": "c1"})
    assert NextAction.from_dict(action.to_dict()) == action


def test_transaction_signed_amount() -> None:
    debit = Transaction(amount=Money("5", "EUR"), direction=Direction.DEBIT)
    assert debit.signed_amount == Money("-5", "EUR")
    with pytest.raises(InvalidAmountError):
        Transaction(amount=Money("-5", "EUR"), direction=Direction.CREDIT)


def test_canonical_json_is_cached_but_never_stale() -> None:
    original = request()
    assert original.canonical_json() == json.dumps(
        original.canonical(), sort_keys=True, separators=(",", ":")
    )
    assert original.canonical_json() is original.canonical_json()
    changed = attrs.evolve(original, remittance="Invoice 2")
    assert '"remittance":"Invoice 2"' in changed.canonical_json()
    assert changed == attrs.evolve(changed)
    assert "canonical_json" not in repr(original)
