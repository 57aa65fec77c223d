"""Engine behaviour per pass, and the three guarantees as hypothesis properties."""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from walletlink.reconcile import (
    CATEGORIES,
    BatchMember,
    Candidate,
    FieldDiff,
    ReconcileConfig,
    Record,
    RecordStatus,
    StatementBalance,
    partition,
    reconcile,
)

from .factories import DAY0, rec


def categories(result: object) -> dict[tuple[str, str], str]:
    return {(side, rid): cat for side, rid, cat in result.assignments()}  # type: ignore[attr-defined]


def test_exact_key_hit_with_different_amount_is_a_mismatch_not_missing() -> None:
    wallet = [rec("w1", 1000, end_to_end_id="E1")]
    bank = [rec("b1", 1050, 1, end_to_end_id="E1")]
    result = reconcile(wallet, bank)
    assert list(result.unmatched) == []
    (mismatch,) = result.mismatched
    assert (FieldDiff("amount", "10.00", "10.50", 50),) == mismatch.diffs
    assert mismatch.pass_no == 1


def test_key_hit_names_status_direction_and_date() -> None:
    wallet = [rec("w1", 1000, 0, end_to_end_id="E1")]
    bank = [rec("b1", -1000, 9, end_to_end_id="E1", status=RecordStatus.RETURNED)]
    (mismatch,) = reconcile(wallet, bank).mismatched
    assert [d.field for d in mismatch.diffs] == ["direction", "status", "value_date"]
    assert mismatch.diffs[-1].delta == 9


def test_same_amount_in_another_currency_never_matches_fuzzily() -> None:
    wallet = [rec("w1", 1000)]
    bank = [rec("b1", 1000, currency="USD")]
    result = reconcile(wallet, bank, as_of=DAY0.replace(day=30))
    assert (categories(result)) == {
        ("wallet", "w1"): "missing_in_bank",
        ("bank", "b1"): "missing_in_wallet",
    }


def test_a_key_held_by_two_bank_rows_makes_the_surplus_a_duplicate() -> None:
    wallet = [rec("w1", 1000, end_to_end_id="E1")]
    bank = [rec("b1", 1000, end_to_end_id="E1"), rec("b2", 1000, end_to_end_id="E1")]
    result = reconcile(wallet, bank)
    assert len(result.matched) == 1
    (duplicate,) = result.duplicates
    assert duplicate[:4] == ("bank", "b2", "b1", "end_to_end_id=E1")


def test_placeholder_references_never_match() -> None:
    wallet = [rec("w1", 1000, end_to_end_id="NOTPROVIDED")]
    bank = [rec("b1", 2000, end_to_end_id="NOTPROVIDED")]
    result = reconcile(wallet, bank, as_of=DAY0.replace(day=30))
    assert result.mismatched == ()


def test_reimported_bank_record_is_dropped_by_source_id_per_account() -> None:
    bank = [
        rec("b1", 1000, source_id="S1", end_to_end_id="E1"),
        rec("b1-again", 1000, source_id="S1", end_to_end_id="E1", text="  drifted   text"),
        rec("b-other", 1000, source_id="S1", account="OTHER"),
    ]
    result = reconcile([rec("w1", 1000, end_to_end_id="E1")], bank)
    assert [tuple(r) for r in result.reimported] == [("bank", "b1-again", "b1", "S1")]
    assert categories(result)[("bank", "b-other")] == "missing_in_wallet"


def test_identical_twins_without_ids_are_counted_and_both_matched() -> None:
    wallet = [rec("w1", 350, counterparty="Cafe"), rec("w2", 350, counterparty="Cafe")]
    bank = [rec("b1", 350, counterparty="Cafe"), rec("b2", 350, counterparty="Cafe")]
    result = reconcile(wallet, bank)
    assert result.identical_without_id == 1
    assert len(result.matched) == 2


def test_one_bank_row_never_matches_two_wallet_rows() -> None:
    wallet = [rec("w1", 350, counterparty="Cafe"), rec("w2", 350, counterparty="Cafe")]
    result = reconcile(wallet, [rec("b1", 350, counterparty="Cafe")])
    assert len(result.matched) == 1
    assert categories(result)[("wallet", "w2")] == "duplicate"


