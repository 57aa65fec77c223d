"""The report as one self-contained HTML page: summary, an inline SVG chart, break tables.

No JavaScript, no external stylesheet, no fonts: the page opens from a mail attachment or a
CI artefact as is. Every value is escaped, and account numbers show their last four
characters only, because this is the form of the report that gets forwarded. The break table
lists the worst breaks first (largest amount at stake), capped at ``max_rows`` so that a
million-row run still gives a page a browser can open; the JSON and CSV forms hold everything.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path
from typing import Final, NamedTuple

from walletlink.accounts import mask
from walletlink.reconcile.records import format_minor
from walletlink.reconcile.results import BREAKING_LEFTOVERS, ReconciliationResult

__all__ = ["to_html", "write_html"]

_STYLE: Final = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:3px 8px}
th{background:#f3f3f3;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#1a7f37}.bad{color:#b42318}
"""
_PALETTE: Final = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1")


class _Break(NamedTuple):
    category: str
    record_ids: str
    account: str
    currency: str
    stake: int
    detail: str


def _breaks(result: ReconciliationResult) -> list[_Break]:
    rows: list[_Break] = []
    for m in result.mismatched:
        detail = "; ".join(f"{d.field}: {d.wallet} → {d.bank}" for d in m.diffs)
        if m.reasons:
            detail += f" (paired by {m.rule}: {m.reasons})"
        stake = max(abs(m.wallet_amount_minor), abs(m.bank_amount_minor))
        rows.append(
            _Break(
                "mismatched", f"{m.wallet_id} / {m.bank_id}", m.account, m.currency, stake, detail
            )
        )
    for b in result.batches:
        if b.residual_minor:
            detail = f"{len(b.wallet_ids)} members, fee {format_minor(b.fee_minor, b.currency)}"
            if b.missing_members:
                detail += f", missing {', '.join(b.missing_members)}"
            rows.append(
                _Break(
                    "batch_residual",
                    b.bank_id,
                    b.account,
                    b.currency,
                    abs(b.residual_minor),
                    detail,
                )
            )
    for d in result.duplicates:
        rows.append(
            _Break(
                "duplicate",
                f"{d.side} {d.record_id}",
                d.account,
                d.currency,
                abs(d.amount_minor),
                f"duplicate of {d.duplicate_of} ({d.key})",
            )
        )
    for a in result.ambiguous:
        options = " | ".join(
            f"{', '.join(c.record_ids)} (score {c.score:.3f}"
            + (f"; {c.reasons})" if c.reasons else ")")
            for c in a.candidates
        )
        rows.append(
            _Break(
                "ambiguous",
                a.record_id,
                a.account,
                a.currency,
                abs(a.amount_minor),
                f"pass {a.pass_no} candidates: {options}",
            )
        )
    for u in result.unresolved_batches:
        rows.append(
            _Break(
                "unresolved_batch",
                u.bank_id,
                u.account,
                u.currency,
                abs(u.amount_minor),
                f"{u.candidates} candidates, work {u.work}",
            )
        )
    for r in result.unmatched:
        if r.category in BREAKING_LEFTOVERS:
            rows.append(
                _Break(
                    r.category,
                    r.record_id,
                    r.account,
                    r.currency,
                    abs(r.amount_minor),
                    f"value date {r.value_date.isoformat()}",
                )
            )
    # Worst first; ties in a fixed order so that the page is deterministic.
    rows.sort(key=lambda b: (-b.stake, b.category, b.record_ids))
    return rows


def _suggestions(result: ReconciliationResult) -> list[tuple[str, str, str, str, str, str]]:
    """Pairings not made on an exact key, for an operator to accept or reject, by rule."""
    rows = [
        (m.rule, f"{m.wallet_id} / {m.bank_id}", m.currency,
         format_minor(m.amount_minor, m.currency), f"{m.score:.3f}", m.reasons)
        for m in result.matched
        if not m.rule.startswith("exact:")
    ]  # fmt: skip
    rows += [
        (b.rule, f"{b.bank_id} ← {len(b.wallet_ids)} rows", b.currency,
         format_minor(b.net_minor, b.currency), "", b.reasons)
        for b in result.batches
        if b.pass_no == 4
    ]  # fmt: skip
    rows += [
        (r.rule, f"{r.bank_id} + {r.reversal_id} / {r.wallet_id or '-'}", r.currency,
         format_minor(r.amount_minor, r.currency), f"{r.score:.3f}", r.reasons)
        for r in result.reversals
    ]  # fmt: skip
    return rows


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]], numeric: set[int]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{escape(str(c))}</td>' if i in numeric else f"<td>{escape(str(c))}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _chart(breaks: list[_Break]) -> str:
    """Horizontal bars: one group per break category, one bar per currency."""
    counts = Counter((b.category, b.currency) for b in breaks)
    if not counts:
        return "<p class='ok'>No breaks.</p>"
    categories = sorted({c for c, _ in counts})
    currencies = sorted({cur for _, cur in counts})
    colour = {cur: _PALETTE[i % len(_PALETTE)] for i, cur in enumerate(currencies)}
    top = max(counts.values())
    bar, gap, label_w, plot_w = 14, 10, 150, 420
    parts: list[str] = []
    y = 0
    for category in categories:
        parts.append(f'<text x="0" y="{y + bar}" font-size="12">{escape(category)}</text>')
        for currency in currencies:
            n = counts.get((category, currency), 0)
            if not n:
                continue
            width = max(1, round(plot_w * n / top))
            parts.append(
                f'<rect x="{label_w}" y="{y}" width="{width}" height="{bar - 2}" '
                f'fill="{colour[currency]}"><title>{escape(category)} {currency}: {n}</title>'
                f"</rect>"
                f'<text x="{label_w + width + 4}" y="{y + bar - 3}" font-size="11">'
                f"{n} {escape(currency)}</text>"
            )
            y += bar
        y += gap
    height = y + 4
    legend = " ".join(f'<span style="color:{colour[c]}">■</span> {escape(c)}' for c in currencies)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + plot_w + 80}" '
        f'height="{height}" role="img" aria-label="breaks by category and currency">'
        + "".join(parts)
        + f"</svg><p>{legend}</p>"
    )


