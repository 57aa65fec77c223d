"""T12: hostile XML and compression bombs are refused fast and in bounded memory.

The payloads are the ones tests/formats/test_xml.py refuses (billion laughs, quadratic
blowup, XXE by file and by http, an external DTD, a parameter entity), run through every
XML parser the banks' files reach, plus gzip and deflate bombs through the transport with
its default reply cap. Each refusal is timed and its memory peak traced.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable

import pytest

from tests.formats.test_xml import HOSTILE, PARSERS
from tests.reliability.conftest import Report, Scale
from tests.test_transport import CONFIG, bomb, reply, transport_with
from walletlink.errors import HostileInputError, ProtocolError
from walletlink.http import PreparedRequest

SECONDS = 1.0
PEAK_BYTES = 50 * 1024 * 1024


def measured(action: Callable[[], object], error: type[Exception]) -> tuple[float, int]:
    """Seconds and traced memory peak of ``action``, which must raise ``error``."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(error):
            action()
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return elapsed, peak


def test_t12_hostile_input_is_refused_fast_in_bounded_memory(scale: Scale, report: Report) -> None:
    rounds = scale.pick(1, 20)
    results: dict[str, tuple[float, int]] = {}
    for _ in range(rounds):
        for name, payload in HOSTILE.items():
            for parser, parse in PARSERS.items():
                elapsed, peak = measured(lambda p=parse, x=payload: p(x), HostileInputError)
                worst = results.get(f"{name}/{parser}", (0.0, 0))
                results[f"{name}/{parser}"] = (max(elapsed, worst[0]), max(peak, worst[1]))
        for encoding in ("gzip", "deflate"):
            wire = bomb(encoding, 256 * 1024 * 1024)
            headers = {"Content-Encoding": encoding}
            transport, _ = transport_with(lambda r, w=wire, h=headers: reply(r, w, h))
            request = PreparedRequest(method="GET", path="/v1/statement")
            url = transport.url_for(CONFIG, request)
            send = transport.send
            elapsed, peak = measured(
                lambda s=send, q=request, u=url: s(CONFIG, q, u), ProtocolError
            )
            worst = results.get(f"{encoding}_bomb", (0.0, 0))
            results[f"{encoding}_bomb"] = (max(elapsed, worst[0]), max(peak, worst[1]))
    slowest = max(results, key=lambda name: results[name][0])
    largest = max(results, key=lambda name: results[name][1])
    report(
        "T12",
        f"{len(results)} hostile inputs x {rounds} rounds: 100% rejected, slowest "
        f"{results[slowest][0]:.2f}s ({slowest}), largest peak "
        f"{results[largest][1] / 2**20:.1f} MB ({largest})",
    )
    assert dict.fromkeys(results, True) == {
        name: elapsed < SECONDS and peak < PEAK_BYTES for name, (elapsed, peak) in results.items()
    }
