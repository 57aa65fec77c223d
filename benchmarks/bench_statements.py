"""Statement parsing speed and memory: ours against a peer in the same run.

* MT940: :func:`walletlink.formats.iter_mt940` against ``mt-940`` (wolph/mt940, PyPI).
* camt.053: :func:`walletlink.formats.iter_camt` (streaming, defusedxml) against a
  full-tree ``lxml`` parse of the same file that extracts the same fields.

Each pair runs in interleaved rounds (ours, peer, ours, peer, …) so that load from other jobs
on the machine hits both sides alike; the script prints the best and the median round and
the spread. Peak memory is measured as the peak RSS of a fresh child process per run, at two
file sizes: a streaming parser stays flat, a full-tree parse grows with the file.

Performance is measured, not asserted: the slow test only prints the figures. The normal
suite checks that both sides agree on a small file and that the fast paths are in use.

Run: ``.venv/bin/python benchmarks/bench_statements.py [rounds]`` (needs the ``bench`` extra).
"""

from __future__ import annotations

import io
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from walletlink.accounts import Iban
from walletlink.formats import (
    Statement,
    StatementHeader,
    iter_camt,
    iter_mt940,
    write_camt053,
    write_mt940,
)
from walletlink.formats import statement as _statement
from walletlink.models import Balance, BalanceType, Direction, Transaction
from walletlink.money import Money, _trusted_money

ACCOUNT = Iban("DE40100100103307118608")
COUNTERPARTY = "DE02100100109307118603"
CAMT_NS = "{urn:iso:std:iso:20022:tech:xsd:camt.053.001.08}"


def make_statement(entries: int, seed: int = 5) -> Statement:
    """A balanced statement of ``entries`` varied entries (credits, debits, reversals)."""
    rng = random.Random(seed)
    start = date(2024, 1, 1)
    items = []
    net = Decimal(0)
    for i in range(entries):
        amount = Money.from_minor(rng.randint(1, 5_000_000), "EUR")
        direction = Direction.CREDIT if rng.random() < 0.5 else Direction.DEBIT
        net += amount.amount if direction is Direction.CREDIT else -amount.amount
        day = start + timedelta(days=i % 365)
        items.append(
            Transaction(
                amount=amount,
                direction=direction,
                booking_date=day,
                value_date=day,
                end_to_end_id=f"E2E-{i:08d}",
                bank_reference=f"B{i:010d}",
                counterparty_name=f"Counterparty {i % 977}",
                counterparty_account=COUNTERPARTY,
                remittance=f"Invoice {i} for services rendered",
                reversal=i % 50 == 7,
                type_code="NTRF",
            )
        )
    opening = Money("100000.00", "EUR")
    closing = opening + Money(net, "EUR")
    return Statement(
        header=StatementHeader(
            format="camt.053",
            statement_id="BENCH-1",
            account=ACCOUNT,
            currency="EUR",
            sequence_number="1",
        ),
        balances=(
            Balance(account=ACCOUNT, amount=opening, type=BalanceType.OPENING_BOOKED, as_of=start),
            Balance(
                account=ACCOUNT,
                amount=closing,
                type=BalanceType.CLOSING_BOOKED,
                as_of=start + timedelta(days=364),
            ),
        ),
        entries=tuple(items),
    )


def mt940_text(entries: int) -> str:
    return write_mt940([make_statement(entries)])


def camt_bytes(entries: int) -> bytes:
    out = io.BytesIO()
    write_camt053(
        [make_statement(entries)],
        message_id="BENCH",
        out=out,
        created_at=datetime(2024, 12, 31, 6, 0),
    )
    return out.getvalue()


# --- the parsers under test: each returns (entry count, signed sum) ----------------------
def ours_mt940(text: str) -> tuple[int, Decimal]:
    return _count_and_sum(iter_mt940(text))


def _count_and_sum(items: Iterable[object]) -> tuple[int, Decimal]:
    count, net = 0, Decimal(0)
    for item in items:
        if isinstance(item, Transaction):
            count += 1
            amount = item.amount.amount
            net += amount if item.direction is Direction.CREDIT else -amount
    return count, net


def peer_mt940(text: str) -> tuple[int, Decimal]:
    import mt940  # type: ignore[import-untyped]

    # reversal_sign: sign RC/RD as SWIFT does (the peer's default keeps RC positive).
    parsed = mt940.parse(text, options=mt940.Options(reversal_sign=True))
    amounts = [t.data["amount"].amount for t in parsed]
    return len(amounts), sum(amounts, Decimal(0))


def ours_camt(source: bytes | Path) -> tuple[int, Decimal]:
    return _count_and_sum(iter_camt(source))


def peer_camt_lxml(source: bytes | Path) -> tuple[int, Decimal]:
    """lxml full tree, then the same fields ours extracts (amount, sign, dates, refs, party)."""
    from lxml import etree  # type: ignore[import-untyped]

    root = etree.fromstring(source) if isinstance(source, bytes) else etree.parse(source)
    n = CAMT_NS
    count, net = 0, Decimal(0)
    for entry in root.iter(f"{n}Ntry"):
        amount = Decimal(entry.findtext(f"{n}Amt"))
        fields = (
            entry.findtext(f"{n}Sts/{n}Cd"),
            entry.findtext(f"{n}BookgDt/{n}Dt"),
            entry.findtext(f"{n}ValDt/{n}Dt"),
            entry.findtext(f"{n}AcctSvcrRef"),
            entry.findtext(f"{n}NtryDtls/{n}TxDtls/{n}Refs/{n}EndToEndId"),
            entry.findtext(f"{n}NtryDtls/{n}TxDtls/{n}RmtInf/{n}Ustrd"),
        )
        date.fromisoformat(fields[1] or "2000-01-01")
        count += 1
        net += amount if entry.findtext(f"{n}CdtDbtInd") == "CRDT" else -amount
    return count, net


