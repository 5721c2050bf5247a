"""mtj-hil: instrument control, characterisation and measurement-driven training for MTJ
crossbar test dies.

The layers live in sub-packages: ``mtj_hil.instruments`` (drivers), ``mtj_hil.protocols``
(procedures written against the ``Chip`` seam), ``mtj_hil.calibration``, ``mtj_hil.sim``
(the simulated die and virtual lab), ``mtj_hil.station`` (a real bench), ``mtj_hil.runs``
(run files and jobs), ``mtj_hil.reports``, ``mtj_hil.profile_fit``, ``mtj_hil.campaigns``,
``mtj_hil.training``, ``mtj_hil.experiments`` and ``mtj_hil.cli``; ``docs/architecture.md``
draws the house.
"""

from mtj_hil.compat.legacy_names import install_finder as _install_legacy_finder

_install_legacy_finder()