def test_known_batch_by_member_references_nets_the_fee_exactly() -> None:
    wallet = [rec("w1", 6000, end_to_end_id="M1"), rec("w2", 4000, end_to_end_id="M2")]
    members = (BatchMember(reference="M1"), BatchMember(reference="M2"))
    bank = [rec("b1", 9800, 1, members=members, fee_minor=200)]
    (batch,) = reconcile(wallet, bank).batches
    assert (
        batch.wallet_ids,
        batch.gross_minor,
        batch.fee_minor,
        batch.net_minor,
        batch.residual_minor,
    ) == (("w1", "w2"), 10000, 200, 9800, 0)


def test_known_batch_missing_a_member_shows_the_residual_and_the_reference() -> None:
    wallet = [rec("w1", 6000, end_to_end_id="M1")]
    members = (BatchMember(reference="M1"), BatchMember(reference="M2"))
    (batch,) = reconcile(wallet, [rec("b1", 10000, members=members, fee_minor=0)]).batches
    assert (batch.residual_minor, batch.missing_members) == (-4000, ("M2",))


def test_known_batch_by_payout_id_infers_the_fee_within_the_limit() -> None:
    wallet = [rec(f"w{i}", 1000, batch_id="PO-7") for i in range(5)]
    (batch,) = reconcile(wallet, [rec("b1", 4950, 1, batch_id="PO-7")]).batches
    assert (batch.fee_minor, batch.residual_minor, batch.rule) == (50, 0, "batch_id")


def test_batch_count_leaves_out_the_one_row_the_entry_does_not_hold() -> None:
    """camt NbOfTxs bounds the members: of six wallet rows the five that balance are taken."""
    wallet = [rec(f"w{i}", 1000, batch_id="PO-7") for i in range(5)]
    wallet.append(rec("w5", 777, batch_id="PO-7"))
    result = reconcile(wallet, [rec("b1", 4950, 1, batch_id="PO-7", member_count=5)])
    (batch,) = result.batches
    assert (batch.wallet_ids, batch.residual_minor) == (("w0", "w1", "w2", "w3", "w4"), 0)
    assert [u.record_id for u in result.unmatched] == ["w5"]


def test_batch_count_without_a_single_balancing_choice_takes_the_first_rows() -> None:
    wallet = [rec(f"w{i}", 1000, batch_id="PO-7") for i in range(7)]
    (batch,) = reconcile(wallet, [rec("b1", 5000, 1, batch_id="PO-7", member_count=5)]).batches
    assert (batch.wallet_ids, batch.reasons.endswith("the first 5 taken; net balances")) == (
        ("w0", "w1", "w2", "w3", "w4"),
        True,
    )


def test_batch_members_without_a_reference_are_found_by_the_payment_information_id() -> None:
    wallet = [
        rec("w1", 6000, end_to_end_id="M1", batch_id="P1"),
        rec("w2", 4000, batch_id="P1"),
        rec("w3", 4000, batch_id="P2"),
    ]
    members = (BatchMember(reference="M1"), BatchMember(reference="NOTPROVIDED"))
    bank = [rec("b1", 10000, 1, members=members, batch_id="P1", fee_minor=0)]
    (batch,) = reconcile(wallet, bank).batches
    assert (batch.wallet_ids, batch.residual_minor, batch.missing_members) == (
        ("w1", "w2"),
        0,
        (),
    )


def test_fuzzy_match_takes_the_clear_winner() -> None:
    wallet = [rec("w1", 10000, 0, counterparty="ACME GmbH"), rec("w2", 10040, 3)]
    bank = [rec("b1", 10000, 1, counterparty="Acme GmbH")]
    result = reconcile(wallet, bank, as_of=DAY0)
    assert [(m.wallet_id, m.bank_id, m.pass_no) for m in result.matched] == [("w1", "b1", 3)]


def test_fuzzy_tie_goes_to_review_as_ambiguous_with_candidates() -> None:
    wallet = [rec("w1", 10000, 0, counterparty="A"), rec("w2", 10000, 2, counterparty="B")]
    # Both wallet rows are ambiguous too (they used to fall into missing_in_bank): the
    # reviewer sees the bank row with its two candidates and each candidate with the bank row.
    ambiguous, *wallet_side = reconcile(wallet, [rec("b1", 10000, 1)]).ambiguous
    assert tuple(sorted(c.record_ids[0] for c in ambiguous.candidates)) == ("w1", "w2")
    assert all(isinstance(c, Candidate) for c in ambiguous.candidates)
    assert [(a.side, a.record_id, a.candidates[0].record_ids) for a in wallet_side] == [
        ("wallet", "w1", ("b1",)),
        ("wallet", "w2", ("b1",)),
    ]


