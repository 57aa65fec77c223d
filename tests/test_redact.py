import logging

import pytest

from walletlink._redact import REDACTED, RedactingFilter, redact_headers, redact_text, redact_url


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer sk_live_abcdef123456", "sk_live_abcdef123456"),
        ('{"api_key": "hunter2hunter2"}', "hunter2hunter2"),
        ("client_secret=s3cr3tvalue&x=1", "s3cr3tvalue"),
        ("secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw here", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        ("-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----", "MIIE"),
    ],
)
def test_secrets_are_removed(text: str, secret: str) -> None:
    assert secret not in redact_text(text)


def test_ibans_and_pans_keep_their_last_four() -> None:
    text = "to GB33BUKB20201555555555 card 4111 1111 1111 1111 and DE89 3704 0044 0532 0130 00"
    redacted = redact_text(text)
    assert "BUKB2020155" not in redacted
    assert "4111 1111" not in redacted
    assert "…5555" in redacted
    assert "…1111" in redacted
    assert "…3000" in redacted


def test_amounts_and_dates_survive() -> None:
    assert redact_text("12.30 EUR on 2026-11-25") == "12.30 EUR on 2026-11-25"


def test_headers() -> None:
    headers = redact_headers({"Authorization": "Bearer x", "X-Request-ID": "abc"})
    assert headers == {"Authorization": REDACTED, "X-Request-ID": "abc"}


def test_filter_rewrites_records_and_drops_args() -> None:
    record = logging.LogRecord(
        "walletlink", logging.INFO, __file__, 1, "key %s", ("sk_abcdef12",), None
    )
    assert RedactingFilter().filter(record)
    assert record.getMessage() == f"key {REDACTED}"
    assert record.args is None


def test_redact_url_masks_the_listed_values_in_every_encoding() -> None:
    url = "https://bank.example/v1/accounts/12345678/x?acct=AB+12%2F34&o=AB%2012%2F34&id=123"
    shown = redact_url(url, ("12345678", "AB 12/34", "123"))
    assert shown == "https://bank.example/v1/accounts/…5678/x?acct=…2/34&o=…2/34&id=123"


def test_redact_url_masks_a_longer_value_whole() -> None:
    assert redact_url("/a/987654321/b/4321", ("4321", "987654321")) == "/a/…4321/b/…"
