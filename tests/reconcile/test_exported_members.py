"""The public surface of ``walletlink.reconcile``, pinned: a change here is a change for users."""

from __future__ import annotations

import walletlink.reconcile


def test_public_names_are_pinned() -> None:
    assert walletlink.reconcile.__all__ == [
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
    for name in walletlink.reconcile.__all__:
        assert getattr(walletlink.reconcile, name) is not None
