"""A labelled reconciliation day: wallet ledger rows and the bank's camt.053 / MT940 files.

Every record is labelled with the category a correct engine must put it in, and the bank
side is written with the real writers (camt.053.001.08, MT940) and read back through the
real readers (:func:`walletlink.reconcile.sources.load_file`), so reader losses (references,
reversal flags, batch markers) count against the engine as they would in production.

Seeded; the mix at 200k (wallet rows): 74 % exact-reference pairs; 19 % reference-less pairs,
about 30 % of them in dense clusters (one counterparty, two days, 3-6 distinct amounts within
0.5 %, so inside the fuzzy tolerance); 2.4 % missing at the bank; 1.2 % returned payouts
(bank debit + storno, half without references; wallet status failed or returned); 2.3 % in
known batches of 5-30 (camt: Btch/PmtInfId, every other one with TxDtls; MT940: the batch id
in ``:61:`` and ``:86:``); 1.6 % card collections of one acquirer per account, paid out
every 2-3 days with a fixed fee of 0-3.00 netted out and no reference; 0.5 % of exact
bookings booked twice by the bank (its duplicates); and bank rows worth 2 % of ``n`` that the
wallet never saw. ``camt+mt940`` delivers the same day twice.

    from groundtruth import generate, score  # benchmarks/ on sys.path, as pytest puts it
    day = generate(2_000, "camt", tmp_dir)
    figures = score(reconcile(day.wallet, day.bank, day.config, as_of=day.as_of), day)
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Literal

import attrs

from walletlink.accounts import Iban
from walletlink.formats import Statement, StatementHeader, write_camt053, write_mt940
from walletlink.models import Balance, BalanceType, Direction, Transaction, TransactionDetail
from walletlink.money import Money
from walletlink.reconcile import ReconcileConfig, ReconciliationResult, Record, RecordStatus
from walletlink.reconcile.sources import load_file

__all__ = ["CATEGORIES", "LabelledDay", "generate", "score"]

BankFormat = Literal["camt", "mt940", "camt+mt940"]
START: Final = date(2026, 3, 2)
DAYS: Final = 28
ROWS_PER_ACCOUNT: Final = 5_000
#: What :func:`score` measures, each as precision and recall.
CATEGORIES: Final = (
    "exact 1:1",
    "fuzzy 1:1",
    "known batch",
    "unlabelled batch",
    "reversed",
    "duplicate",
    "reimported",
    "missing in bank",
    "missing in wallet",
)
_FEE_RANGE: Final = (0, 300)


@attrs.define
class LabelledDay:
    wallet: list[Record]
    bank: list[Record]
    config: ReconcileConfig
    as_of: date
    truth: dict[str, set[Any]]
    files: list[Path]


def _iban(number: int) -> Iban:
    bban = f"{number:018d}"
    check = 98 - int(bban + "131400") % 97
    return Iban(f"DE{check:02d}{bban}")


class _Builder:
    def __init__(self, n: int, seed: int) -> None:
        self.n = n
        self.rnd = random.Random(seed)
        self.accounts = [_iban(10_000 + a) for a in range(max(1, n // ROWS_PER_ACCOUNT))]
        self.wallet: list[Record] = []
        self.entries: dict[str, list[tuple[int, Transaction]]] = {
            a.value: [] for a in self.accounts
        }
        self.truth: dict[str, set[Any]] = {name: set() for name in CATEGORIES}
        self.seq = 0
        self.batches = 0

    # --- building blocks -------------------------------------------------------------
    def _day(self, offset: int) -> date:
        return START + timedelta(days=offset)

    def _wallet(self, account: str, amount: int, day: int, **fields: Any) -> Record:
        row = Record(
            id=f"w{len(self.wallet):07d}",
            account=account,
            currency="EUR",
            amount_minor=amount,
            value_date=self._day(day),
            **fields,
        )
        self.wallet.append(row)
        return row

    def _bank(self, account: str, amount: int, day: int, **fields: Any) -> int:
        """Append a bank entry; returns its sequence number (ids derive from it per format)."""
        self.seq += 1
        entry = Transaction(
            amount=Money.from_minor(abs(amount), "EUR"),
            direction=Direction.CREDIT if amount >= 0 else Direction.DEBIT,
            transaction_id=f"N{self.seq:09d}",
            bank_reference=f"R{self.seq:09d}",
            booking_date=self._day(day),
            value_date=self._day(day),
            type_code="NTRF",
            **fields,
        )
        self.entries[account].append((self.seq, entry))
        return self.seq

    def _amount(self) -> int:
        return self.rnd.randint(100, 500_000) * (1 if self.rnd.random() < 0.7 else -1)

    # --- the kinds of rows -----------------------------------------------------------
    def build(self) -> None:
        rnd = self.rnd
        while len(self.wallet) < self.n:
            account = rnd.choice(self.accounts).value
            kind = rnd.random()
            if kind < 0.60:
                self._exact(account)
            elif kind < 0.71:
                self._fuzzy(account, f"Customer {rnd.randrange(20_000)}", self._amount())
            elif kind < 0.72:
                self._dense(account)
            elif kind < 0.74:
                w = self._wallet(account, self._amount(), rnd.randrange(DAYS - 3), counterparty="X")
                self.truth["missing in bank"].add(w.id)
            elif kind < 0.75:
                self._returned(account)
            elif kind < 0.751:
                self._known_batch(account)
        for account in self.accounts:
            self._acquirer(account.value)
        for j in range(self.n // 50):
            account = rnd.choice(self.accounts).value
            seq = self._bank(
                account, self._amount(), rnd.randrange(DAYS), counterparty_name=f"Stranger {j}"
            )
            self.truth["missing in wallet"].add(seq)

    def _exact(self, account: str) -> None:
        rnd = self.rnd
        day = rnd.randrange(DAYS)
        amount = self._amount()
        party = f"Customer {rnd.randrange(20_000)}"
        w = self._wallet(
            account, amount, day, end_to_end_id=f"E{len(self.wallet):07d}", counterparty=party
        )
        fields = {"end_to_end_id": w.end_to_end_id, "counterparty_name": party}
        seq = self._bank(account, amount, day + rnd.randint(0, 2), **fields)
        self.truth["exact 1:1"].add((w.id, seq))
        if rnd.random() < 0.005:
            dup = self._bank(account, amount, day + rnd.randint(0, 2), **fields)
            self.truth["duplicate"].add(dup)

    def _fuzzy(self, account: str, party: str, amount: int, day: int | None = None) -> None:
        day = self.rnd.randrange(DAYS) if day is None else day
        w = self._wallet(account, amount, day, counterparty=party)
        seq = self._bank(account, amount, day + self.rnd.randint(0, 2), counterparty_name=party)
        self.truth["fuzzy 1:1"].add((w.id, seq))

    def _dense(self, account: str) -> None:
        """One counterparty, amounts within 0.5 % of each other (inside the fuzzy tolerance),
        dates a day apart and a 0-2 day bank lag: neighbours a per-row margin cannot split."""
        rnd = self.rnd
        party, day = f"Merchant {rnd.randrange(2_000)}", rnd.randrange(DAYS - 1)
        base = rnd.randint(10_000, 200_000)
        size = rnd.randint(3, 6)
        for amount in rnd.sample(range(base, base + base // 200 + 1), size):
            self._fuzzy(account, party, amount, day + rnd.randint(0, 1))

    def _returned(self, account: str) -> None:
        rnd = self.rnd
        day, amount = rnd.randrange(DAYS - 4), -rnd.randint(1_000, 300_000)
        party = f"Payee {rnd.randrange(20_000)}"
        e2e = f"E{len(self.wallet):07d}" if rnd.random() < 0.5 else ""
        status = RecordStatus.RETURNED if rnd.random() < 0.5 else RecordStatus.FAILED
        w = self._wallet(account, amount, day, end_to_end_id=e2e, counterparty=party, status=status)
        fields = {"end_to_end_id": e2e or None, "counterparty_name": party}
        original = self._bank(account, amount, day + rnd.randint(0, 1), **fields)
        storno = self._bank(account, -amount, day + rnd.randint(2, 4), reversal=True, **fields)
        self.truth["reversed"].add((original, storno, w.id))

    def _known_batch(self, account: str) -> None:
        rnd = self.rnd
        self.batches += 1
        batch_id, day = f"P{self.batches:07d}", rnd.randrange(3, DAYS)
        members = [
            self._wallet(
                account,
                rnd.randint(500, 50_000),
                day - rnd.randint(1, 3),
                end_to_end_id=f"E{len(self.wallet):07d}",
                batch_id=batch_id,
                counterparty=f"Customer {rnd.randrange(20_000)}",
            )
            for _ in range(rnd.randint(5, 30))
        ]
        fee = rnd.randint(*_FEE_RANGE)
        details: tuple[TransactionDetail, ...] = ()
        if self.batches % 2:
            details = tuple(
                TransactionDetail(
                    amount=Money.from_minor(m.amount_minor, "EUR"), end_to_end_id=m.end_to_end_id
                )
                for m in members
            )
        seq = self._bank(
            account,
            sum(m.amount_minor for m in members) - fee,
            day,
            batch_id=batch_id,
            details=details,
            customer_reference=batch_id,
            remittance=f"PAYOUT {batch_id}",
        )
        self.truth["known batch"].add((seq, frozenset(m.id for m in members)))

    def _acquirer(self, account: str) -> None:
        """Card collections paid out every 2-3 days, all since the last payout, fee netted."""
        rnd = self.rnd
        party = f"Acquirer {account[-6:]}"
        per_day = max(1, self.n // len(self.accounts) // 30 // DAYS)
        last = 0
        payout = rnd.randint(2, 3)
        while payout < DAYS:
            members = [
                self._wallet(account, rnd.randint(500, 20_000), d, counterparty=party)
                for d in range(last, payout)
                for _ in range(rnd.randint(1, per_day))
            ]
            fee = rnd.randint(*_FEE_RANGE)
            seq = self._bank(
                account, sum(m.amount_minor for m in members) - fee, payout, counterparty_name=party
            )
            self.truth["unlabelled batch"].add((seq, frozenset(m.id for m in members)))
            last, payout = payout, payout + rnd.randint(2, 3)


def _statements(builder: _Builder) -> list[Statement]:
    statements = []
    for number, account in enumerate(builder.accounts):
        entries = tuple(entry for _, entry in builder.entries[account.value])
        opening = Money("1000000.00", "EUR")
        net = sum((e.signed_amount for e in entries), Money.zero("EUR"))
        statements.append(
            Statement(
                header=StatementHeader(
                    format="camt.053",
                    statement_id=f"GT-{number}",
                    account=account,
                    currency="EUR",
                    sequence_number="1",
                ),
                balances=(
                    Balance(
                        account=account,
                        amount=opening,
                        type=BalanceType.OPENING_BOOKED,
                        as_of=START,
                    ),
                    Balance(
                        account=account,
                        amount=opening + net,
                        type=BalanceType.CLOSING_BOOKED,
                        as_of=START + timedelta(days=DAYS + 5),
                    ),
                ),
                entries=entries,
            )
        )
    return statements


def _write(statements: list[Statement], fmt: str, directory: Path) -> Path:
    if fmt == "camt":
        path = directory / "day.camt053.xml"
        with open(path, "wb") as out:
            write_camt053(
                statements, message_id="GT", created_at=datetime(2026, 4, 5, tzinfo=UTC), out=out
            )
    else:
        path = directory / "day.mt940"
        path.write_text(write_mt940(statements), encoding="utf-8", newline="")
    return path


def _bank_id(seq: int, fmt: str) -> str:
    return f"N{seq:09d}" if fmt == "camt" else f"R{seq:09d}"


def generate(n: int, fmt: BankFormat, directory: Path, seed: int = 10) -> LabelledDay:
    """About ``n`` labelled wallet rows and their bank day, written to and read from files."""
    builder = _Builder(n, seed)
    builder.build()
    statements = _statements(builder)
    formats = ["camt", "mt940"] if fmt == "camt+mt940" else [fmt]
    files = [_write(statements, f, directory) for f in formats]
    bank: list[Record] = []
    for path in files:
        bank.extend(load_file(path).records)
    first = formats[0]
    truth = _truth_ids(builder.truth, first)
    if fmt == "camt+mt940":
        truth["reimported"] = {
            _bank_id(seq, "mt940") for e in builder.entries.values() for seq, _ in e
        }
    config = ReconcileConfig(
        anomalies=False, batch_fee_min_minor=_FEE_RANGE[0], batch_fee_max_abs_minor=_FEE_RANGE[1]
    )
    as_of = START + timedelta(days=DAYS + 5)
    return LabelledDay(builder.wallet, bank, config, as_of, truth, files)


def _truth_ids(truth: dict[str, set[Any]], fmt: str) -> dict[str, set[Any]]:
    out: dict[str, set[Any]] = {name: set() for name in CATEGORIES}
    for w, seq in truth["exact 1:1"] | set():
        out["exact 1:1"].add((w, _bank_id(seq, fmt)))
    for w, seq in truth["fuzzy 1:1"]:
        out["fuzzy 1:1"].add((w, _bank_id(seq, fmt)))
    for name in ("known batch", "unlabelled batch"):
        out[name] = {(_bank_id(seq, fmt), members) for seq, members in truth[name]}
    out["reversed"] = {(_bank_id(o, fmt), _bank_id(r, fmt), w) for o, r, w in truth["reversed"]}
    for name in ("duplicate", "missing in wallet"):
        out[name] = {_bank_id(seq, fmt) for seq in truth[name]}
    out["missing in bank"] = set(truth["missing in bank"])
    return out


def found(result: ReconciliationResult) -> dict[str, set[Any]]:
    """What the engine said, in the shape of the truth."""
    unmatched: dict[str, set[str]] = {"missing_in_bank": set(), "missing_in_wallet": set()}
    for row in result.unmatched:
        unmatched.setdefault(row.category, set()).add(row.record_id)
    return {
        "exact 1:1": {(m.wallet_id, m.bank_id) for m in result.matched if m.pass_no == 1},
        "fuzzy 1:1": {(m.wallet_id, m.bank_id) for m in result.matched if m.pass_no == 3},
        "known batch": {
            (b.bank_id, frozenset(b.wallet_ids)) for b in result.batches if b.pass_no == 2
        },
        "unlabelled batch": {
            (b.bank_id, frozenset(b.wallet_ids)) for b in result.batches if b.pass_no == 4
        },
        "reversed": {(r.bank_id, r.reversal_id, r.wallet_id) for r in result.reversals},
        "duplicate": {d.record_id for d in result.duplicates if d.side == "bank"},
        "reimported": {r.record_id for r in result.reimported if r.side == "bank"},
        "missing in bank": unmatched["missing_in_bank"],
        "missing in wallet": unmatched["missing_in_wallet"],
    }


def score(result: ReconciliationResult, day: LabelledDay) -> dict[str, tuple[float, float]]:
    """Per category ``(precision, recall)``; 1.0 where there is nothing to find or claim."""
    claimed = found(result)
    out = {}
    for name in CATEGORIES:
        truth, said = day.truth.get(name, set()), claimed[name]
        hits = len(truth & said)
        out[name] = (hits / len(said) if said else 1.0, hits / len(truth) if truth else 1.0)
    return out


def format_table(rows: Iterable[tuple[str, dict[str, tuple[float, float]]]]) -> str:
    """A Markdown table: one column per run, ``precision / recall`` per category."""
    rows = list(rows)
    lines = ["| category | " + " | ".join(name for name, _ in rows) + " |"]
    lines.append("|---" * (len(rows) + 1) + "|")
    for category in CATEGORIES:
        cells = [f"{p:.3f} / {r:.3f}" for _, figures in rows for p, r in [figures[category]]]
        lines.append(f"| {category} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
