import json
from decimal import Decimal

import attrs
import pytest

from walletlink.accounts import Bic, Iban, LocalAccount
from walletlink.errors import (
    InvalidAccountError,
    InvalidAmountError,
    InvalidTextError,
    InvalidTransitionError,
    ValidationError,
)
from walletlink.models import (
    Direction,
    NextAction,
    Party,
    Transaction,
    Transfer,
    TransferRequest,
    TransferStatus,
)
from walletlink.money import Money

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


# -- typed errors at the door -------------------------------------------------------------


def test_a_str_debtor_account_is_refused_without_showing_it() -> None:
    with pytest.raises(InvalidAccountError, match=r"debtor_account.*Iban") as info:
        request(debtor_account="DE89370400440532013000")
    assert "0532013000" not in str(info.value)


def test_a_str_creditor_account_is_refused_without_showing_it() -> None:
    with pytest.raises(InvalidAccountError, match=r"account.*Iban") as info:
        Party(name="Bob", account="GB33BUKB20201555555555")  # type: ignore[arg-type]
    assert "20201555555555" not in str(info.value)


def test_a_str_agent_is_refused() -> None:
    with pytest.raises(InvalidAccountError, match="Bic"):
        Party(name="Bob", account=LocalAccount("b"), agent="BUKBGB22")  # type: ignore[arg-type]


@pytest.mark.parametrize("amount", [10.5, "10.00", 10, Decimal("10.00")])
def test_an_amount_that_is_not_money_names_the_field(amount: object) -> None:
    with pytest.raises(InvalidAmountError, match="amount must be a Money"):
        request(amount=amount)


def test_a_creditor_that_is_not_a_party_is_refused() -> None:
    with pytest.raises(ValidationError, match="creditor must be a Party"):
        request(creditor=Iban("GB33BUKB20201555555555"))


@pytest.mark.parametrize("country", ["de", "DEU", "D1", "ＤＥ"])
def test_party_country_is_an_alpha_2_code(country: str) -> None:
    with pytest.raises(ValidationError, match="ISO 3166"):
        Party(name="Bob", account=LocalAccount("b"), country=country)


# -- text policies on every text field ----------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "position"),
    [
        ("remittance", "Invoice\x001", 7),
        ("remittance", "Invoice \ud800", 8),
        ("remittance", "line one\nline two", 8),
        ("remittance", "pay \u202egnp.exe", 4),
        ("end_to_end_id", "e2e\r", 3),
        ("end_to_end_id", " e2e", 0),
        ("idempotency_key", "key 1", 3),
        ("idempotency_key", "kéy", 1),
    ],
)
def test_refused_text_names_the_field_and_position(field: str, value: str, position: int) -> None:
    with pytest.raises(InvalidTextError) as info:
        request(**{field: value})
    assert (field, position) == (info.value.field, info.value.position)
    assert value not in str(info.value)


def test_party_name_is_checked() -> None:
    with pytest.raises(InvalidTextError, match="party name: character 3"):
        Party(name="Bob\x85", account=LocalAccount("b"))
    with pytest.raises(InvalidTextError, match="non-blank"):
        Party(name="   ", account=LocalAccount("b"))


def test_text_is_stored_in_nfc_so_equivalent_spellings_fingerprint_alike() -> None:
    decomposed = request(remittance="Cafe\u0301", creditor=Party("Jose\u0301", LocalAccount("b")))
    composed = request(remittance="Café", creditor=Party("José", LocalAccount("b")))
    assert (decomposed.remittance, decomposed.creditor.name) == ("Café", "José")
    assert composed.fingerprint() == decomposed.fingerprint()


def test_metadata_keys_and_values_are_checked() -> None:
    assert request(metadata={"note": "two\nlines"}).metadata == {"note": "two\nlines"}
    with pytest.raises(InvalidTextError, match="metadata\\['note'\\]: character 1"):
        request(metadata={"note": "a\x00"})
    with pytest.raises(InvalidTextError, match="metadata key"):
        request(metadata={" order": "1"})
    with pytest.raises(InvalidTextError, match="must be a str"):
        request(metadata={"order": 42})
    with pytest.raises(InvalidTextError, match="twice"):
        request(metadata={"café": "1", "cafe\u0301": "2"})
    with pytest.raises(InvalidTextError, match="50 entries"):
        request(metadata={f"k{n}": "v" for n in range(51)})
