from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from walletlink.reconcile import ReconcileConfig, Record, fuzzy, reconcile
from walletlink.reconcile._state import RunState
from walletlink.reconcile.fuzzy import counterparty_similarity

from .factories import DAY0, rec


@pytest.mark.parametrize(
    ("left", "right", "score"),
    [
        ("ACME GmbH", "acme gmbh", 1.0),
        ("ACME Supplies Ltd", "ACME Supplies", 1.0),  # a legal form is not a name
        ("ACME Supplies Ltd", "ACME Trading Limited", 1 / 3),
        ("Jérôme Müller", "JEROME MUELLER", 1.0),  # MT940 has no accents
        ("Jérôme Müller", "Jerome Muller", 1.0),
        ("Zoë Consulting International Holding", "ZOE CONSULTING INTERNATIONAL HOLDI", 1.0),
        ("Zoë Consulting", "ZOE CONSULTING INTERNATIONAL HOLDI", 0.5),  # too short to be cut
        ("John Smith", "PayPal Europe", 0.0),
        ("", "anyone", 0.5),
        ("--", "anyone", 0.5),
    ],
)
def test_counterparty_similarity(left: str, right: str, score: float) -> None:
    assert counterparty_similarity(left, right) == pytest.approx(score)


def test_amount_outside_the_tolerance_is_not_a_candidate() -> None:
    config = ReconcileConfig(amount_tolerance_bps=10)  # 0.1 % of 100.00 = 0.10
    wallet = [rec("w1", 10_000, counterparty="Shop")]
    result = reconcile(wallet, [rec("b1", 10_011, counterparty="Shop")], config)
    assert result.matched == ()
    assert result.mismatched == ()


def test_drift_within_the_tolerance_is_a_fuzzy_amount_mismatch() -> None:
    wallet = [rec("w1", 10_000, counterparty="Shop")]
    (mismatch,) = reconcile(wallet, [rec("b1", 10_030, 1, counterparty="Shop")]).mismatched
    assert (mismatch.pass_no, mismatch.rule, mismatch.amount_delta_minor) == (3, "fuzzy", 30)


def test_candidates_are_capped_per_row() -> None:
    config = ReconcileConfig(max_candidates=1)
    wallet = [rec("w1", 10_000, 0, counterparty="A"), rec("w2", 10_000, 2, counterparty="B")]
    result = reconcile(wallet, [rec("b1", 10_000, 1)], config, as_of=DAY0)
    # With one candidate seen there is no second to tie with: the cap trades review for speed.
    assert len(result.matched) == 1


def test_unlabelled_batch_members_must_resemble_the_named_payer() -> None:
    wallet = [
        rec("w1", 3000, 0, counterparty="Acquirer 7"),
        rec("w2", 2000, 0, counterparty="Customer 12"),
        rec("w3", 2000, 0, counterparty="Acquirer 7"),
    ]
    bank = [rec("b1", 5000, 1, counterparty="ACQUIRER 7")]
    config = ReconcileConfig(batch_fee_max_abs_minor=0)
    (batch,) = reconcile(wallet, bank, config, as_of=DAY0).batches
    assert batch.wallet_ids == ("w1", "w3")


def test_nearest_amounts_outside_the_date_window_do_not_use_up_the_cap() -> None:
    config = ReconcileConfig(max_candidates=1)
    far = [rec(f"far{i}", 10_000, 0, counterparty="Shop") for i in range(3)]
    near = rec("near", 10_030, 20, counterparty="Shop")
    result = reconcile([*far, near], [rec("b1", 10_000, 21, counterparty="Shop")], config)
    assert [(m.wallet_id, m.bank_id) for m in result.mismatched] == [("near", "b1")]


def test_equal_amount_outweighs_a_closer_date() -> None:
    # b0 is w0 booked two days late; w1 is a same-day neighbour two cents off. Amount
    # equality decides, so neither pairing crosses and nothing is ambiguous.
    wallet = [
        rec("w0", 100_000, 0, counterparty="Shop"),
        rec("w1", 100_002, 2, counterparty="Shop"),
    ]
    bank = [rec("b0", 100_000, 2, counterparty="Shop"), rec("b1", 100_002, 2, counterparty="Shop")]
    result = reconcile(wallet, bank, as_of=DAY0)
    assert sorted((m.wallet_id, m.bank_id) for m in result.matched) == [("w0", "b0"), ("w1", "b1")]


