"""Chinese bank open-API gateways, Alipay style (sorted-parameter RSA2 signing, AES biz_content).

Every piece of the protocol lives here: ``adapter`` (the sans-I/O translator the client
drives), ``mock`` (the mock bank's protocol server, verifying requests as the real bank
does), private wire and code helpers, and the guide at ``docs/cn_openapi.md``.
"""