def test_unlabelled_batch_found_by_subset_sum_when_not_contiguous() -> None:
    wallet = [rec("w1", 1500, 0), rec("w2", 777, 0), rec("w3", 2500, 1), rec("w4", 333_333, 1)]
    config = ReconcileConfig(batch_fee_max_abs_minor=0)
    result = reconcile(wallet, [rec("b1", 4000, 2)], config, as_of=DAY0)
    (batch,) = result.batches
    assert (batch.wallet_ids, batch.rule) == (("w1", "w3"), "subset_sum")


def test_unlabelled_batch_with_two_solutions_is_ambiguous() -> None:
    wallet = [rec("w1", 100, 0), rec("w2", 400, 0), rec("w3", 200, 0), rec("w4", 300, 0)]
    config = ReconcileConfig(batch_fee_max_abs_minor=0)
    result = reconcile(wallet, [rec("b1", 500, 1)], config, as_of=DAY0)
    assert (result.ambiguous[0].pass_no, len(result.ambiguous[0].candidates)) == (4, 2)


def test_exhausted_subset_sum_budget_is_unresolved_not_missing() -> None:
    wallet = [rec(f"w{i}", 1000 + 7 * i * i, 0) for i in range(20)]
    config = ReconcileConfig(subset_sum_budget=100, batch_fee_max_abs_minor=0)
    result = reconcile(wallet, [rec("b1", 1, 1)], config)
    assert [u.bank_id for u in result.unresolved_batches] == ["b1"]


def test_recent_wallet_rows_are_pending_inside_the_settlement_lag() -> None:
    wallet = [rec("old", 100, 0), rec("new", 200, 9)]
    result = reconcile(wallet, [], as_of=DAY0.replace(day=12))
    assert categories(result) == {
        ("wallet", "old"): "missing_in_bank",
        ("wallet", "new"): "pending",
    }


def test_statement_balance_checks_report_the_difference() -> None:
    good = StatementBalance(
        statement="s1",
        account="ACC",
        currency="EUR",
        opening_minor=100,
        entries_minor=50,
        closing_minor=150,
    )
    bad = StatementBalance(
        statement="s2",
        account="ACC",
        currency="EUR",
        opening_minor=100,
        entries_minor=50,
        closing_minor=149,
    )
    result = reconcile([], [], statements=[good, bad])
    assert [c.difference_minor for c in result.balance_checks] == [0, -1]
    assert result.has_breaks


def test_totals_per_currency_count_breaks_and_their_stake() -> None:
    wallet = [rec("w1", 100), rec("w2", 200, currency="JPY")]
    result = reconcile(wallet, [rec("b1", 100)], as_of=DAY0.replace(day=20))
    eur, jpy = result.totals
    assert (eur.matched_count, eur.break_count) == (1, 0)
    assert (jpy.currency, jpy.break_count, jpy.break_amount_minor) == ("JPY", 1, 200)


# -- properties -------------------------------------------------------------------------------

_refs = st.sampled_from(["", "", "", "R1", "R2", "R3", "NONREF"])
_amounts = st.sampled_from([100, 250, 250, 1000, 1010, 1250, -100, -250, 99_999])


@st.composite
def _records(draw: st.DrawFn, prefix: str) -> list[Record]:
    size = draw(st.integers(0, 12))
    out = []
    for i in range(size):
        out.append(
            rec(
                f"{prefix}{i}",
                draw(_amounts),
                draw(st.integers(0, 6)),
                account=draw(st.sampled_from(["ACC", "ACC", "OTHER"])),
                currency=draw(st.sampled_from(["EUR", "EUR", "JPY"])),
                end_to_end_id=draw(_refs),
                bank_reference=draw(_refs),
                source_id=draw(st.sampled_from(["", "", "S1", "S2"])),
                batch_id=draw(st.sampled_from(["", "", "", "P1"])),
                status=draw(st.sampled_from(list(RecordStatus))),
                counterparty=draw(st.sampled_from(["", "Acme", "acme ltd", "Bob"])),
            )
        )
    return out


