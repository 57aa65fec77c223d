import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import attrs
import pytest

import walletlink
import walletlink.journal
from walletlink import (
    CallOptions,
    Hooks,
    RequestRecord,
    RetryEvent,
    RetryPolicy,
    Timeout,
    TransferRef,
)
from walletlink._redact import redact_url
from walletlink.accounts import Bic, Iban, LocalAccount, SortCodeAccount
from walletlink.config import BankConfig, Credentials
from walletlink.errors import (
    InvalidAccountError,
    InvalidAmountError,
    InvalidTextError,
    InvalidTransitionError,
    ValidationError,
)
from walletlink.http import PreparedRequest, RawResponse
from walletlink.journal import Checkpoint, JournalRecord, JournalState
from walletlink.models import (
    Balance,
    BalanceType,
    Direction,
    Event,
    NextAction,
    Party,
    Reason,
    ReasonCode,
    Transaction,
    TransactionDetail,
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
    with pytest.raises(ValidationError, match="payout_id"):
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


# -- reprs mask account numbers ---------------------------------------------------------------

IBAN = "GB33BUKB20201555555555"
UK_NUMBER = "31926819"  # 8 digits: no pattern tells it from any other number
CN_CARD = "6222021234567890123"
WALLET_ID = "wlt_48213957"
FULL_NUMBERS = (IBAN, UK_NUMBER, CN_CARD, WALLET_ID)
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _transfer_request() -> TransferRequest:
    return TransferRequest(
        amount=Money("10.00", "EUR"),
        debtor_account=SortCodeAccount("401276", UK_NUMBER),
        creditor=Party(name="Li Lei", account=LocalAccount(CN_CARD), agent=Bic("BUKBGB22")),
        remittance=f"refund to {IBAN}",
        metadata={"wallet": WALLET_ID},
    )


def _transfer() -> Transfer:
    return Transfer(
        id="wl_1",
        bank_id="acme",
        bank_transfer_id="bt-1",
        end_to_end_id="e2e-1",
        idempotency_key="key-1",
        amount=Money("10.00", "EUR"),
        status=TransferStatus.REJECTED,
        reason=Reason(ReasonCode.ACCOUNT_CLOSED, "AC04", f"account {IBAN} is closed"),
        next_action=NextAction(
            kind="redirect", url="https://bank.example/sca", data={"iban": IBAN}
        ),
    )


def _transaction() -> Transaction:
    detail = TransactionDetail(
        amount=Money("1.00", "EUR"), counterparty_account=CN_CARD, remittance=f"to {IBAN}"
    )
    return Transaction(
        amount=Money("1.00", "EUR"),
        direction=Direction.DEBIT,
        account=LocalAccount(WALLET_ID),
        counterparty_account=UK_NUMBER,
        remittance=f"from {IBAN}",
        details=(detail,),
    )


def _journal_record() -> JournalRecord:
    request = _transfer_request()
    return JournalRecord(
        idempotency_key=request.idempotency_key,
        request_hash=request.fingerprint(),
        bank_id="acme",
        transfer_id="wl_1",
        request=request.canonical(),
        state=JournalState.DONE,
        status=TransferStatus.REJECTED,
        transfer=_transfer(),
        attempts=1,
        created_at=T0,
        updated_at=T0,
    )


def _prepared() -> PreparedRequest:
    return PreparedRequest(
        method="GET", path=f"/v1/accounts/{UK_NUMBER}/balances", sensitive=(UK_NUMBER,)
    )


#: One instance per attrs class of the public surface, holding real-looking numbers.
MODEL_FACTORIES: dict[str, Callable[[], object]] = {
    "Balance": lambda: Balance(
        account=LocalAccount(UK_NUMBER), amount=Money("1.00", "EUR"), type=BalanceType.EXPECTED
    ),
    "BankConfig": lambda: BankConfig(
        bank_id="acme",
        protocol="generic_rest",
        base_url="https://bank.example",
        credentials={"api_key": WALLET_ID},
    ),
    "Bic": lambda: Bic("BUKBGB22"),
    "CallOptions": lambda: CallOptions(timeout=(2, 10), idempotency_key="pay-1"),
    # Partitions are named by bank, or by a hash of the account: never the number itself.
    "Checkpoint": lambda: Checkpoint(
        body='{"heads": {"acme": [1, "00"]}}', signature="c2ln", kid="k1"
    ),
    "Credentials": lambda: Credentials({"account": UK_NUMBER}),
    "Event": lambda: Event(
        id="ev-1", bank_id="acme", type="transfer.settled", data={"account": UK_NUMBER}
    ),
    "Hooks": Hooks,
    "Iban": lambda: Iban(IBAN),
    "JournalRecord": _journal_record,
    "LocalAccount": lambda: LocalAccount(CN_CARD, scheme="card"),
    "Money": lambda: Money("1.00", "EUR"),
    "NextAction": lambda: NextAction(kind="redirect", data={"iban": IBAN}),
    "Party": lambda: Party(name="Bob", account=Iban(IBAN)),
    "PreparedRequest": _prepared,
    "RawResponse": lambda: RawResponse(
        status=200,
        headers={},
        body=UK_NUMBER.encode(),
        url=f"https://bank.example/v1/accounts/{UK_NUMBER}/balances",
        request=_prepared(),
    ),
    # A record holds the path as the client masks it (see walletlink._observe).
    "RequestRecord": lambda: RequestRecord(
        kind="call",
        call_id=1,
        bank_id="acme",
        operation=redact_url(_prepared().path, _prepared().sensitive),
        method="GET",
        transfer_id=None,
        attempt=1,
        status=200,
        elapsed=0.1,
        outcome="ok",
        start_ns=0,
        end_ns=1,
    ),
    "Reason": lambda: Reason(ReasonCode.ACCOUNT_CLOSED, "AC04", f"account {IBAN} closed"),
    "RetryEvent": lambda: RetryEvent(attempt=1, delay=0.5, reason="status_503", status=503),
    "RetryPolicy": RetryPolicy,
    "SortCodeAccount": lambda: SortCodeAccount("401276", UK_NUMBER),
    "Timeout": lambda: Timeout(connect=1, read=2, total=3),
    "Transaction": _transaction,
    "TransactionDetail": lambda: TransactionDetail(counterparty_account=UK_NUMBER),
    "Transfer": _transfer,
    "TransferRef": lambda: TransferRef(transfer_id="wl_1", bank_transfer_id="bt-1"),
    "TransferRequest": _transfer_request,
}


def _public_attrs_classes() -> dict[str, type]:
    found: dict[str, type] = {}
    for module in (walletlink, walletlink.journal):
        for name in module.__all__:
            value = getattr(module, name)
            if isinstance(value, type) and attrs.has(value):
                found[name] = value
    return found


def test_every_public_model_has_a_repr_check() -> None:
    """A model added to the public surface must be added to MODEL_FACTORIES below."""
    assert sorted(_public_attrs_classes()) == sorted(MODEL_FACTORIES)


@pytest.mark.parametrize("name", sorted(MODEL_FACTORIES))
def test_model_reprs_show_no_full_account_number(name: str) -> None:
    model = MODEL_FACTORIES[name]()
    assert type(model) is _public_attrs_classes()[name]
    for shown in (repr(model), str(model)):
        assert [n for n in FULL_NUMBERS if n in shown] == []


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
