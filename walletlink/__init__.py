"""walletlink."""
