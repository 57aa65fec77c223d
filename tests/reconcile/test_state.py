"""Canonical order: what makes a run independent of the order of its inputs."""

from __future__ import annotations

from itertools import permutations

from walletlink.reconcile._state import RunState, canonical_order
from walletlink.reconcile.config import ReconcileConfig

from .factories import rec


def test_unique_ids_are_sorted_by_id() -> None:
    records = [rec("b", 1), rec("c", 2), rec("a", 3)]
    assert [r.id for r in canonical_order(records)] == ["a", "b", "c"]


def test_records_sharing_an_id_are_ordered_by_content_whatever_the_input_order() -> None:
    # The shortcut for unique ids compares neighbours after sorting; repeats anywhere
    # (first, last, several) must still reach the content sort.
    records = [rec("x", 5), rec("a", 1), rec("x", 2), rec("z", 9), rec("x", 7, day=1)]
    expected = canonical_order(list(records))
    assert [(r.id, r.amount_minor) for r in expected] == [
        ("a", 1),
        ("x", 2),
        ("x", 5),
        ("x", 7),
        ("z", 9),
    ]
    for order in permutations(records):
        assert canonical_order(list(order)) == expected


def test_free_rows_are_the_unused_positions_in_order() -> None:
    state = RunState([rec(f"w{i}", i) for i in range(5)], [rec("b", 1)], ReconcileConfig())
    state.take_wallet(1)
    state.take_wallet(4)
    assert state.free_wallet() == [0, 2, 3]
    assert state.free_bank() == [0]
