"""One source of defaults: every setting the ``borders`` campaign kind and the ``mtj-hil
experiment borders`` command take has the default of
:class:`~mtj_hil.experiments.borders.BordersConfig`, so a campaign or a command line that
leaves it out runs the experiment the library would."""

from __future__ import annotations

import dataclasses

import pytest

from mtj_hil.campaigns.kinds.borders import _SETTINGS, NOT_TAKEN
from mtj_hil.cli.experiments import borders as borders_command
from mtj_hil.experiments.borders import BordersConfig

LIBRARY = {f.name: f.default for f in dataclasses.fields(BordersConfig)}


@pytest.mark.parametrize("field", _SETTINGS, ids=[f.name for f in _SETTINGS])
def test_campaign_default_is_the_library_default(field):
    assert field.name in LIBRARY, f"{field.name} is not a BordersConfig setting"
    library = LIBRARY[field.name]
    if isinstance(library, tuple):  # lists in TOML, tuples in the dataclass
        library = list(library)
    assert field.default == library, field.name


def test_every_library_setting_is_taken_or_excluded_with_a_reason():
    taken = {f.name for f in _SETTINGS}
    missing = set(LIBRARY) - taken - set(NOT_TAKEN)
    assert not missing, (
        f"BordersConfig settings the campaign kind neither takes nor excludes: {missing}"
    )
    assert not taken & set(NOT_TAKEN)


OPTIONS = [p for p in borders_command.params if p.name in LIBRARY and p.name != "hidden"]


@pytest.mark.parametrize("option", OPTIONS, ids=[p.name for p in OPTIONS])
def test_command_default_is_the_library_default(option):
    library = LIBRARY[option.name]
    if option.name == "lea_copies":  # 'auto' on the command line is the empty tuple
        assert option.default == "auto" and library == ()
        return
    assert option.default == library, option.name
