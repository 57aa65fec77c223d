"""Hypothesis strategies shared by the format tests: statements the writers can express."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from hypothesis import strategies as st

from walletlink.accounts import Iban
from walletlink.formats import Statement, StatementHeader
from walletlink.models import Balance, BalanceType, BookingStatus, Direction, Transaction
from walletlink.money import Money

ACCOUNT = Iban("DE40100100103307118608")
# Max35Text-safe references, including XML-special characters the writer must escape.
refs = (
    st.text(st.sampled_from("ABCXYZ0123456789-&<>'\" "), min_size=1, max_size=16)
    .map(str.strip)
    .filter(lambda s: s and s.upper() not in {"NOTPROVIDED", "NONREF", "NONE"})
)
# MT940's character set (SWIFT X) minus "/" which delimits its :86: tags.
swift_text = (
    st.text(st.sampled_from("abcXYZ019 .,-()?+'"), min_size=1, max_size=60)
    .map(lambda s: " ".join(s.split()))
    .filter(bool)
)
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2060, 12, 31))
amounts = st.integers(min_value=1, max_value=10**11).map(lambda m: Money.from_minor(m, "EUR"))


@st.composite
def transactions(draw: st.DrawFn, *, for_mt940: bool = False) -> Transaction:
    day = draw(days)
    text = swift_text if for_mt940 else refs
    fields = {
        "amount": draw(amounts),
        "direction": draw(st.sampled_from(Direction)),
        "reversal": draw(st.booleans()),
        "value_date": day,
        "booking_date": day + timedelta(days=draw(st.integers(0, 3))),
        "bank_reference": draw(st.none() | refs.map(lambda s: s.replace(" ", "")).filter(bool)),
        "end_to_end_id": draw(st.none() | text),
        "counterparty_name": draw(st.none() | text),
        "remittance": draw(st.none() | text),
    }
    if for_mt940:
        fields["type_code"] = draw(st.sampled_from(["NTRF", "NMSC", "FCHG", "S103"]))
        fields["customer_reference"] = draw(
            st.none() | st.from_regex(r"[A-Z0-9]{1,16}", fullmatch=True)
        )
    else:
        fields["status"] = draw(st.sampled_from(BookingStatus))
        fields["type_code"] = draw(st.none() | st.sampled_from(["PMNT/ICDT/ESCT", "NTRF"]))
        fields["transaction_id"] = draw(st.none() | refs)
        fields["instruction_id"] = draw(st.none() | refs)
        fields["counterparty_account"] = draw(st.none() | st.just("DE02100100109307118603"))
        fields["charges"] = draw(st.none() | amounts)
        fields["original_amount"] = draw(
            st.none() | st.integers(1, 10**6).map(lambda m: Money.from_minor(m, "USD"))
        )
    if fields["end_to_end_id"] is not None and fields["counterparty_name"] is None:
        fields["counterparty_name"] = "Somebody"
    return Transaction(**fields)  # type: ignore[arg-type]


@st.composite
def statements(draw: st.DrawFn, *, for_mt940: bool = False) -> Statement:
    entries = tuple(draw(st.lists(transactions(for_mt940=for_mt940), max_size=6)))
    opening = Money.from_minor(draw(st.integers(-(10**9), 10**9)), "EUR")
    net = sum(
        (e.signed_amount.amount for e in entries if e.status is BookingStatus.BOOKED), Decimal(0)
    )
    day = draw(days)
    header = StatementHeader(
        format="mt940" if for_mt940 else "camt.053",
        statement_id=draw(st.from_regex(r"[A-Z0-9]{1,16}", fullmatch=True)),
        account=ACCOUNT,
        currency="EUR",
        sequence_number=str(draw(st.integers(1, 99999))),
        created_at=None if for_mt940 else datetime(2024, 1, 2, 3, 4, 5),
        message_id=None if for_mt940 else "MSG-1",
        from_date=day,
        to_date=day,
    )
    balances = (
        Balance(account=ACCOUNT, amount=opening, type=BalanceType.OPENING_BOOKED, as_of=day),
        Balance(
            account=ACCOUNT,
            amount=opening + Money(net, "EUR"),
            type=BalanceType.CLOSING_BOOKED,
            as_of=day,
        ),
    )
    return Statement(header=header, balances=balances, entries=entries)