# --- measurement ---------------------------------------------------------------------------
Parser = Callable[[Any], tuple[int, Decimal]]


def _rounds(
    ours: Parser, peer: Parser, arg: object, rounds: int
) -> tuple[list[float], list[float]]:
    """Seconds per round for each side, interleaved; both sides must agree every time."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(rounds):
        results = []
        for side, func in zip(times, (ours, peer), strict=True):
            start = time.perf_counter()
            results.append(func(arg))
            side.append(time.perf_counter() - start)
        assert results[0] == results[1], results
    return times


def _report(name: str, n: int, seconds: list[float]) -> str:
    best, median, worst = min(seconds), statistics.median(seconds), max(seconds)
    return (
        f"  {name:<22}best {best:5.2f} s {n / best:9,.0f}/s ({best / n * 1e6:5.2f} µs/entry)"
        f"   median {median:5.2f} s {n / median:9,.0f}/s   spread +{worst / best - 1:.0%}"
    )


def _peak_rss_mib(parser: str, path: Path) -> float:
    """Peak RSS of a fresh interpreter that imports everything, then parses ``path``."""
    code = (
        "import sys\n"
        "sys.path.insert(0, 'benchmarks')\n"
        "import bench_statements as b\n"
        "from pathlib import Path\n"
        f"b.{parser}(Path({str(path)!r}))\n"
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent.
        "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    return int(out.stdout.strip()) / 1024


def main(rounds: int = 3) -> dict[str, float]:
    """Print the figures (and return them): ratios of the best and of the median rounds."""
    figures: dict[str, float] = {}
    n = 100_000
    text = mt940_text(n)
    ours, peer = _rounds(ours_mt940, peer_mt940, text, rounds)
    print(f"MT940 {n} entries ({len(text) / 1e6:.1f} MB), {rounds} interleaved rounds")
    print(_report("walletlink", n, ours))
    print(_report("mt-940", n, peer))
    figures["mt940_speedup_best"] = min(peer) / min(ours)
    figures["mt940_speedup_median"] = statistics.median(peer) / statistics.median(ours)
    print(
        f"  speed-up               best {figures['mt940_speedup_best']:.1f}x"
        f"   median {figures['mt940_speedup_median']:.1f}x"
    )

    with tempfile.TemporaryDirectory() as tmp:
        sizes = {}
        for size in (50_000, 100_000, 200_000):
            path = Path(tmp) / f"camt{size}.xml"
            path.write_bytes(camt_bytes(size))
            sizes[size] = path
        path = sizes[n]
        ours, peer = _rounds(ours_camt, peer_camt_lxml, path, rounds)
        print(f"camt.053 {n} entries ({path.stat().st_size / 1e6:.1f} MB), {rounds} rounds")
        print(_report("walletlink streaming", n, ours))
        print(_report("lxml full tree", n, peer))
        figures["camt_time_ratio_best"] = min(ours) / min(peer)
        figures["camt_time_ratio_median"] = statistics.median(ours) / statistics.median(peer)
        print(
            f"  time ratio ours/lxml   best {figures['camt_time_ratio_best']:.2f}"
            f"   median {figures['camt_time_ratio_median']:.2f}"
        )
        print("peak RSS of a fresh process (MiB)")
        for size in (50_000, 200_000):
            mb = sizes[size].stat().st_size / 1e6
            ours_mib = _peak_rss_mib("ours_camt", sizes[size])
            peer_mib = _peak_rss_mib("peer_camt_lxml", sizes[size])
            print(
                f"  {size:>7} entries ({mb:5.0f} MB): walletlink {ours_mib:6.1f}"
                f"   lxml {peer_mib:7.1f}"
            )
            figures[f"camt_peak_mib_{size}"] = ours_mib
    return figures


def test_small_statements_agree_with_peers() -> None:
    """At 1k entries our counts and signed sums equal mt-940's and lxml's."""
    pytest.importorskip("mt940")
    pytest.importorskip("lxml")
    text = mt940_text(1000)
    assert peer_mt940(text) == ours_mt940(text)
    data = camt_bytes(1000)
    assert peer_camt_lxml(data) == ours_camt(data)
    statement = make_statement(1000)
    expected = (1000, statement.booked_net().amount)  # type: ignore[union-attr]
    assert expected == ours_camt(data)


def test_fast_builders_are_in_use_and_exact() -> None:
    """The figures assume the MT940 reader's unvalidated builders; they equal the models'."""
    assert _statement.unchecked_entry is _statement._entry_unchecked
    money = Money("1234.50", "EUR")
    fast_money = _trusted_money(Decimal("1234.50"), "EUR")
    assert (type(money), money, hash(money), repr(money)) == (
        type(fast_money),
        fast_money,
        hash(fast_money),
        repr(fast_money),
    )
    day = date(2024, 2, 29)
    fields = (money, Direction.DEBIT, True, day, day, "NTRF", "C1", "B1", "E1", "N", "A", "R")
    entry = Transaction(
        amount=money,
        direction=Direction.DEBIT,
        reversal=True,
        value_date=day,
        booking_date=day,
        type_code="NTRF",
        customer_reference="C1",
        bank_reference="B1",
        end_to_end_id="E1",
        counterparty_name="N",
        counterparty_account="A",
        remittance="R",
    )
    fast = _statement.unchecked_entry(*fields)
    assert (type(entry), entry, hash(entry), repr(entry)) == (
        type(fast),
        fast,
        hash(fast),
        repr(fast),
    )


@pytest.mark.slow
def test_full_size_figures() -> None:
    """The full benchmark: prints the figures; the goals are read, not asserted."""
    main()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
