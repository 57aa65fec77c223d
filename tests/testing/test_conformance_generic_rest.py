"""generic_rest and its mock bank pass the shared conformance suite."""

from walletlink.models import TransferRequest
from walletlink.testing.conformance import AdapterConformance
from walletlink.testing.mockbank import MockBank


class TestGenericRestConformance(AdapterConformance):
    protocol = "generic_rest"
    payment_path = "/v1/transfers"
    request_id_header = "Request-Id"

    def refused_requests(self, bank: MockBank) -> list[TransferRequest]:
        """The key travels as a header: visible ASCII only."""
        return [*super().refused_requests(bank), self._request(bank, idempotency_key="clé-42")]
