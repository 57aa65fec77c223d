"""The ``walletlink`` command: ``demo``, ``reconcile``, ``journal``, ``mockbank serve``,
``outbox migrate``.

Subcommands import their modules only when chosen, so ``walletlink --help`` stays fast and a
missing optional piece never breaks the others.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _build_parser() -> argparse.ArgumentParser:
    from walletlink import __version__

    parser = argparse.ArgumentParser(
        prog="walletlink", description="Talk to banks through one interface."
    )
    parser.add_argument("--version", action="version", version=f"walletlink {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo", help="send a batch of transfers to fault-injecting mock banks and summarise"
    )
    demo.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    demo.add_argument("--transfers", type=int, default=60, help="how many transfers to send")
    demo.add_argument("--seed", type=int, default=7, help="seed of the injected faults")
    demo.add_argument("--journal", help="SQLite journal path (default: a temporary folder)")

    reconcile = commands.add_parser(
        "reconcile", help="match a wallet ledger against bank statements"
    )
    from walletlink.reconcile.cli import add_arguments as reconcile_arguments

    reconcile_arguments(reconcile)

    journal = commands.add_parser("journal", help="migrate, verify, checkpoint and prune a journal")
    from walletlink.journal.cli import add_arguments as journal_arguments

    journal_arguments(journal)

    mockbank = commands.add_parser("mockbank", help="run a mock bank")
    mock_commands = mockbank.add_subparsers(dest="mock_command", required=True)
    serve = mock_commands.add_parser("serve", help="serve a mock bank on loopback")
    from walletlink.testing.cli import add_arguments as serve_arguments

    serve_arguments(serve)

    outbox = commands.add_parser("outbox", help="manage the payout outbox table")
    from walletlink.outbox.cli import add_arguments as outbox_arguments

    outbox_arguments(outbox)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if args.command == "demo":
        from walletlink._demo import run_demo

        return run_demo(
            transfers=args.transfers, seed=args.seed, as_json=args.json, journal_path=args.journal
        )
    if args.command == "reconcile":
        from walletlink.reconcile.cli import run as run_reconcile

        return run_reconcile(args)
    if args.command == "journal":
        from walletlink.journal.cli import run as run_journal

        return run_journal(args)
    if args.command == "outbox":
        from walletlink.outbox.cli import run as run_outbox

        return run_outbox(args)
    from walletlink.testing.cli import run as run_serve

    return run_serve(args)


if __name__ == "__main__":  # pragma: no cover - exercised through the console script
    sys.exit(main())
