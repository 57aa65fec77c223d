"""The berlin_group adapter and its mock bank pass the adapter conformance suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from walletlink.client import Client
from walletlink.config import BankConfig
from walletlink.models import Transfer, TransferStatus
from walletlink.testing.berlin_group import BerlinGroupServer
from walletlink.testing.conformance import AdapterConformance
from walletlink.testing.mockbank import MockBank, ServedBank


def _server(bank: MockBank) -> BerlinGroupServer:
    assert isinstance(bank.server, BerlinGroupServer)
    return bank.server


class TestBerlinGroupConformance(AdapterConformance):
    protocol = "berlin_group"

    @pytest.fixture(autouse=True)
    def _files(self, tmp_path: Path) -> None:
        # The loopback run writes the QWAC and CA files that requests reads.
        self.files = tmp_path

    def make_config(self, bank: MockBank) -> BankConfig:
        return bank.config(**_server(bank).client_config_fields())

    def complete_action(self, bank: MockBank, client: Client, transfer: Transfer) -> Transfer:
        """SCA by redirect: the PSU approves at the mock bank, then the wallet polls."""
        if transfer.status is not TransferStatus.REQUIRES_ACTION:
            return transfer
        assert transfer.next_action is not None
        _server(bank).approve_payment(transfer.next_action.data["payment_id"])
        return client.get_transfer(transfer.id)

    def serve(self, bank: MockBank) -> tuple[ServedBank, BankConfig]:
        """Loopback behind mutual TLS: the client presents the TPP's QWAC."""
        server = _server(bank)
        server.auth.require_qwac = True
        served = bank.serve(tls=server.pki.server_tls())
        files = server.pki.client_files(server.tpp, self.files)
        return served, served.config(**server.client_config_fields(), **files)
