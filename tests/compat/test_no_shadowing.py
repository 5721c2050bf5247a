"""A user's own ``protocols.py`` or another distribution's ``instruments`` package beside a
notebook no longer shadows ours: the layers install as ``mtj_hil.instruments`` and so on."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest


@pytest.mark.slow
def test_a_users_own_protocols_and_instruments_do_not_shadow_ours(tmp_path):
    (tmp_path / "protocols.py").write_text("MINE = True\n")
    (tmp_path / "instruments").mkdir()
    (tmp_path / "instruments" / "__init__.py").write_text("MINE = True\n")
    (tmp_path / "calibration.py").write_text("MINE = True\n")
    script = textwrap.dedent(
        """
        import protocols, instruments, calibration
        assert protocols.MINE and instruments.MINE and calibration.MINE
        from mtj_hil.protocols import characterize_die, MemorySink
        from mtj_hil.sim import SimulatedChip
        from mtj_hil.station.chip import InstrumentChip
        from mtj_hil.calibration.records import CalibrationRecord
        chip = SimulatedChip.from_lot("passive-15x15", 0, 1)
        codes = characterize_die(chip, MemorySink()).codes
        assert codes.shape[0] == chip.layout.n_arrays
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
