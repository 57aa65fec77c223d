"""The HTTP message types reach hooks, logs and tracebacks: their reprs must be safe."""

from __future__ import annotations

from walletlink.http import PreparedRequest, RawResponse


def test_a_request_repr_hides_credentials_body_and_listed_identifiers() -> None:
    request = PreparedRequest.json(
        "POST",
        "/v1/accounts/31926819/transfers",
        {"debtor": "31926819"},
        headers={"Authorization": "Bearer sk_live_topsecret"},
        sensitive=("31926819",),
        operation="create_transfer",
    )
    shown = repr(request)
    assert "topsecret" not in shown
    assert "31926819" not in shown
    assert shown == (
        "PreparedRequest(method='POST', path='/v1/accounts/…6819/transfers', "
        "operation='create_transfer', body=<21 bytes>)"
    )


def test_a_response_repr_masks_its_request_identifiers() -> None:
    request = PreparedRequest(method="GET", path="/a/31926819", sensitive=("31926819",))
    response = RawResponse(
        status=200,
        headers={"Set-Cookie": "session=secret"},
        body=b'{"account": "31926819"}',
        url="https://bank.example/a/31926819",
        request=request,
    )
    assert repr(response) == (
        "RawResponse(status=200, url='https://bank.example/a/…6819', body=<23 bytes>)"
    )
