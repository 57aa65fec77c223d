"""UK Open Banking Read/Write API v3.1 (JSON + detached JWS, OAuth2, mTLS).

Every piece of the protocol lives here: ``adapter`` (the sans-I/O translator the client
drives), ``mock`` (the mock bank's protocol server, verifying requests as the real bank
does), private wire and code helpers, and the guide at ``docs/openbanking_uk.md``.
"""
