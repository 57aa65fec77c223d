"""Per-call options: a timeout, an idempotency key or a retry policy for one call.

Every :class:`~walletlink.Client` / :class:`~walletlink.AsyncClient` method takes
``options=CallOptions(...)`` (after the manner of stripe-python's per-request options); what
it sets overrides the bank's :class:`~walletlink.config.BankConfig` and the client's
defaults for that call only.
"""

from __future__ import annotations

import attrs

from walletlink._retry import RetryPolicy
from walletlink.config import Timeout, TimeoutLike, as_timeout
from walletlink.errors import ConfigurationError

__all__ = ["CallOptions"]


def _optional_timeout(value: TimeoutLike | None) -> Timeout | None:
    return None if value is None else as_timeout(value)


def _check_retry(instance: CallOptions, attribute: object, value: RetryPolicy | None) -> None:
    if value is not None and not isinstance(value, RetryPolicy):
        raise ConfigurationError("retry must be a RetryPolicy")


def _check_key(instance: CallOptions, attribute: object, value: str | None) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ConfigurationError("idempotency_key must be a non-empty string")


@attrs.frozen(kw_only=True)
class CallOptions:
    """What one call changes.

    * ``timeout``: seconds (the read timeout), a ``(connect, read)`` pair or a
      :class:`~walletlink.config.Timeout`; its ``total`` bounds the whole logical call, every
      request and retry of it, on the retry policy's clock;
    * ``idempotency_key``: the key of this transfer, overriding the request's own (for
      :meth:`~walletlink.Client.transfer` only);
    * ``retry``: the :class:`~walletlink.RetryPolicy` for this call.
    """

    timeout: Timeout | None = attrs.field(default=None, converter=_optional_timeout)
    idempotency_key: str | None = attrs.field(default=None, validator=_check_key)
    retry: RetryPolicy | None = attrs.field(default=None, validator=_check_retry)


#: The options of a call that sets none.
NO_OPTIONS = CallOptions()
