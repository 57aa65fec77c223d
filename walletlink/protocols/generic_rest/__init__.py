"""A modern REST banking API (API key, Idempotency-Key, Standard Webhooks).

Every piece of the protocol lives here: ``adapter`` (the sans-I/O translator the client
drives), ``mock`` (the mock bank's protocol server, verifying requests as the real bank
does), private wire and code helpers, and the guide at ``docs/generic_rest.md``.
"""
