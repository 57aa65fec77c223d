"""Statement parsing speed and memory: ours against a peer in the same run.

* MT940: :func:`walletlink.formats.iter_mt940` against ``mt-940`` (wolph/mt940, PyPI).
* camt.053: :func:`walletlink.formats.iter_camt` (streaming, defusedxml) against a
  full-tree ``lxml`` parse of the same file that extracts the same fields.

Peak memory is measured as the peak RSS of a fresh child process per run, at two file sizes:
a streaming parser stays flat, a full-tree parse grows with the file.

Run: ``.venv/bin/python benchmarks/bench_statements.py`` (needs the ``bench`` extra).
"""

from __future__ import annotations

import io
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

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
from walletlink.models import Balance, BalanceType, Direction, Transaction
from walletlink.money import Money

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
def _timed(func, arg) -> tuple[float, tuple[int, Decimal]]:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = func(arg)
    return time.perf_counter() - start, result


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


def main() -> dict[str, float]:
    """Print the figures; return the ratios the slow test checks."""
    figures: dict[str, float] = {}
    n = 100_000
    text = mt940_text(n)
    t_ours, r_ours = _timed(ours_mt940, text)
    t_peer, r_peer = _timed(peer_mt940, text)
    assert r_ours == r_peer, (r_ours, r_peer)
    print(f"MT940 {n} entries ({len(text) / 1e6:.1f} MB)")
    print(f"  walletlink  {t_ours:6.2f} s  {n / t_ours:10,.0f} entries/s")
    print(f"  mt-940      {t_peer:6.2f} s  {n / t_peer:10,.0f} entries/s")
    print(f"  speed-up    {t_peer / t_ours:6.1f}x")
    figures["mt940_speedup"] = t_peer / t_ours

    with tempfile.TemporaryDirectory() as tmp:
        sizes = {}
        for size in (50_000, 100_000, 200_000):
            path = Path(tmp) / f"camt{size}.xml"
            path.write_bytes(camt_bytes(size))
            sizes[size] = path
        path = sizes[n]
        t_ours, r_ours = _timed(ours_camt, path)
        t_peer, r_peer = _timed(peer_camt_lxml, path)
        assert r_ours == r_peer, (r_ours, r_peer)
        print(f"camt.053 {n} entries ({path.stat().st_size / 1e6:.1f} MB)")
        print(f"  walletlink streaming  {t_ours:6.2f} s  {n / t_ours:10,.0f} entries/s")
        print(f"  lxml full tree        {t_peer:6.2f} s  {n / t_peer:10,.0f} entries/s")
        print(f"  time ratio ours/lxml  {t_ours / t_peer:6.2f}")
        figures["camt_time_ratio"] = t_ours / t_peer
        print("peak RSS of a fresh process (MiB)")
        for size in (50_000, 200_000):
            mb = sizes[size].stat().st_size / 1e6
            ours = _peak_rss_mib("ours_camt", sizes[size])
            peer = _peak_rss_mib("peer_camt_lxml", sizes[size])
            print(f"  {size:>7} entries ({mb:5.0f} MB): walletlink {ours:6.1f}   lxml {peer:7.1f}")
            figures[f"camt_peak_mib_{size}"] = ours
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


@pytest.mark.slow
def test_full_size_figures() -> None:
    """The full benchmark: prints the figures and fails on a clear regression."""
    figures = main()
    assert figures["mt940_speedup"] > 1.5
    assert figures["camt_time_ratio"] < 2.0
    # Flat memory: 4x the entries may not cost more than a few MiB more.
    assert figures["camt_peak_mib_200000"] < figures["camt_peak_mib_50000"] + 10


if __name__ == "__main__":
    main()
