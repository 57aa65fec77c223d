"""Examples of wrong labels on a labelled day: what the truth says, what the report said.

For every category below 1.0 it prints up to ``--examples`` missed items (in the truth, not
in the report) and wrongly claimed ones (in the report, not in the truth), each with the
records involved and every report entry that names them, so a shortfall can be traced to
the pass and rule that decided it.

    .venv/bin/python benchmarks/diagnose.py realday 200000 camt --examples 5
    .venv/bin/python benchmarks/diagnose.py groundtruth 200000 mt940
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from walletlink.reconcile import reconcile
from walletlink.reconcile.inputs import STANDARD_MAPPING, read_csv
from walletlink.reconcile.records import Record
from walletlink.reconcile.report import report_rows
from walletlink.reconcile.sources import load_file

Report = dict[str, Any]


def _index(report: Report) -> dict[str, list[str]]:
    """Record id -> one line per report entry that names it."""
    out: dict[str, list[str]] = {}

    def note(record_id: str, text: str) -> None:
        out.setdefault(record_id, []).append(text)

    for m in report.get("matched", []):
        line = f"matched p{m['pass']} {m['rule']} {m['wallet_id']}~{m['bank_id']} {m['reasons']}"
        note(m["wallet_id"], line)
        note(m["bank_id"], line)
    for m in report.get("mismatched", []):
        line = f"mismatched {m['wallet_id']}~{m['bank_id']} {m['fields']} {m['reasons']}"
        note(m["wallet_id"], line)
        note(m["bank_id"], line)
    for b in report.get("batches", []):
        line = f"batch p{b['pass']} {b['rule']} {b['bank_id']} {len(b['members'])} members"
        note(b["bank_id"], line)
        for member in b["members"]:
            note(member, line)
    for r in report.get("reversals", []):
        line = f"reversal {r['bank_id']}/{r['reversal_id']}/{r['wallet_id']} {r['reasons']}"
        for record_id in (r["bank_id"], r["reversal_id"], r["wallet_id"]):
            if record_id:
                note(record_id, line)
    for d in report.get("duplicates", []):
        note(d["record_id"], f"duplicate of {d['duplicate_of']} ({d['key']})")
    for r in report.get("reimported", []):
        note(r["record_id"], f"reimported of {r['duplicate_of']} ({r['source_id']})")
    for a in report.get("ambiguous", []):
        note(a["record_id"], f"ambiguous p{a['pass']} {a['candidates'][:3]}")
    for u in report.get("unresolved_batches", []):
        note(u["bank_id"], "unresolved batch")
    for category in ("missing_in_bank", "pending", "void", "missing_in_wallet"):
        for u in report.get(category, []):
            note(u["record_id"], category)
    return out


def _describe(record: Record) -> str:
    refs = " ".join(
        f"{name}={value}"
        for name in ("end_to_end_id", "instruction_id", "bank_reference", "source_id", "batch_id")
        if (value := getattr(record, name))
    )
    when = record.value_date.isoformat()
    if record.booking_date and record.booking_date != record.value_date:
        when += f" booked {record.booking_date.isoformat()}"
    rev = " REVERSAL" if record.reversal else ""
    return (
        f"{record.id} {record.amount_minor} {when} {record.status.value}{rev} "
        f"cp={record.counterparty!r} {refs} text={record.text[:40]!r} src={record.source}"
    )


def _ids(item: Any, resolve: dict[Any, list[str]]) -> Iterator[str]:
    """The record ids an item of the truth or the report is made of."""
    if isinstance(item, str):
        yield item
    elif item in resolve:
        yield from resolve[item]
    elif isinstance(item, tuple | frozenset):
        for part in item:
            yield from _ids(part, resolve)


def explain(
    truth: dict[str, set[Any]],
    said: dict[str, set[Any]],
    report: Report,
    records: Iterable[Record],
    resolve: dict[Any, list[str]],
    examples: int,
) -> None:
    by_id = {r.id: r for r in records}
    index = _index(report)
    for category, expected in truth.items():
        claimed = said[category]
        missed, wrong = expected - claimed, claimed - expected
        if not missed and not wrong:
            continue
        print(f"\n=== {category}: {len(missed)} missed, {len(wrong)} wrongly claimed")
        for label, items in (("MISSED", missed), ("WRONG", wrong)):
            for item in sorted(items, key=repr)[:examples]:
                print(f"-- {label} {item!r}"[:300])
                for record_id in dict.fromkeys(_ids(item, resolve)):
                    record = by_id.get(record_id)
                    print("   ", _describe(record) if record else record_id)
                    for line in index.get(record_id, ["(not in the report)"]):
                        print("       ->", line[:240])


def _realday(n: int, delivery: str, examples: int) -> None:
    from realday import found, generate, prepare, run_cli

    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        builder = generate(n, folder)
        day = prepare(builder, delivery, folder)  # type: ignore[arg-type]
        report = run_cli(day, folder / "report.json")
        records = read_csv(day.ledger, STANDARD_MAPPING)
        for path in day.statements.values():
            records += load_file(path).records
    resolve: dict[Any, list[str]] = {}
    for bank_id, content in day.bank_class.items():
        resolve.setdefault(content, []).append(bank_id)
    explain(day.truth, found(report, day), report, records, resolve, examples)


def _groundtruth(n: int, fmt: str, examples: int) -> None:
    from groundtruth import found, generate

    with tempfile.TemporaryDirectory() as directory:
        day = generate(n, fmt, Path(directory))  # type: ignore[arg-type]
    result = reconcile(day.wallet, day.bank, day.config, as_of=day.as_of)
    report = report_rows(result)
    explain(day.truth, found(result), report, [*day.wallet, *day.bank], {}, examples)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("generator", choices=("realday", "groundtruth"))
    parser.add_argument("n", type=int)
    parser.add_argument("delivery", nargs="?", default="camt")
    parser.add_argument("--examples", type=int, default=5)
    args = parser.parse_args(argv)
    run = _realday if args.generator == "realday" else _groundtruth
    run(args.n, args.delivery, args.examples)


if __name__ == "__main__":
    main()
