"""T16: a bank certificate the client cannot trust is refused, and nothing is sent.

The mock bank serves TLS on loopback with a self-signed certificate, a certificate from a
CA the client does not trust, an expired one, and one for another host name. The client
pins the bank's CA wherever that is what would otherwise make the certificate valid, so
only the defect decides. A control run with a good certificate and the same pin succeeds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme

from tests.reliability._world import CREDITORS, DEBTOR
from tests.reliability.conftest import Report, Scale
from walletlink import Client, RetryPolicy
from walletlink.errors import TransportError
from walletlink.journal import MemoryJournal
from walletlink.models import Party, TransferRequest
from walletlink.money import Money
from walletlink.testing import MockBank, ServerTLS

#: What the refusal must say: the defect itself, not some other failure.
REASONS = {
    "self_signed": "self-signed certificate",
    "untrusted_ca": "not issued by a trusted CA",
    "expired": "certificate expired",
    "wrong_host": "for another host",
    "good": "(none)",
}
KINDS = list(REASONS)


def server_tls(kind: str, ca: trustme.CA) -> ServerTLS:
    if kind == "self_signed":
        return ServerTLS(cert_chain_pem=ca.cert_pem.bytes(), key_pem=ca.private_key_pem.bytes())
    if kind == "untrusted_ca":
        ca = trustme.CA()  # issued by a CA nobody pinned
    past = datetime.now(UTC) - timedelta(days=1)
    leaf = ca.issue_cert(
        "mock.bank.test" if kind == "wrong_host" else "127.0.0.1",
        not_before=past - timedelta(days=30) if kind == "expired" else None,
        not_after=past if kind == "expired" else None,
    )
    return ServerTLS(
        cert_chain_pem=b"".join(blob.bytes() for blob in leaf.cert_chain_pems),
        key_pem=leaf.private_key_pem.bytes(),
    )


@pytest.mark.parametrize("kind", KINDS)
def test_t16_untrusted_certificates_are_refused(
    kind: str, tmp_path: Path, scale: Scale, report: Report
) -> None:
    attempts = scale.pick(5, 200)
    ca = trustme.CA()
    pin = tmp_path / "bank-ca.pem"
    ca.cert_pem.write_to_path(str(pin))
    bank = MockBank("generic_rest", bank_id="acme")
    bank.open_account(DEBTOR, Money("1000.00", "EUR"))
    bank.open_account(CREDITORS[0], Money("0.00", "EUR"))
    refused = 0
    with bank.serve(tls=server_tls(kind, ca)) as served:
        # A self-signed certificate is refused under the system's trust store; pinning it
        # would be trusting it on purpose.
        config = served.config(ca_bundle=None if kind == "self_signed" else str(pin))
        retry = RetryPolicy(sleep=lambda _: None)
        with Client([config], journal=MemoryJournal(), retry=retry) as client:
            for n in range(attempts):
                request = TransferRequest(
                    amount=Money("1.00", "EUR"),
                    debtor_account=DEBTOR,
                    creditor=Party(name="Ada Lovelace", account=CREDITORS[0]),
                    payout_id=f"tls-{kind}-{n}",
                )
                try:
                    client.transfer("acme", request)
                except TransportError as exc:
                    refused += REASONS[kind] in str(exc)
    executed = len(bank.transfers())
    expected_refused = 0 if kind == "good" else attempts
    report(
        "T16",
        f"{kind}: {attempts} transfers, {100 * refused // attempts}% refused, {executed} "
        "reached the bank",
    )
    assert (expected_refused, attempts - expected_refused) == (refused, executed)
