"""ISO 20022 host-to-host files (pain.001 up, pain.002 and camt.053/054 or MT940 down).

Every piece of the protocol lives here: ``adapter`` (the sans-I/O translator the client
drives), ``mock`` (the mock bank's protocol server, verifying requests as the real bank
does), private wire and code helpers, and the guide at ``docs/iso20022_h2h.md``.
"""