_settings = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_settings
@given(_records("w"), _records("b"))
def test_every_record_lands_in_exactly_one_category(
    wallet: list[Record], bank: list[Record]
) -> None:
    result = reconcile(wallet, bank)
    seen = Counter((side, rid) for side, rid, _ in result.assignments())
    expected = Counter([("wallet", r.id) for r in wallet] + [("bank", r.id) for r in bank])
    assert expected == seen  # exactly once each: never twice, never forgotten
    assert {category for _, _, category in result.assignments()} <= set(CATEGORIES)


@_settings
@given(_records("w"), _records("b"), st.randoms(use_true_random=False))
def test_result_is_identical_when_either_input_is_shuffled(
    wallet: list[Record], bank: list[Record], rnd: random.Random
) -> None:
    expected = reconcile(wallet, bank)
    shuffled_wallet, shuffled_bank = list(wallet), list(bank)
    rnd.shuffle(shuffled_wallet)
    rnd.shuffle(shuffled_bank)
    assert expected == reconcile(shuffled_wallet, shuffled_bank)


@_settings
@given(_records("w"), _records("b"))
def test_no_record_is_used_by_two_matches_or_batches(
    wallet: list[Record], bank: list[Record]
) -> None:
    result = reconcile(wallet, bank)
    wallet_uses = Counter(
        [m.wallet_id for m in result.matched]
        + [m.wallet_id for m in result.mismatched]
        + [w for b in result.batches for w in b.wallet_ids]
    )
    bank_uses = Counter(
        [m.bank_id for m in result.matched]
        + [m.bank_id for m in result.mismatched]
        + [b.bank_id for b in result.batches]
    )
    assert all(count == 1 for count in (*wallet_uses.values(), *bank_uses.values()))


def test_the_collector_state_is_restored_after_a_run() -> None:
    import gc

    assert gc.isenabled()
    reconcile([rec("w", 1)], [rec("b", 1)])
    assert gc.isenabled()
    gc.disable()
    try:
        reconcile([rec("w", 1)], [rec("b", 1)])
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_run_leaves_nothing_frozen_and_keeps_the_hosts_frozen_objects_frozen() -> None:
    # The run files its objects with the old generation through freeze/unfreeze; that must
    # neither leave anything in the permanent generation nor release what the host froze.
    import gc

    reconcile([rec("w", 1)], [rec("b", 1)])
    assert gc.get_freeze_count() == 0
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        assert frozen > 0
        reconcile([rec("w", 1)], [rec("b", 1)])
        assert gc.get_freeze_count() >= frozen
    finally:
        gc.unfreeze()


def test_named_and_different_counterparties_never_pair_on_amount_alone() -> None:
    wallet = [rec("w1", 10000, 0, counterparty="John Smith")]
    bank = [rec("b1", 10000, 0, counterparty="PAYPAL EUROPE")]
    result = reconcile(wallet, bank, as_of=DAY0.replace(day=20))
    assert result.matched == ()


@_settings
@given(_records("w"), _records("b"))
def test_running_per_account_gives_the_same_categories_as_one_run(
    wallet: list[Record], bank: list[Record]
) -> None:
    """The documented way to split a large job: per account, with an explicit as_of."""
    as_of = DAY0.replace(day=10)
    whole = sorted(reconcile(wallet, bank, as_of=as_of).assignments())
    wallet_parts, bank_parts = partition(wallet), partition(bank)
    accounts = {account for account, _ in (*wallet_parts, *bank_parts)}
    pieces = []
    for account in accounts:
        part_wallet = [r for r in wallet if r.account == account]
        part_bank = [r for r in bank if r.account == account]
        pieces += reconcile(part_wallet, part_bank, as_of=as_of).assignments()
    assert sorted(pieces) == whole


def test_settlement_across_a_month_boundary_still_matches() -> None:
    from datetime import date

    wallet = [rec("w1", 5000, counterparty="Shop", value_date=date(2026, 1, 31))]
    bank = [rec("b1", 5000, counterparty="SHOP", value_date=date(2026, 2, 2))]
    (pair,) = reconcile(wallet, bank).matched
    assert pair.date_delta_days == 2


