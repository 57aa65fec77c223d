"""Reconcile a wallet's ledger against what its banks say: ``walletlink.reconcile``.

The engine (:func:`reconcile`) is a pure function over normalised :class:`Record`\\ s; the
input helpers turn ledgers, statements and CSV files into records, and the report helpers
write the result as JSON, one CSV per category, or a self-contained HTML page. See
``docs/reconciliation.md`` for the passes, the rules file and the report formats.
"""

from walletlink.reconcile.config import STRONG_REFERENCE_FIELDS, ReconcileConfig, load_rules
from walletlink.reconcile.engine import ProgressCallback, partition, reconcile
from walletlink.reconcile.records import (
    BatchMember,
    Record,
    RecordStatus,
    StatementBalance,
    clean_reference,
    format_minor,
)
from walletlink.reconcile.results import (
    BREAK_CATEGORIES,
    CATEGORIES,
    AmbiguousRow,
    AnomalyFlag,
    BalanceCheck,
    BatchMatch,
    Candidate,
    Category,
    CurrencyTotals,
    DuplicateRow,
    FieldDiff,
    MatchedPair,
    MatchedPairs,
    Mismatch,
    PairColumns,
    ReconciliationResult,
    ReimportedRow,
    ReversalMatch,
    UnmatchedRow,
    UnresolvedBatch,
)

__all__ = [
    "BREAK_CATEGORIES",
    "CATEGORIES",
    "STRONG_REFERENCE_FIELDS",
    "AmbiguousRow",
    "AnomalyFlag",
    "BalanceCheck",
    "BatchMatch",
    "BatchMember",
    "Candidate",
    "Category",
    "CurrencyTotals",
    "DuplicateRow",
    "FieldDiff",
    "MatchedPair",
    "MatchedPairs",
    "Mismatch",
    "PairColumns",
    "ProgressCallback",
    "ReconcileConfig",
    "ReconciliationResult",
    "Record",
    "RecordStatus",
    "ReimportedRow",
    "ReversalMatch",
    "StatementBalance",
    "UnmatchedRow",
    "UnresolvedBatch",
    "clean_reference",
    "format_minor",
    "load_rules",
    "partition",
    "reconcile",
]
