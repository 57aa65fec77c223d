"""An adversarial labelled bank day, run through ``walletlink reconcile`` as a user runs it.

Written apart from the engine and from :mod:`groundtruth`, to what real bank days do to a
reconciliation rather than to what the engine expects:

* the bank books 0-3 *business* days after the wallet's date, so a Friday payment lands on
  Monday to Wednesday (up to 5 calendar days);
* names are spelled differently: the bank upper-cases, drops or changes the legal suffix
  ("Ltd", "GmbH", "Limited"), transliterates ("é" → "e", "ü" → "ue" in MT940, which has no
  such letters) and cuts the ``:86:`` name at 35 characters; remittance is cut at 35 too;
* exact references: camt carries ``EndToEndId``; MT940 banks either write ``/EREF/`` or only
  the ``:61:`` customer reference (half each);
* dense neighbours: one customer paying the same amount on consecutive days (a subscription
  top-up), booked first-in first-out;
* known batches: camt ``Btch/PmtInfId`` with ``NbOfTxs`` (half itemised with ``TxDtls``), the
  batch id in MT940's ``:61:`` reference and ``:86:``;
* acquirer payouts on business days, everything collected since the last one, a fixed fee per
  entry netted out, no reference;
* returned payouts (wallet status ``returned``) with the bank's debit and its storno, half
  without any reference;
* duplicates the bank really sent twice (same content, a new ``AcctSvcrRef``) and, in the
  ``camt+mt940`` delivery, the same bookings reimported through both formats;
* rows missing on either side.

The ledger is a CSV in the standard columns (``walletlink.reconcile.inputs.STANDARD_MAPPING``)
and the rules are ``benchmarks/realday_rules.toml``. The run is ``walletlink.cli.main``
(``walletlink reconcile --ledger ... --statement ... --rules ... --out report.json``), and the
score is read from the JSON report. Identical bank rows (same account, amount, date, name:
two Saturday payments of one customer both booked on Monday) are interchangeable, so a pair
is scored as (wallet id, the bank row's content).
"""

from __future__ import annotations

import csv
import json
import random
import unicodedata
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Literal

import attrs

from walletlink.accounts import Iban
from walletlink.cli import main as walletlink_main
from walletlink.formats import Statement, StatementHeader, write_camt053, write_mt940
from walletlink.models import Balance, BalanceType, Direction, Transaction, TransactionDetail
from walletlink.money import Money

__all__ = ["CATEGORIES", "RealDay", "format_table", "generate", "run_cli", "score"]

Delivery = Literal["camt", "mt940", "camt+mt940"]
START: Final = date(2026, 3, 2)  # a Monday
DAYS: Final = 28
ROWS_PER_ACCOUNT: Final = 5_000
RULES: Final = Path(__file__).with_name("realday_rules.toml")
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
_SUFFIXES: Final = ("GmbH", "Ltd", "Limited", "SARL", "AG", "BV")
_FIRST: Final = ("Jérôme", "Zoë", "Müller", "Łukasz", "Renée", "Søren", "Anaïs", "José", "Ana")
_WORDS: Final = ("Trading", "Consulting", "Logistics", "Boulangerie", "Software", "Handel")
_FEE: Final = 150  # the acquirer's fixed fee per payout entry


@attrs.define
class _Entry:
    """One bank booking before it is written; ``seq`` names it in every format."""

    seq: int
    tx: Transaction
    #: MT940 banks of this entry write only the ``:61:`` customer reference, no ``/EREF/``.
    reference_only_in_61: bool = False


@attrs.define
class RealDay:
    directory: Path
    ledger: Path
    statements: dict[str, Path]
    as_of: date
    #: category → labelled items, in the shape :func:`found` gives them.
    truth: dict[str, set[Any]]
    bank_class: dict[str, tuple[Any, ...]]
    wallet_rows: int
    bank_rows: int


def _iban(number: int) -> Iban:
    bban = f"{number:018d}"
    check = 98 - int(bban + "131400") % 97
    return Iban(f"DE{check:02d}{bban}")