def test_a_refund_does_not_pair_with_the_payment_it_reverses() -> None:
    """Opposite directions live in different partitions: a refund never offsets a payment."""
    wallet = [rec("pay", -5000, counterparty="Shop"), rec("refund", 5000, 1, counterparty="Shop")]
    bank = [rec("b-pay", -5000, counterparty="Shop"), rec("b-refund", 5000, 1, counterparty="Shop")]
    pairs = {(m.wallet_id, m.bank_id) for m in reconcile(wallet, bank).matched}
    assert pairs == {("pay", "b-pay"), ("refund", "b-refund")}


def test_failed_wallet_payment_absent_at_the_bank_is_void_not_a_break() -> None:
    wallet = [rec("w1", -5000, 0, status=RecordStatus.FAILED)]
    result = reconcile(wallet, [], as_of=DAY0.replace(day=20))
    assert categories(result) == {("wallet", "w1"): "void"}
    assert not result.has_breaks


def test_failed_in_the_wallet_but_booked_at_the_bank_is_a_status_mismatch() -> None:
    wallet = [rec("w1", -5000, 0, end_to_end_id="E1", status=RecordStatus.FAILED)]
    (mismatch,) = reconcile(wallet, [rec("b1", -5000, 0, end_to_end_id="E1")]).mismatched
    assert [d.field for d in mismatch.diffs] == ["status"]


def test_dense_same_counterparty_neighbours_pair_by_assignment_not_ambiguity() -> None:
    # Within 0.5 % of each other, one party, bank lag of one day: a per-row margin calls
    # them ambiguous; the block assignment pairs each with its own.
    wallet = [rec(f"w{i}", 100_000 + 30 * i, i % 2, counterparty="Shop") for i in range(4)]
    bank = [rec(f"b{i}", 100_000 + 30 * i, i % 2 + 1, counterparty="Shop") for i in range(4)]
    result = reconcile(wallet, bank, as_of=DAY0)
    assert sorted((m.wallet_id, m.bank_id) for m in result.matched) == [
        (f"w{i}", f"b{i}") for i in range(4)
    ]
    assert result.ambiguous == ()
    assert all(
        "amount equal; booked +1 day; counterparty equal" in m.reasons for m in result.matched
    )


def test_exact_pair_explains_itself() -> None:
    result = reconcile([rec("w1", 10, 0, end_to_end_id="E")], [rec("b1", 10, 1, end_to_end_id="E")])
    assert result.matched[0].reasons == "end-to-end id equal; amount equal; booked +1 day"


def test_batch_fee_is_a_fixed_range_per_counterparty() -> None:
    members = [rec(f"w{i}", 10_000, 0, counterparty="Acquirer") for i in range(3)]
    bank = [rec("b1", 30_000 - 250, 1, counterparty="Acquirer")]
    narrow = ReconcileConfig(batch_fees={"Acquirer": [0, 100]})
    assert reconcile(members, bank, narrow, as_of=DAY0).batches == ()
    wide = ReconcileConfig(batch_fees={"acquirer": [200, 300]})
    (batch,) = reconcile(members, bank, wide, as_of=DAY0).batches
    assert (batch.wallet_ids, batch.fee_minor, batch.residual_minor) == (("w0", "w1", "w2"), 250, 0)
    assert "fee in [2.00, 3.00]" in batch.reasons


def test_batch_is_not_broken_by_a_single_member_pairing() -> None:
    # w0 alone could pair 1:1 with "b2" by amount; the payout b1 has no 1:1 candidate and is
    # searched first, so it keeps all its members.
    members = [rec(f"w{i}", 10_000 + i, 0, counterparty="Acquirer") for i in range(3)]
    bank = [rec("b1", 30_003 - 100, 1, counterparty="Acquirer"), rec("b2", 10_000, 1)]
    result = reconcile(members, bank, as_of=DAY0)
    assert [b.wallet_ids for b in result.batches] == [("w0", "w1", "w2")]


def test_mt940_batch_marker_in_text_finds_the_wallet_batch() -> None:
    members = [rec(f"w{i}", 5_000, 0, batch_id="PO123") for i in range(4)]
    bank = [rec("b1", 19_900, 1, text="PAYOUT PO123 card sales")]
    (batch,) = reconcile(members, bank, as_of=DAY0).batches
    assert (batch.rule, batch.fee_minor, len(batch.wallet_ids)) == ("batch_marker", 100, 4)


