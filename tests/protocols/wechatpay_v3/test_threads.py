"""One client shared by threads making their first WeChat Pay call at once: one download of
the platform certificates, and no reply checked before the certificates are in."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.protocols.wechatpay_v3.conftest import make_harness
from walletlink.models import TransferStatus
from walletlink.testing import MockRequest, MockResponse

THREADS = 4


def test_threads_that_all_find_the_certificates_due_share_one_download(tmp_path: Path) -> None:
    harness = make_harness(tmp_path)
    keys = harness.client.adapter(harness.bank.bank_id).keys  # type: ignore[attr-defined]
    barrier = threading.Barrier(THREADS, timeout=30)
    asked = threading.local()
    due = keys.due

    def gated() -> bool:
        # Each thread's first look: all of them see no download yet, then go on together.
        answer: bool = due()
        if not getattr(asked, "once", False):
            asked.once = True
            barrier.wait()
        return answer

    keys.due = gated
    requests = [harness.request(remittance=f"first {index}") for index in range(THREADS)]
    try:
        with ThreadPoolExecutor(THREADS) as pool:
            transfers = list(
                pool.map(lambda r: harness.client.transfer(harness.bank.bank_id, r), requests)
            )
    finally:
        harness.client.close()
    assert harness.paths().count("/v3/certificates") == 1
    assert len({t.id for t in transfers}) == THREADS
    assert TransferStatus.UNKNOWN not in {t.status for t in transfers}


def test_a_call_made_while_the_first_download_is_on_the_wire_waits_for_it(
    tmp_path: Path,
) -> None:
    """The second thread looks after the first one's download went out, before its reply
    came back: it joins that download instead of sending its transfer unchecked."""
    harness = make_harness(tmp_path)
    arrived, release, progressed = threading.Event(), threading.Event(), threading.Event()
    answer = harness.bank.handle
    after_download: list[bool] = []

    def second() -> bool:
        return threading.current_thread().name == "second"

    def handle(request: MockRequest) -> MockResponse:
        if request.path == "/v3/certificates":
            arrived.set()
            assert release.wait(timeout=30)
        else:
            after_download.append(release.is_set())
            if second():
                progressed.set()  # sent without waiting: the bug
        return answer(request)

    class WatchedLock:
        """The client's lock for the download; says when the second thread waits on it."""

        def __init__(self) -> None:
            self._lock = threading.Lock()

        def __enter__(self) -> None:
            if second():
                progressed.set()
            self._lock.acquire()

        def __exit__(self, *exc_info: object) -> None:
            self._lock.release()

    harness.bank.handle = handle  # type: ignore[method-assign]
    shared = harness.client._bank(harness.bank.bank_id).shared
    shared._thread_locks["certificates"] = WatchedLock()  # type: ignore[assignment]
    outcomes: dict[str, object] = {}

    def run(remittance: str) -> None:
        name = threading.current_thread().name
        outcomes[name] = harness.client.transfer(
            harness.bank.bank_id, harness.request(remittance=remittance)
        )

    threads = [threading.Thread(target=run, args=(n,), name=n) for n in ("first", "second")]
    try:
        threads[0].start()
        assert arrived.wait(timeout=30)
        threads[1].start()
        assert progressed.wait(timeout=30)
        release.set()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        harness.client.close()
    assert harness.paths().count("/v3/certificates") == 1
    assert set(outcomes) == {"first", "second"}
    assert after_download == [True, True]  # neither transfer went out before the download