def business_days_after(day: date, lag: int) -> date:
    """``day`` moved to a business day, then ``lag`` business days on (weekends skipped)."""
    while day.weekday() >= 5:
        day += timedelta(days=1)
    for _ in range(lag):
        day += timedelta(days=1)
        while day.weekday() >= 5:
            day += timedelta(days=1)
    return day


def bank_spelling(name: str) -> str:
    """How the bank writes a wallet's counterparty name (camt keeps accents).

    A bank spells one payer the same way every time (it copies the payment's name field),
    so the spelling is drawn from the name itself, not per booking.
    """
    rnd = random.Random(name)
    words = name.split()
    choice = rnd.random()
    if words[-1] in _SUFFIXES and choice < 0.3:
        words = words[:-1]
    elif words[-1] in _SUFFIXES and choice < 0.5:
        words[-1] = rnd.choice(_SUFFIXES)
    text = " ".join(words)
    return text.upper() if rnd.random() < 0.5 else text


def swift_text(text: str, limit: int = 35) -> str:
    """MT940 has no accents: ``ü`` → ``ue``, ``é`` → ``e``, and the field is cut at ``limit``."""
    text = text.replace("ü", "ue").replace("Ü", "UE").replace("ø", "o").replace("Ø", "O")
    text = text.replace("ł", "l").replace("Ł", "L")
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return plain[:limit].rstrip()