def test_named_payout_takes_unnamed_members_but_not_other_payers() -> None:
    # Unnamed wallet rows are "no evidence" (0.5), enough at the default threshold; rows of
    # another payer are not.
    wallet = [
        rec("w1", 4_000, 0),
        rec("w2", 6_000, 0, counterparty="Acquirer"),
        rec("w3", 5_000, 0, counterparty="Landlord"),
    ]
    result = reconcile(wallet, [rec("b1", 9_900, 1, counterparty="Acquirer")], as_of=DAY0)
    assert [b.wallet_ids for b in result.batches] == [("w1", "w2")]


def test_identical_bank_rows_for_one_wallet_row_pair_once_not_ambiguous() -> None:
    wallet = [rec("w1", 700, 0, counterparty="Shop"), rec("w2", 900, 0, counterparty="Shop")]
    bank = [
        rec("b1", 700, 1, counterparty="Shop"),
        rec("b2", 700, 1, counterparty="Shop"),
        rec("b3", 900, 0, counterparty="Shop"),
    ]
    result = reconcile(wallet, bank, as_of=DAY0)
    assert sorted((m.wallet_id, m.bank_id) for m in result.matched) == [("w1", "b1"), ("w2", "b3")]
    assert result.ambiguous == ()
    assert [(d.record_id, d.duplicate_of) for d in result.duplicates] == [("b2", "b1")]


def test_a_second_booking_never_takes_a_neighbours_wallet_row() -> None:
    # One customer pays 66.01 on two days; the bank books each a day late and sends the
    # first booking twice (b1x: the same content, a new id). Pairing w2 with b1x would be a
    # day closer, but it would leave b2 without its payment: b1x is the duplicate.
    wallet = [rec("w1", 6601, 0, counterparty="Anaïs"), rec("w2", 6601, 1, counterparty="Anaïs")]
    bank = [
        rec("b1", 6601, 1, counterparty="Anaïs", source_id="R1"),
        rec("b1x", 6601, 1, counterparty="Anaïs", source_id="R9"),
        rec("b2", 6601, 2, counterparty="Anaïs", source_id="R2"),
    ]
    result = reconcile(wallet, bank, ReconcileConfig(date_window_days=5), as_of=DAY0)
    assert sorted((m.wallet_id, m.bank_id) for m in result.matched) == [("w1", "b1"), ("w2", "b2")]
    assert [(d.record_id, d.duplicate_of) for d in result.duplicates] == [("b1x", "b1")]
    assert result.unmatched == ()


def test_two_equal_bookings_of_one_day_both_pair_when_two_payments_exist() -> None:
    # Saturday's and Sunday's equal payments are both booked on Monday: identical bank rows,
    # but two wallet rows to explain, so the second booking still pairs.
    wallet = [rec("sat", 1500, 5, counterparty="Zoë"), rec("sun", 1500, 6, counterparty="Zoë")]
    bank = [rec("m1", 1500, 7, counterparty="ZOE"), rec("m2", 1500, 7, counterparty="ZOE")]
    result = reconcile(wallet, bank, as_of=DAY0)
    assert sorted(m.wallet_id for m in result.matched) == ["sat", "sun"]
    assert result.duplicates == ()
    assert result.ambiguous == ()


def test_a_second_booking_is_a_duplicate_not_a_one_member_payout() -> None:
    # b1x is b1 sent again. A wallet row of another payer sums to it with a fee of 1.51,
    # but a second booking of a settled entry is no payout: it is b1's duplicate, and the
    # wallet row stays missing in the bank.
    config = ReconcileConfig(batch_min_members=1, batch_fee_max_abs_minor=300)
    wallet = [
        rec("w1", 4508, 0, counterparty="Müller Boulangerie 3104"),
        rec("other", 4659, 0, counterparty="Müller Boulangerie 4903"),
    ]
    bank = [
        rec("b1", 4508, 2, counterparty="MÜLLER BOULANGERIE 3104 LTD", source_id="R1"),
        rec("b1x", 4508, 2, counterparty="MÜLLER BOULANGERIE 3104 LTD", source_id="R2"),
    ]
    result = reconcile(wallet, bank, config, as_of=DAY0 + timedelta(days=30))
    assert [(m.wallet_id, m.bank_id) for m in result.matched] == [("w1", "b1")]
    assert result.batches == ()
    assert [(d.record_id, d.duplicate_of) for d in result.duplicates] == [("b1x", "b1")]
    assert [(u.record_id, u.category) for u in result.unmatched] == [("other", "missing_in_bank")]


