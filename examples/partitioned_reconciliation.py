"""Reconciliation split by account, currency and date window, run by a pool of processes.

The shape a cluster job takes when one machine is not enough (see docs/scaling.md):

1. ``partition_key(record)`` names a record's partition: ``(account, currency, window)``,
   the window being the record's calendar month. A Spark or Dask job uses the very same
   function (``rdd.keyBy(partition_key)``, ``df.groupby(...)``); here a dict does.
2. Each ``(account, currency)`` is one task, independent of every other (the engine never
   pairs across accounts, and across currencies only to call a key hit a currency mismatch).
   The pool runs the tasks side by side, each on DuckDB (``ReconcileConfig(engine="duckdb")``)
   with its own memory limit.
3. Inside a task the windows run in date order. A row still open at the end of a window
   (missing on either side, or pending) and dated within ``CARRY_DAYS`` of its end is carried
   into the next window, because its partner may be booked a few days later, across the
   month boundary. Only the last window's open rows are final breaks.

The example checks that the partitioned run puts every record in the same category as one
run over everything, and prints the category counts.
"""

from __future__ import annotations

import importlib.util
import random
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from datetime import date, timedelta

from walletlink.reconcile import ReconcileConfig, Record, reconcile

# DuckDB per task when the walletlink[duckdb] extra is installed; the result is the same on
# the Python engine, which a bare install (and `make dist`'s wheel check) runs instead.
ENGINE = "duckdb" if importlib.util.find_spec("duckdb") else "python"
CONFIG = ReconcileConfig(engine=ENGINE, anomalies=False)
# At least the longest lag a partner may have across a boundary: the fuzzy date window and
# the key pass's date tolerance.
CARRY_DAYS = max(CONFIG.date_window_days, CONFIG.key_date_tolerance_days)
OPEN = frozenset({"missing_in_bank", "missing_in_wallet", "pending"})
AS_OF = date(2026, 5, 10)

Key = tuple[str, str, str]


def partition_key(record: Record) -> Key:
    """``(account, currency, "YYYY-MM")``: the unit a cluster job shuffles records by."""
    return record.account, record.currency, record.value_date.strftime("%Y-%m")


def _window_end(window: str) -> date:
    year, month = map(int, window.split("-"))
    first_of_next = date(year + month // 12, month % 12 + 1, 1)
    return first_of_next - timedelta(days=1)


def reconcile_task(
    windows: dict[str, tuple[list[Record], list[Record]]],
) -> list[tuple[str, str, str]]:
    """One ``(account, currency)``: its windows in order, open rows carried forward."""
    final: list[tuple[str, str, str]] = []
    carry_wallet: list[Record] = []
    carry_bank: list[Record] = []
    names = sorted(windows)
    for number, window in enumerate(names):
        wallet = carry_wallet + windows[window][0]
        bank = carry_bank + windows[window][1]
        last = number == len(names) - 1
        end = AS_OF if last else _window_end(window)
        result = reconcile(wallet, bank, CONFIG, as_of=end)
        rows = {("wallet", r.id): r for r in wallet} | {("bank", r.id): r for r in bank}
        carry_wallet, carry_bank = [], []
        for side, record_id, category in result.assignments():
            record = rows[(side, record_id)]
            near_end = (end - record.value_date).days < CARRY_DAYS
            if not last and category in OPEN and near_end:
                (carry_wallet if side == "wallet" else carry_bank).append(record)
            else:
                final.append((side, record_id, category))
    return final


def run_partitioned(
    wallet: list[Record], bank: list[Record], workers: int = 2
) -> list[tuple[str, str, str]]:
    tasks: dict[tuple[str, str], dict[str, tuple[list[Record], list[Record]]]] = {}
    for side, records in ((0, wallet), (1, bank)):
        for record in records:
            account, currency, window = partition_key(record)
            task = tasks.setdefault((account, currency), {})
            task.setdefault(window, ([], []))[side].append(record)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        parts = pool.map(reconcile_task, [tasks[key] for key in sorted(tasks)])
        return sorted(row for part in parts for row in part)


def sample(seed: int = 7) -> tuple[list[Record], list[Record]]:
    """Three accounts, two currencies, two months; partners booked 0-3 days late."""
    rnd = random.Random(seed)
    wallet, bank = [], []
    for i in range(600):
        account, currency = rnd.choice(["ACC-1", "ACC-2", "ACC-3"]), rnd.choice(["EUR", "GBP"])
        day = date(2026, 3, 20) + timedelta(days=rnd.randrange(45))  # crosses two month ends
        amount = rnd.randint(100, 90_000) * rnd.choice((1, -1))
        party = f"Customer {rnd.randrange(300)}"
        ref = f"E{i:05d}" if rnd.random() < 0.8 else ""
        common = {"account": account, "currency": currency, "counterparty": party}
        wallet.append(
            Record(id=f"w{i}", amount_minor=amount, value_date=day, end_to_end_id=ref, **common)
        )
        if rnd.random() < 0.95:  # 5 % never reach the bank
            lag = timedelta(days=rnd.randint(0, 3))
            bank.append(
                Record(
                    id=f"b{i}",
                    amount_minor=amount,
                    value_date=day + lag,
                    end_to_end_id=ref,
                    source_id=f"S{i}",
                    **common,
                )
            )
    return wallet, bank


def main() -> None:
    wallet, bank = sample()
    whole = sorted(reconcile(wallet, bank, CONFIG, as_of=AS_OF).assignments())
    split = run_partitioned(wallet, bank)
    assert split == whole, "the partitioned run must categorise every record as one run does"
    counts = Counter(category for _, _, category in split)
    tasks = len({partition_key(r)[:2] for r in wallet + bank})
    print(
        f"{len(wallet)} wallet and {len(bank)} bank records in {tasks} tasks on {ENGINE}, "
        "same categories as one run:"
    )
    for category, count in sorted(counts.items()):
        print(f"  {category:<20} {count}")


if __name__ == "__main__":
    main()