class _Builder:
    def __init__(self, n: int, seed: int) -> None:
        self.n = n
        self.rnd = random.Random(seed)
        self.accounts = [_iban(20_000 + a).value for a in range(max(1, n // ROWS_PER_ACCOUNT))]
        self.wallet: list[dict[str, str]] = []
        self.entries: dict[str, list[_Entry]] = {a: [] for a in self.accounts}
        self.truth: dict[str, set[Any]] = {name: set() for name in CATEGORIES}
        self.seq = 0
        self.batches = 0

    def _name(self) -> str:
        rnd = self.rnd
        words = [rnd.choice(_FIRST), rnd.choice(_WORDS), f"{rnd.randrange(10_000):04d}"]
        if rnd.random() < 0.3:  # long names, cut by MT940's 35 characters
            words.insert(2, "International Services Holding")
        if rnd.random() < 0.6:
            words.append(rnd.choice(_SUFFIXES))
        return " ".join(words)

    def _wallet(self, account: str, amount: int, day: date, **fields: str) -> str:
        row_id = f"w{len(self.wallet):07d}"
        row = {"id": row_id, "account": account, "currency": "EUR", "amount": _euros(amount)}
        row |= {"value_date": day.isoformat(), "status": "booked", **fields}
        self.wallet.append(row)
        return row_id

    def _bank(self, account: str, amount: int, day: date, **fields: Any) -> int:
        self.seq += 1
        only_61 = bool(fields.pop("only_61", False))
        tx = Transaction(
            amount=Money.from_minor(abs(amount), "EUR"),
            direction=Direction.CREDIT if amount >= 0 else Direction.DEBIT,
            transaction_id=f"N{self.seq:09d}",
            bank_reference=f"R{self.seq:09d}",
            booking_date=day,
            value_date=day,
            type_code="NTRF",
            **fields,
        )
        self.entries[account].append(_Entry(self.seq, tx, only_61))
        return self.seq

    def _amount(self) -> int:
        return self.rnd.randint(100, 500_000) * (1 if self.rnd.random() < 0.7 else -1)

    def _day(self, last: int = DAYS - 6) -> date:
        return START + timedelta(days=self.rnd.randrange(last))

    def _lagged(self, day: date) -> date:
        return business_days_after(day, self.rnd.choice((0, 0, 1, 1, 2, 3)))

    def build(self) -> None:
        rnd = self.rnd
        while len(self.wallet) < self.n:
            account = rnd.choice(self.accounts)
            kind = rnd.random()
            if kind < 0.55:
                self._exact(account)
            elif kind < 0.70:
                self._fuzzy(account, self._name(), self._amount(), self._day())
            elif kind < 0.72:
                self._neighbours(account)
            elif kind < 0.74:
                w = self._wallet(account, self._amount(), self._day(), counterparty=self._name())
                self.truth["missing in bank"].add(w)
            elif kind < 0.75:
                self._returned(account)
            elif kind < 0.752:
                self._known_batch(account)
        for account in self.accounts:
            self._acquirer(account)
        for j in range(self.n // 50):
            account = rnd.choice(self.accounts)
            seq = self._bank(
                account, self._amount(), self._day(), counterparty_name=f"Stranger {j} Ltd"
            )
            self.truth["missing in wallet"].add(seq)

    def _exact(self, account: str) -> None:
        rnd = self.rnd
        day, amount, party = self._day(), self._amount(), self._name()
        e2e = f"E2E-{len(self.wallet):08d}"
        w = self._wallet(account, amount, day, end_to_end_id=e2e, counterparty=party)
        fields = {
            "end_to_end_id": e2e,
            "customer_reference": e2e,
            "counterparty_name": bank_spelling(party),
            "remittance": f"Invoice {e2e} for services rendered in March 2026",
        }
        only_61 = rnd.random() < 0.5
        seq = self._bank(account, amount, self._lagged(day), only_61=only_61, **fields)
        self.truth["exact 1:1"].add((w, seq))
        if rnd.random() < 0.005:  # the bank sent it twice: same content, a new AcctSvcrRef
            self.truth["duplicate"].add(
                self._bank(account, amount, self._lagged(day), only_61=only_61, **fields)
            )

    def _fuzzy(self, account: str, party: str, amount: int, day: date, lag: int = -1) -> None:
        w = self._wallet(account, amount, day, counterparty=party)
        booked = self._lagged(day) if lag < 0 else business_days_after(day, lag)
        spelled = bank_spelling(party)
        seq = self._bank(account, amount, booked, counterparty_name=spelled)
        self.truth["fuzzy 1:1"].add((w, seq))
        if self.rnd.random() < 0.003:
            dup = self._bank(account, amount, booked, counterparty_name=spelled)
            self.truth["duplicate"].add(dup)

    def _neighbours(self, account: str) -> None:
        """One customer, one amount, consecutive days, booked in order with one lag."""
        rnd = self.rnd
        party, amount, first = self._name(), rnd.randint(1_000, 20_000), self._day()
        lag = rnd.choice((0, 1, 2))
        for offset in range(rnd.randint(2, 5)):
            self._fuzzy(account, party, amount, first + timedelta(days=offset), lag)

    def _returned(self, account: str) -> None:
        rnd = self.rnd
        day, amount, party = self._day(DAYS - 10), -rnd.randint(1_000, 300_000), self._name()
        e2e = f"E2E-{len(self.wallet):08d}" if rnd.random() < 0.5 else ""
        w = self._wallet(
            account, amount, day, end_to_end_id=e2e, counterparty=party, status="returned"
        )
        fields = {
            "end_to_end_id": e2e or None,
            "customer_reference": e2e or None,
            "counterparty_name": bank_spelling(party),
        }
        booked = self._lagged(day)
        original = self._bank(account, amount, booked, **fields)
        storno_day = business_days_after(booked, rnd.randint(1, 4))
        storno = self._bank(account, -amount, storno_day, reversal=True, **fields)
        self.truth["reversed"].add((original, storno, w))

    def _known_batch(self, account: str) -> None:
        rnd = self.rnd
        self.batches += 1
        batch_id, day = f"PO{self.batches:07d}", self._day()
        rows = []
        for _ in range(rnd.randint(5, 30)):
            amount = -rnd.randint(500, 50_000)
            e2e = f"E2E-{len(self.wallet):08d}"
            party = self._name()
            w = self._wallet(
                account, amount, day, end_to_end_id=e2e, batch_id=batch_id, counterparty=party
            )
            rows.append((w, amount, e2e, party))
        details: tuple[TransactionDetail, ...] = ()
        if self.batches % 2:
            details = tuple(
                TransactionDetail(
                    amount=Money.from_minor(-a, "EUR"),
                    end_to_end_id=e,
                    payment_information_id=batch_id,
                    counterparty_name=p,
                )
                for _, a, e, p in rows
            )
        seq = self._bank(
            account,
            sum(a for _, a, _, _ in rows),
            self._lagged(day),
            batch_id=batch_id,
            batch_count=len(rows),
            details=details,
            customer_reference=batch_id,
            remittance=f"SAMMLER {batch_id} {len(rows)} POSTEN",
        )
        self.truth["known batch"].add((seq, frozenset(w for w, *_ in rows)))

    def _acquirer(self, account: str) -> None:
        """Card collections paid out on business days, all since the last payout, fee netted."""
        rnd = self.rnd
        party = f"Card Acquirer {account[-4:]} Ltd"
        per_day = max(1, self.n // len(self.accounts) // 30 // DAYS)
        last, payout = START, business_days_after(START + timedelta(days=2), 0)
        while payout < START + timedelta(days=DAYS):
            members: list[tuple[str, int]] = []
            day = last
            while day < payout:
                for _ in range(rnd.randint(1, per_day)):
                    collected = rnd.randint(500, 20_000)
                    row = self._wallet(account, collected, day, counterparty=party)
                    members.append((row, collected))
                day += timedelta(days=1)
            seq = self._bank(
                account,
                sum(c for _, c in members) - _FEE,
                payout,
                counterparty_name=party.upper(),
                remittance="SETTLEMENT CARD TRANSACTIONS",
            )
            self.truth["unlabelled batch"].add((seq, frozenset(w for w, _ in members)))
            last, payout = payout, business_days_after(payout, rnd.randint(1, 2))


def _euros(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(minor), 100)
    return f"{sign}{whole}.{cents:02d}"


def _as_mt940(entry: _Entry) -> Transaction:
    tx = entry.tx
    changes: dict[str, Any] = {
        "counterparty_name": swift_text(tx.counterparty_name) if tx.counterparty_name else None,
        "remittance": swift_text(tx.remittance) if tx.remittance else None,
    }
    if entry.reference_only_in_61 or tx.end_to_end_id is None:
        changes["end_to_end_id"] = None
    return attrs.evolve(tx, **changes)


def _as_camt(entry: _Entry) -> Transaction:
    tx = entry.tx
    if tx.remittance:
        return attrs.evolve(tx, remittance=tx.remittance[:140])
    return tx


def _statements(builder: _Builder, fmt: str) -> list[Statement]:
    convert = _as_camt if fmt == "camt" else _as_mt940
    statements = []
    for number, account_text in enumerate(builder.accounts):
        account = Iban(account_text)
        entries = tuple(convert(e) for e in builder.entries[account_text])
        opening = Money("1000000.00", "EUR")
        net = sum((e.signed_amount for e in entries), Money.zero("EUR"))
        statements.append(
            Statement(
                header=StatementHeader(
                    format="camt.053",
                    statement_id=f"RD-{number}",
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
                        as_of=START + timedelta(days=DAYS + 7),
                    ),
                ),
                entries=entries,
            )
        )
    return statements


def _bank_id(seq: int, fmt: str) -> str:
    """The id the reader gives a booking: camt's NtryRef, MT940's ``:61:`` bank reference."""
    return f"N{seq:09d}" if fmt == "camt" else f"R{seq:09d}"


def generate(n: int, directory: Path, seed: int = 2026) -> _Builder:
    """About ``n`` labelled wallet rows and their bank bookings, not yet written."""
    builder = _Builder(n, seed)
    builder.build()
    ledger = directory / "ledger.csv"
    columns = "id account currency amount value_date status end_to_end_id batch_id counterparty"
    with ledger.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=columns.split(), restval="")
        writer.writeheader()
        writer.writerows(builder.wallet)
    with (directory / "day.camt053.xml").open("wb") as out:
        write_camt053(
            _statements(builder, "camt"),
            message_id="RD",
            created_at=datetime(2026, 4, 8, tzinfo=UTC),
            out=out,
        )
    text = write_mt940(_statements(builder, "mt940"))
    (directory / "day.mt940").write_text(text, encoding="utf-8", newline="")
    return builder


def prepare(builder: _Builder, delivery: Delivery, directory: Path) -> RealDay:
    """The files and the truth for one delivery of the generated day."""
    formats = ["camt", "mt940"] if delivery == "camt+mt940" else [delivery]
    names = {"camt": "day.camt053.xml", "mt940": "day.mt940"}
    first = formats[0]
    truth: dict[str, set[Any]] = {name: set() for name in CATEGORIES}
    bank_class: dict[str, tuple[Any, ...]] = {}
    for account, entries in builder.entries.items():
        for entry in entries:
            tx = entry.tx
            content = (account, tx.signed_amount.minor_units, tx.value_date, tx.reversal)
            bank_class[_bank_id(entry.seq, first)] = content
    for name in ("exact 1:1", "fuzzy 1:1"):
        truth[name] = {(w, bank_class[_bank_id(s, first)]) for w, s in builder.truth[name]}
    for name in ("known batch", "unlabelled batch"):
        truth[name] = {(_bank_id(s, first), m) for s, m in builder.truth[name]}
    truth["reversed"] = {
        (_bank_id(o, first), _bank_id(r, first), w) for o, r, w in builder.truth["reversed"]
    }
    for name in ("duplicate", "missing in wallet"):
        truth[name] = {bank_class[_bank_id(s, first)] for s in builder.truth[name]}
    truth["missing in bank"] = set(builder.truth["missing in bank"])
    if delivery == "camt+mt940":
        truth["reimported"] = {
            _bank_id(e.seq, "mt940") for entries in builder.entries.values() for e in entries
        }
    bank_rows = sum(len(e) for e in builder.entries.values()) * len(formats)
    return RealDay(
        directory=directory,
        ledger=directory / "ledger.csv",
        statements={f: directory / names[f] for f in formats},
        as_of=START + timedelta(days=DAYS + 7),
        truth=truth,
        bank_class=bank_class,
        wallet_rows=len(builder.wallet),
        bank_rows=bank_rows,
    )


def run_cli(day: RealDay, out: Path) -> dict[str, Any]:
    """``walletlink reconcile`` on the day's files; the parsed JSON report."""
    argv = ["reconcile", "--ledger", str(day.ledger), "--rules", str(RULES)]
    for path in day.statements.values():
        argv += ["--statement", str(path)]
    argv += ["--out", str(out), "--as-of", day.as_of.isoformat(), "--progress", "never"]
    status = walletlink_main(argv)
    if status != 0:
        raise RuntimeError(f"walletlink reconcile exited with {status}")
    with out.open(encoding="utf-8") as handle:
        report: dict[str, Any] = json.load(handle)
    return report


def found(report: dict[str, Any], day: RealDay) -> dict[str, set[Any]]:
    """What the report says, in the shape of the truth."""
    content = day.bank_class.get

    def unmatched(category: str) -> list[dict[str, Any]]:
        return list(report.get(category, []))

    return {
        "exact 1:1": {
            (m["wallet_id"], content(m["bank_id"])) for m in report["matched"] if m["pass"] == 1
        },
        "fuzzy 1:1": {
            (m["wallet_id"], content(m["bank_id"])) for m in report["matched"] if m["pass"] == 3
        },
        "known batch": {
            (b["bank_id"], frozenset(b["members"])) for b in report["batches"] if b["pass"] == 2
        },
        "unlabelled batch": {
            (b["bank_id"], frozenset(b["members"])) for b in report["batches"] if b["pass"] == 4
        },
        "reversed": {(r["bank_id"], r["reversal_id"], r["wallet_id"]) for r in report["reversals"]},
        "duplicate": {content(d["record_id"]) for d in report["duplicates"] if d["side"] == "bank"},
        "reimported": {r["record_id"] for r in report["reimported"] if r["side"] == "bank"},
        "missing in bank": {u["record_id"] for u in unmatched("missing_in_bank")},
        "missing in wallet": {content(u["record_id"]) for u in unmatched("missing_in_wallet")},
    }


def score(report: dict[str, Any], day: RealDay) -> dict[str, tuple[float, float]]:
    """Per category ``(precision, recall)``; 1.0 where there is nothing to find or claim."""
    claimed = found(report, day)
    out = {}
    for name in CATEGORIES:
        truth, said = day.truth[name], claimed[name]
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
