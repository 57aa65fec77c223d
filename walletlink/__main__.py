"""``python -m walletlink`` is the ``walletlink`` command."""

import sys

from walletlink.cli import main

sys.exit(main())
