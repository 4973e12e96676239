"""``python -m zsb reproduce`` is ``zsb reproduce``."""

import sys

from zsb.cli import main

sys.exit(main())
