"""One source of defaults for ``mtj-hil experiment borders``: every option that sets a
field of :class:`BordersConfig` defaults to that field's default."""

from __future__ import annotations

import dataclasses

from mtj_hil.cli.experiments import borders
from mtj_hil.experiments.borders import BordersConfig


def test_every_borders_option_defaults_to_the_config():
    fields = {f.name: f for f in dataclasses.fields(BordersConfig)}
    compared = []
    for param in borders.params:
        field = fields.get(param.name)
        if field is None or field.default is dataclasses.MISSING:
            continue
        default = param.default
        if isinstance(field.default, tuple) and isinstance(default, list | tuple):
            default = tuple(default)
        if param.name == "lea_copies":
            continue  # "auto" on the command line, resolved per network
        assert default == field.default, f"--{param.name.replace('_', '-')}"
        compared.append(param.name)
    assert {"compensation_budget", "compensation_training", "bias_correction"} <= set(compared)
