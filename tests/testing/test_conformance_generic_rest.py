"""generic_rest and its mock bank pass the shared conformance suite."""

from walletlink.testing.conformance import AdapterConformance


class TestGenericRestConformance(AdapterConformance):
    protocol = "generic_rest"
    payment_path = "/v1/transfers"
    request_id_header = "Request-Id"