def to_html(
    result: ReconciliationResult, *, title: str = "Reconciliation", max_rows: int = 1000
) -> str:
    """The whole page as a string."""
    breaks = _breaks(result)
    counts = result.break_counts()
    status = (
        "<span class='bad'>breaks found</span>"
        if result.has_breaks
        else ("<span class='ok'>clean</span>")
    )
    summary = _table(
        ["category", "items"],
        [
            ("matched pairs", len(result.matched)),
            ("batches", len(result.batches)),
            ("reversals (booking + storno)", len(result.reversals)),
            ("re-imports dropped", len(result.reimported)),
            (
                "pending (inside settlement lag)",
                sum(1 for r in result.unmatched if r.category == "pending"),
            ),
            (
                "failed in the wallet, absent at the bank",
                sum(1 for r in result.unmatched if r.category == "void"),
            ),
            ("identical id-less bank rows (kept)", result.identical_without_id),
            *counts.items(),
        ],
        {1},
    )
    totals = _table(
        [
            "currency",
            "wallet rows",
            "wallet total",
            "bank rows",
            "bank total",
            "matched",
            "breaks",
            "at stake",
        ],
        [
            (
                t.currency,
                t.wallet_count,
                format_minor(t.wallet_total_minor, t.currency),
                t.bank_count,
                format_minor(t.bank_total_minor, t.currency),
                t.matched_count,
                t.break_count,
                format_minor(t.break_amount_minor, t.currency),
            )
            for t in result.totals
        ],
        {1, 2, 3, 4, 5, 6, 7},
    )
    shown = breaks[:max_rows]
    more = (
        (
            f"<p>Showing the {max_rows} largest of {len(breaks)} breaks; the JSON and CSV "
            "reports list them all.</p>"
        )
        if len(breaks) > max_rows
        else ""
    )
    break_table = _table(
        ["category", "records", "account", "currency", "amount", "detail"],
        [
            (
                b.category,
                b.record_ids,
                mask(b.account),
                b.currency,
                format_minor(b.stake, b.currency),
                b.detail,
            )
            for b in shown
        ],
        {4},
    )
    suggested = _suggestions(result)
    suggestions = _table(
        ["rule", "records", "currency", "amount", "score", "why"],
        suggested[:max_rows],
        {3, 4},
    )
    balances = _table(
        ["statement", "account", "currency", "opening", "entries", "closing", "difference"],
        [
            (
                c.statement,
                mask(c.account),
                c.currency,
                format_minor(c.opening_minor, c.currency),
                format_minor(c.entries_minor, c.currency),
                format_minor(c.closing_minor, c.currency),
                format_minor(c.difference_minor, c.currency),
            )
            for c in result.balance_checks
        ],
        {3, 4, 5, 6},
    )
    anomalies = _table(
        ["kind", "side", "records", "account", "currency", "reason"],
        [
            (
                a.kind,
                a.side,
                ", ".join(a.record_ids[:10]) + (" …" if len(a.record_ids) > 10 else ""),
                mask(a.account),
                a.currency,
                a.reason,
            )
            for a in result.anomalies[:max_rows]
        ],
        set(),
    )
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(title)} as of {result.as_of.isoformat()}: {status}</h1>"
        f"<h2>Summary</h2>{summary}<h2>Totals per currency</h2>{totals}"
        f"<h2>Breaks by category and currency</h2>{_chart(breaks)}"
        f"<h2>Breaks, worst first</h2>{more}{break_table}"
        f"<h2>Pairings to review ({len(suggested)}: not on an exact key)</h2>{suggestions}"
        f"<h2>Statement balances</h2>{balances}<h2>Anomaly flags</h2>{anomalies}"
        "</body></html>\n"
    )


def write_html(
    result: ReconciliationResult, path: str | Path, *, title: str = "Reconciliation"
) -> None:
    Path(path).write_text(to_html(result, title=title), encoding="utf-8")
