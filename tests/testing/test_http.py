"""Both transports: faults become real ``requests`` exceptions; loopback, keep-alive, mTLS."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError, ReadTimeoutError

from tests.protocols.generic_rest.conftest import API_KEY, BASE, make_bank, make_body, post_transfer
from walletlink.config import Timeout
from walletlink.testing import (
    FaultKind,
    FaultPlan,
    MockBank,
    MockRequest,
    MockResponse,
    ServerTLS,
    register_protocol_server,
)

AUTH = {"Authorization": f"Bearer {API_KEY}"}


def session_for(bank: MockBank) -> requests.Session:
    session = requests.Session()
    session.headers.update(AUTH)
    bank.mount(session)
    return session


def replay_status(bank: MockBank) -> tuple[int, str | None]:
    """Ask the bank itself (no faults) for key-1 again: a replay proves it executed once."""
    response = bank.handle(
        MockRequest.build(
            "POST",
            f"{BASE}/v1/transfers",
            headers={**AUTH, "Idempotency-Key": "key-1"},
            body=json.dumps(make_body()).encode(),
        )
    )
    return response.status, response.headers.get("Idempotent-Replayed")


# -- in process ---------------------------------------------------------------------------


def test_connect_refused_looks_like_a_refused_socket() -> None:
    bank = make_bank(FaultPlan(connect_refused=1.0))
    with session_for(bank) as session, pytest.raises(requests.ConnectionError) as caught:
        post_transfer(session)
    wrapped = caught.value.args[0]
    assert isinstance(wrapped, MaxRetryError)
    assert isinstance(wrapped.reason, NewConnectionError)
    assert (bank.transfers(), bank.stats.get("requests")) == ([], None)


@pytest.mark.parametrize(
    ("kind", "executed"),
    [(FaultKind.RESET_BEFORE_COMMIT, False), (FaultKind.RESET_AFTER_COMMIT, True)],
)
def test_resets_are_connection_aborted(kind: FaultKind, executed: bool) -> None:
    bank = make_bank(FaultPlan.of(kind))
    with session_for(bank) as session, pytest.raises(requests.ConnectionError) as caught:
        post_transfer(session)
    wrapped = caught.value.args[0]
    assert isinstance(wrapped, ProtocolError)
    assert isinstance(wrapped.args[1], ConnectionResetError)
    assert len(bank.transfers()) == int(executed)
    assert replay_status(bank) == ((201, "true") if executed else (201, None))


def test_dropped_response_is_a_read_timeout_after_executing() -> None:
    bank = make_bank(FaultPlan(drop_response_after_commit=1.0))
    with session_for(bank) as session, pytest.raises(requests.ReadTimeout) as caught:
        post_transfer(session)
    assert isinstance(caught.value.args[0], ReadTimeoutError)
    assert replay_status(bank) == (201, "true")


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        (FaultKind.RATE_LIMIT, 429, "rate_limited"),
        (FaultKind.SERVER_ERROR, 500, "internal_error"),
        (FaultKind.UNAVAILABLE, 503, "unavailable"),
    ],
)
def test_error_statuses_do_not_execute(kind: FaultKind, status: int, code: str) -> None:
    bank = make_bank(FaultPlan.of(kind, retry_after=7))
    with session_for(bank) as session:
        response = post_transfer(session)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    if kind is FaultKind.RATE_LIMIT:
        assert response.headers["Retry-After"] == "7"
    assert bank.transfers() == []
    assert bank.stats[f"fault.{kind.value}"] == 1


def test_malformed_body_executes_and_truncates() -> None:
    bank = make_bank(FaultPlan(malformed_body=1.0))
    with session_for(bank) as session:
        response = post_transfer(session)
    assert response.status_code == 201
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
    assert replay_status(bank) == (201, "true")


def test_latency_advances_the_clock() -> None:
    bank = make_bank(FaultPlan(latency=(2.5, 2.5)))
    with session_for(bank) as session:
        post_transfer(session)
    assert bank.clock.monotonic() == 2.5


def test_latency_beyond_the_read_timeout_executes_then_times_out() -> None:
    bank = make_bank(FaultPlan(latency=(3.0, 3.0)))
    with session_for(bank) as session, pytest.raises(requests.ReadTimeout):
        session.post(
            f"{BASE}/v1/transfers",
            json=make_body(),
            headers={"Idempotency-Key": "key-1"},
            timeout=(1, 2),
        )
    assert replay_status(bank) == (201, "true")


def test_only_methods_spares_reads() -> None:
    bank = make_bank(FaultPlan(unavailable=1.0, only_methods={"POST"}))
    with session_for(bank) as session:
        assert session.get(f"{BASE}/v1/transfers", timeout=5).status_code == 200
        assert post_transfer(session).status_code == 503


def outcomes(seed: int, count: int = 40) -> list[str]:
    plan = FaultPlan(
        seed=seed,
        connect_refused=0.1,
        reset_before_commit=0.1,
        reset_after_commit=0.1,
        drop_response_after_commit=0.1,
        unavailable=0.1,
    )
    bank = make_bank(plan)
    seen = []
    with session_for(bank) as session:
        for index in range(count):
            try:
                seen.append(str(post_transfer(session, key=f"k{index}", amount="0.01").status_code))
            except requests.RequestException as error:
                seen.append(type(error).__name__)
    return seen


def test_same_seed_same_fault_sequence_over_http() -> None:
    first = outcomes(seed=11)
    assert first == outcomes(seed=11)
    assert first != outcomes(seed=12)
    assert {"201", "503", "ConnectionError", "ReadTimeout"} == set(first)


# -- loopback -----------------------------------------------------------------------------


@pytest.fixture
def served_bank() -> Iterator[tuple[MockBank, str]]:
    bank = make_bank()
    with bank.serve() as served:
        yield bank, served.url


def test_loopback_speaks_the_same_protocol(served_bank: tuple[MockBank, str]) -> None:
    bank, url = served_bank
    assert url.startswith("http://127.0.0.1:")
    with requests.Session() as session:
        session.headers.update(AUTH)
        created = post_transfer(session, base=url)
        again = post_transfer(session, base=url)
        balances = session.get(
            f"{url}/v1/accounts/{make_body()['debtor_account']['value']}/balances", timeout=5
        )
    assert (created.status_code, again.content, again.headers["Idempotent-Replayed"]) == (
        201,
        created.content,
        "true",
    )
    assert balances.json()["data"][1]["amount"] == "87.70"
    assert bank.stats["requests"] == 3


def test_served_config_points_at_the_server() -> None:
    with make_bank().serve() as served:
        assert served.config().base_url == served.url
        assert served.config(timeout=5).timeout == Timeout(read=5)


def test_concurrent_duplicates_execute_once(served_bank: tuple[MockBank, str]) -> None:
    bank, url = served_bank
    barrier = threading.Barrier(4)
    statuses: list[tuple[int, str | None]] = []

    def submit() -> None:
        with requests.Session() as session:
            session.headers.update(AUTH)
            barrier.wait()
            response = post_transfer(session, base=url)
            statuses.append((response.status_code, response.headers.get("Idempotent-Replayed")))

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(bank.transfers()) == 1
    assert statuses.count((201, None)) == 1
    assert {status for status, _ in statuses} <= {201, 409}


@pytest.mark.parametrize(
    ("kind", "executed"),
    [
        (FaultKind.CONNECT_REFUSED, False),
        (FaultKind.RESET_BEFORE_COMMIT, False),
        (FaultKind.RESET_AFTER_COMMIT, True),
        (FaultKind.DROP_RESPONSE_AFTER_COMMIT, True),
    ],
)
def test_loopback_faults_break_the_connection(kind: FaultKind, executed: bool) -> None:
    bank = make_bank(FaultPlan.of(kind, only_methods={"POST"}))
    with bank.serve() as served, requests.Session() as session:
        session.headers.update(AUTH)
        with pytest.raises(requests.ConnectionError):
            post_transfer(session, base=served.url)
        # The pool recovers: the next (unfaulted) request on the same session works.
        assert session.get(f"{served.url}/v1/transfers", timeout=5).status_code == 200
    assert len(bank.transfers()) == int(executed)


def test_loopback_malformed_body_keeps_http_framing() -> None:
    bank = make_bank(FaultPlan(malformed_body=1.0))
    with bank.serve() as served, requests.Session() as session:
        session.headers.update(AUTH)
        response = post_transfer(session, base=served.url)
    assert response.status_code == 201
    assert int(response.headers["Content-Length"]) == len(response.content)
    with pytest.raises(json.JSONDecodeError):
        response.json()


# -- TLS ----------------------------------------------------------------------------------


class _EchoCertificate:
    """A protocol server that answers with the client certificate's subject."""

    def __init__(self, bank: MockBank) -> None:
        self.bank = bank

    def handle(self, request: MockRequest) -> MockResponse:
        subject = request.client_cert.subject.rfc4514_string() if request.client_cert else None
        return MockResponse.json(200, {"subject": subject})

    def fault_response(self, kind: FaultKind, retry_after: int) -> MockResponse:
        return MockResponse.json(503, {})

    def webhooks_for(self, transfer: Any) -> list[Any]:
        return []


