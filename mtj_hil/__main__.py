"""``python -m mtj_hil``: the ``mtj-hil`` command."""

import sys

from mtj_hil.cli import main

sys.exit(main())
