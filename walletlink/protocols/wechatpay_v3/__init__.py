"""WeChat Pay API v3: merchant transfers to a user's WeChat balance (商家转账), wallet
top-ups with Native/JSAPI orders and their refunds (:mod:`.topup`).

Every piece of the protocol lives here: ``adapter`` (the sans-I/O translator the client
drives), ``mock`` (the mock platform, verifying requests as WeChat Pay does), private wire,
code and key helpers, and the guide at ``docs/wechatpay_v3.md``. Signing, reply
verification and resource decryption are :mod:`walletlink.signing.webhooks`, used as they are.
"""