register_protocol_server("echo_certificate", _EchoCertificate)


@pytest.fixture
def pki(tmp_path: Path) -> Mapping[str, Any]:
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1")
    client = ca.issue_cert("wallet.example", common_name="wallet.example")
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    client.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "client.pem"))
    tls = ServerTLS(
        cert_chain_pem=b"".join(blob.bytes() for blob in server.cert_chain_pems),
        key_pem=server.private_key_pem.bytes(),
        client_ca_pem=ca.cert_pem.bytes(),
    )
    return {"tls": tls, "ca": str(tmp_path / "ca.pem"), "client": str(tmp_path / "client.pem")}


def test_mutual_tls_passes_the_client_certificate(pki: Mapping[str, Any]) -> None:
    bank = MockBank("echo_certificate")
    with bank.serve(tls=pki["tls"]) as served:
        assert served.url.startswith("https://127.0.0.1:")
        with requests.Session() as session:
            response = session.get(
                f"{served.url}/whoami", verify=pki["ca"], cert=pki["client"], timeout=5
            )
        assert response.json()["subject"].startswith("CN=wallet.example,")
        with requests.Session() as session, pytest.raises(requests.ConnectionError):
            session.get(f"{served.url}/whoami", verify=pki["ca"], timeout=5)


def test_tls_without_client_ca_accepts_any_client(pki: Mapping[str, Any]) -> None:
    tls = ServerTLS(cert_chain_pem=pki["tls"].cert_chain_pem, key_pem=pki["tls"].key_pem)
    with MockBank("echo_certificate").serve(tls=tls) as served, requests.Session() as session:
        response = session.get(f"{served.url}/whoami", verify=pki["ca"], timeout=5)
    assert response.json() == {"subject": None}


def test_untrusted_server_certificate_is_refused(pki: Mapping[str, Any]) -> None:
    with (
        MockBank("echo_certificate").serve(tls=pki["tls"]) as served,
        requests.Session() as session,
        pytest.raises(requests.exceptions.SSLError),
    ):
        session.get(f"{served.url}/whoami", cert=pki["client"], timeout=5)