def test_the_duplicate_in_a_run_is_the_one_that_breaks_the_payers_lag() -> None:
    # Wednesday to Sunday, one payment a day, each booked two business days later: Friday,
    # Monday, Tuesday, and Wednesday twice (Saturday's and Sunday's). The bank also sent
    # Friday's booking twice. Either Friday row or either Wednesday row could be "the extra
    # one" by amount and name; only the lag-regular reading pairs every row two days late.
    wallet = [rec(f"w{day}", 11_879, day, counterparty="Müller Handel") for day in range(16, 21)]
    bank = [
        rec(f"b{n}", 11_879, day, counterparty="MÜLLER HANDEL", source_id=f"R{n}")
        for n, day in enumerate((18, 18, 21, 22, 23, 23))
    ]
    config = ReconcileConfig(date_window_days=5, key_date_tolerance_days=5)
    result = reconcile(wallet, bank, config, as_of=DAY0)
    booked = {m.wallet_id: result_day(bank, m.bank_id) for m in result.matched}
    assert booked == {"w16": 18, "w17": 21, "w18": 22, "w19": 23, "w20": 23}
    assert [result_day(bank, d.record_id) for d in result.duplicates] == [18]
    assert result.unmatched == ()


def result_day(bank: list[Record], record_id: str) -> int:
    (record,) = [r for r in bank if r.id == record_id]
    return (record.value_date - DAY0).days


_WORDS = ["acme", "Customer", "12", "1234", "GmbH", "Ltd", "Müller", "mueller", "Zoë", "--"]
_LONG = "Zoe Consulting International Holding"  # long enough to be cut short by a bank
_NAMES = st.one_of(
    st.lists(st.sampled_from(_WORDS), max_size=4).map(" ".join),
    st.sampled_from([_LONG, _LONG[:30], _LONG[:27].upper(), ""]),
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(_NAMES, st.integers(0, 6), st.booleans()), min_size=1, max_size=30),
    _NAMES.filter(lambda name: bool(fuzzy._tokens(name))),
    st.sampled_from([0.05, 0.3, 1 / 3, 0.5, 0.6, 2 / 3, 0.75, 1.0]),
    st.integers(0, 6),
)
def test_named_window_finds_what_a_scan_of_every_shared_token_finds(
    rows: list[tuple[str, int, bool]], name: str, threshold: float, last_day: int
) -> None:
    # The token lists skip what no similar row needs (a prefix filter on the Jaccard), and
    # small partitions are scanned instead: either way the rows found are exactly those of
    # the plain scan (any shared token, then the similarity).
    wallet = [rec(f"w{i}", 100, day, counterparty=party) for i, (party, day, _) in enumerate(rows)]
    state = RunState(wallet, [], ReconcileConfig())
    for i, (_, _, used) in enumerate(rows):
        state.wallet_used[i] = used
    order = sorted(range(len(wallet)), key=lambda i: (state.wallet_day[i], i))
    first_day = state.wallet_day[0] - rows[0][1] + last_day - 3
    last = first_day + 3
    tokens = fuzzy._tokens(name)
    expected = [
        i
        for i in order
        if not state.wallet_used[i]
        and first_day <= state.wallet_day[i] <= last
        and (
            tokens & fuzzy._tokens(wallet[i].counterparty)
            or (not fuzzy._tokens(wallet[i].counterparty) and threshold <= 0.5)
        )
        and counterparty_similarity(wallet[i].counterparty, name) >= threshold
    ]
    index = fuzzy._WindowIndex(state, order)
    assert index.named(name, first_day, last, threshold) == expected  # a scan of the window
    index._scanned = len(order)  # as if the windows had added up: the token lists are built
    assert index.named(name, first_day, last, threshold) == expected
    assert index._tokens is not None