def test_same_booking_in_two_deliveries_is_reimported_not_duplicate() -> None:
    bank = [
        rec("N1", 700, 0, source="day.xml#1"),
        rec("R1", 700, 0, source="day.mt940#1"),
        rec("N2", 700, 0, source="day.xml#2"),
    ]
    result = reconcile([], bank)
    assert [(r.record_id, r.duplicate_of) for r in result.reimported] == [("R1", "N1")]
    # A twin within one delivery is not a re-import: two equal payments stay two.
    assert sorted(u.record_id for u in result.unmatched) == ["N1", "N2"]


def test_batch_marker_glued_to_a_label_is_found() -> None:
    members = [rec(f"w{i}", 5_000, 0, batch_id="PO-77") for i in range(2)]
    bank = [rec("b1", 10_000, 1, text="/PREF/BATCH:PO-77/")]
    (batch,) = reconcile(members, bank, as_of=DAY0).batches
    assert (batch.rule, batch.wallet_ids) == ("batch_marker", ("w0", "w1"))


def test_one_booking_in_camt_and_mt940_without_a_shared_id_is_reimported() -> None:
    # camt gives its NtryRef (the source id) and the EndToEndId; this MT940 bank writes no
    # "//" bank reference and only its own customer reference, and spells the name its way.
    camt = rec(
        "N1",
        12_345,
        0,
        source_id="NTRY-1",
        end_to_end_id="E2E-7",
        counterparty="Jérôme Müller GmbH",
        source="day.xml#1",
    )
    mt940 = rec(
        "mt940#1",
        12_345,
        0,
        end_to_end_id="CUST-99",
        instruction_id="CUST-99",
        counterparty="JEROME MUELLER GMBH",
        source="day.mt940#1",
    )
    wallet = [rec("w1", 12_345, 0, end_to_end_id="E2E-7")]
    result = reconcile(wallet, [camt, mt940], as_of=DAY0)
    assert [(r.record_id, r.duplicate_of) for r in result.reimported] == [("mt940#1", "N1")]
    assert [(m.wallet_id, m.bank_id) for m in result.matched] == [("w1", "N1")]
    assert result.unmatched == ()


def test_reimports_by_content_pair_on_a_shared_reference_then_in_entry_order() -> None:
    bank = [
        rec("N1", 500, 0, end_to_end_id="A", counterparty="Shop", source="day.xml#1"),
        rec("N2", 500, 0, end_to_end_id="B", counterparty="Shop", source="day.xml#2"),
        rec("N3", 500, 0, counterparty="Shop", source="day.xml#3"),
        rec("R1", 500, 0, end_to_end_id="B", counterparty="SHOP", source="day.mt940#1"),
        rec("R2", 500, 0, end_to_end_id="X", counterparty="SHOP", source="day.mt940#2"),
        rec("R3", 500, 0, end_to_end_id="Y", counterparty="SHOP", source="day.mt940#3"),
    ]
    result = reconcile([], bank)
    pairs = sorted((r.record_id, r.duplicate_of) for r in result.reimported)
    assert pairs == [("R1", "N2"), ("R2", "N1"), ("R3", "N3")]


def test_content_twins_in_two_deliveries_that_contradict_are_not_reimports() -> None:
    bank = [
        rec("N1", 500, 0, bank_reference="R1", counterparty="Shop", source="day.xml#1"),
        rec("R1", 500, 0, bank_reference="R2", counterparty="Shop", source="day.mt940#1"),
        rec("N2", 700, 0, counterparty="Acme Trading", source="day.xml#2"),
        rec("R2", 700, 0, counterparty="Zeta Logistics", source="day.mt940#2"),
        rec("N3", 900, 0, counterparty="Shop", source="day.xml#3"),
        rec("R3", 900, 1, counterparty="Shop", source="day.mt940#3"),
    ]
    assert reconcile([], bank).reimported == ()


def test_reimports_by_content_follow_the_entry_order_of_each_delivery() -> None:
    # Ids do not say where an entry stood in its file; "#n" does.
    bank = [
        rec("N2", 500, 0, counterparty="Shop", source="day.xml#1"),
        rec("N1", 500, 0, counterparty="Shop", source="day.xml#2"),
        rec("R1", 500, 0, counterparty="SHOP", source="day.mt940#1"),
        rec("R2", 500, 0, counterparty="SHOP", source="day.mt940#2"),
    ]
    pairs = sorted((r.record_id, r.duplicate_of) for r in reconcile([], bank).reimported)
    assert pairs == [("R1", "N2"), ("R2", "N1")]
