import walletlink.errors as errors
from walletlink.errors import (
    BankRejectedError,
    ParseError,
    RateLimitedError,
    UnknownOutcomeError,
    ValidationError,
    WalletLinkError,
)


def test_every_error_is_in_the_tree_and_in_the_docstring() -> None:
    doc = errors.__doc__ or ""
    for name in errors.__all__:
        cls = getattr(errors, name)
        if name == "ErrorContext":
            continue
        assert issubclass(cls, WalletLinkError), name
        assert name in doc, f"{name} is missing from the drawn tree"


def test_context_is_carried_and_shown() -> None:
    error = BankRejectedError(
        "refused", code="account_unknown", raw_code="AC01", bank_id="acme", http_status=404
    )
    assert (error.code, error.raw_code, error.bank_id, error.http_status) == (
        "account_unknown",
        "AC01",
        "acme",
        404,
    )
    assert str(error) == "refused (bank=acme, http_status=404)"


def test_specialised_fields() -> None:
    assert RateLimitedError("slow", retry_after=3.0).retry_after == 3.0
    assert UnknownOutcomeError("?", idempotency_key="k").idempotency_key == "k"
    assert ParseError("bad amount", position="line 4").message == "bad amount at line 4"


def test_validation_errors_are_value_errors() -> None:
    assert issubclass(ValidationError, ValueError)
