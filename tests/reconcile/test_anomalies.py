from __future__ import annotations

from walletlink.reconcile import ReconcileConfig
from walletlink.reconcile.anomalies import find_anomalies

from .factories import rec


def test_same_creditor_and_amount_within_the_window_is_a_likely_duplicate_payment() -> None:
    records = [
        rec("p1", -5000, 0, counterparty="Landlord Ltd"),
        rec("p2", -5000, 1, counterparty="landlord  ltd"),
        rec("p3", -5000, 30, counterparty="Landlord Ltd"),
    ]
    flags = [
        f
        for f in find_anomalies(records, "wallet", ReconcileConfig())
        if f.kind == "duplicate_payment"
    ]
    assert [f.record_ids for f in flags] == [("p1", "p2")]
    assert "1 day(s) apart" in flags[0].reason


def test_amount_far_from_the_counterparty_median_is_flagged_with_its_distance() -> None:
    records = [rec(f"r{i}", 1000 + i, i, counterparty="Shop") for i in range(8)]
    records.append(rec("big", 250_000, 9, counterparty="Shop"))
    flags = [
        f for f in find_anomalies(records, "bank", ReconcileConfig()) if f.kind == "amount_outlier"
    ]
    assert [f.record_ids for f in flags] == [("big",)]
    assert "MADs" in flags[0].reason


def test_velocity_spike_against_the_accounts_median_day() -> None:
    quiet = [
        rec(f"q{d}-{i}", 100 + i, d, counterparty=f"c{i}") for d in range(10) for i in range(3)
    ]
    burst = [rec(f"b{i}", 500 + i, 11, counterparty=f"x{i}") for i in range(40)]
    flags = [
        f
        for f in find_anomalies(quiet + burst, "wallet", ReconcileConfig())
        if f.kind == "velocity_spike"
    ]
    assert [len(f.record_ids) for f in flags] == [40]


def test_nothing_flagged_for_ordinary_activity() -> None:
    records = [rec(f"r{i}", -(1000 + 10 * i), 3 * i, counterparty="Utility") for i in range(10)]
    assert find_anomalies(records, "wallet", ReconcileConfig()) == []
