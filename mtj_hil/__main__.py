"""``python -m mtj_hil``: the ``mtj-hil`` command."""

from mtj_hil.launch import script

script()
