"""``python -m mtj_hil.live RUN.h5 --fd N``: the ``--live`` server of a run file (see
:mod:`mtj_hil.live.child`)."""

import sys

from mtj_hil.live.child import main
from mtj_hil.live.snapshot import RunSource

sys.exit(main(RunSource))
