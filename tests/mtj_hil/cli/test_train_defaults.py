"""One source of defaults for ``mtj-hil train``: every option that sets a field of
:class:`TrainSpec` defaults to that field's default, the methods offered are the library's,
and the compensation's defaults are those of ``mtj-hil experiment borders``."""

from __future__ import annotations

import dataclasses

import click

from mtj_hil.cli.networks import train
from mtj_hil.experiments.borders_config import BordersConfig
from mtj_hil.experiments.method_names import METHODS
from mtj_hil.experiments.single import TrainSpec
from mtj_hil.training.compensation import COMPENSATION_BUDGET, COMPENSATION_EPOCHS


def test_every_train_option_defaults_to_the_spec():
    fields = {f.name: f for f in dataclasses.fields(TrainSpec)}
    compared = []
    for param in train.params:
        field = fields.get(param.name)
        if field is None or field.default is dataclasses.MISSING:
            continue
        default = param.default
        if param.multiple and not isinstance(default, list | tuple):
            default = ()  # a repeatable option given no times
        if isinstance(field.default, tuple) and isinstance(default, list | tuple):
            default = tuple(default)
        assert default == field.default, f"--{param.name.replace('_', '-')}"
        compared.append(param.name)
    assert {"compensation_budget", "compensation_epochs", "loop_epochs"} <= set(compared)


def test_the_methods_and_the_compensation_defaults_are_the_library_s():
    method = next(p for p in train.params if p.name == "method")
    assert isinstance(method.type, click.Choice) and tuple(method.type.choices) == METHODS
    spec, borders = TrainSpec, BordersConfig
    assert spec.compensation_budget == borders.compensation_budget == COMPENSATION_BUDGET
    assert spec.compensation_epochs == borders.compensation_epochs == COMPENSATION_EPOCHS
