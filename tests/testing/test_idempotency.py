from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from walletlink.testing import FakeClock, IdempotencyStore
from walletlink.testing.idempotency import Claim, ClaimState, request_fingerprint

FP = request_fingerprint("POST", "/v1/transfers", b'{"a":1}')


def test_claim_then_replay() -> None:
    store: IdempotencyStore[str] = IdempotencyStore(FakeClock().now)
    assert Claim(ClaimState.CLAIMED) == store.begin("scope", "k", FP)
    assert Claim(ClaimState.IN_FLIGHT) == store.begin("scope", "k", FP)
    store.complete("scope", "k", "the response")
    assert Claim(ClaimState.REPLAY, "the response") == store.begin("scope", "k", FP)


def test_different_parameters_are_a_mismatch_in_flight_or_done() -> None:
    store: IdempotencyStore[str] = IdempotencyStore(FakeClock().now)
    other = request_fingerprint("POST", "/v1/transfers", b'{"a":2}')
    store.begin("scope", "k", FP)
    assert store.begin("scope", "k", other).state == ClaimState.MISMATCH
    store.complete("scope", "k", "done")
    assert store.begin("scope", "k", other).state == ClaimState.MISMATCH


def test_release_frees_the_key() -> None:
    store: IdempotencyStore[str] = IdempotencyStore(FakeClock().now)
    store.begin("scope", "k", FP)
    store.release("scope", "k")
    assert store.begin("scope", "k", FP).state == ClaimState.CLAIMED


def test_release_never_drops_a_stored_response() -> None:
    store: IdempotencyStore[str] = IdempotencyStore(FakeClock().now)
    store.begin("scope", "k", FP)
    store.complete("scope", "k", "done")
    store.release("scope", "k")
    assert store.begin("scope", "k", FP).state == ClaimState.REPLAY


def test_scopes_are_independent() -> None:
    store: IdempotencyStore[str] = IdempotencyStore(FakeClock().now)
    store.begin("one", "k", FP)
    assert store.begin("two", "k", FP).state == ClaimState.CLAIMED


def test_keys_expire_after_24_hours_on_the_clock() -> None:
    clock = FakeClock()
    store: IdempotencyStore[str] = IdempotencyStore(clock.now)
    store.begin("scope", "k", FP)
    store.complete("scope", "k", "done")
    clock.advance(timedelta(hours=24).total_seconds() - 1)
    assert store.begin("scope", "k", FP).state == ClaimState.REPLAY
    clock.advance(1)
    assert store.begin("scope", "k", FP).state == ClaimState.CLAIMED


def test_complete_needs_a_claim() -> None:
    store: IdempotencyStore[str] = IdempotencyStore(FakeClock().now)
    with pytest.raises(RuntimeError):
        store.complete("scope", "k", "done")


def test_json_bodies_compare_by_value_others_by_bytes() -> None:
    assert request_fingerprint("POST", "/p", b'{"a":1,"b":2}') == request_fingerprint(
        "POST", "/p", b'{ "b": 2, "a": 1 }'
    )
    assert request_fingerprint("POST", "/p", b"x=1") != request_fingerprint("POST", "/p", b"x=2")
    assert request_fingerprint("POST", "/p", b"{}") != request_fingerprint("POST", "/q", b"{}")


def test_exactly_one_of_many_concurrent_claims_wins() -> None:
    store: IdempotencyStore[str] = IdempotencyStore(FakeClock().now)
    barrier = threading.Barrier(8)
    states: list[ClaimState] = []

    def claim() -> None:
        barrier.wait()
        states.append(store.begin("scope", "k", FP).state)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (
        sorted(states, key=lambda s: s is not ClaimState.CLAIMED)
        == [ClaimState.CLAIMED] + [ClaimState.IN_FLIGHT] * 7
    )
