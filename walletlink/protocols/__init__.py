"""One package per bank protocol, each holding all of that protocol's pieces.

``walletlink.protocols.<name>.adapter`` is the adapter the registry loads for ``<name>``,
``walletlink.protocols.<name>.mock`` the mock bank's protocol server, and the package's
private modules the wire format and code tables both of them share. Shared machinery stays
where it is: the adapter interface and registry in :mod:`walletlink.adapters`, the mock bank
shell, ledger and conformance suite in :mod:`walletlink.testing`.
"""
