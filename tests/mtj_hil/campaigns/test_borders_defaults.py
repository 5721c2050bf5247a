"""One source of defaults: every setting the ``borders`` campaign kind takes has the default
of :class:`~mtj_hil.experiments.borders.BordersConfig`, so a campaign that leaves a key out
runs the experiment the library (and ``mtj-hil experiment borders``) would."""

from __future__ import annotations

import dataclasses

import pytest

from mtj_hil.campaigns.kinds.borders import _SETTINGS
from mtj_hil.experiments.borders import BordersConfig

LIBRARY = {f.name: f.default for f in dataclasses.fields(BordersConfig)}


@pytest.mark.parametrize("field", _SETTINGS, ids=[f.name for f in _SETTINGS])
def test_campaign_default_is_the_library_default(field):
    assert field.name in LIBRARY, f"{field.name} is not a BordersConfig setting"
    library = LIBRARY[field.name]
    if isinstance(library, tuple):  # lists in TOML, tuples in the dataclass
        library = list(library)
    assert field.default == library, field.name
