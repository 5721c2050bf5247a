"""docs/file-formats.md is the schemas' own description of the files, kept up to date."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "file_formats.py"


def test_file_format_documentation_is_up_to_date():
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


def test_documentation_lists_every_key_of_every_schema():
    from mtj_hil.calibration.record_schema import RECORD_FILE
    from mtj_hil.sim.profile_schema import PROFILE_FILE
    from mtj_hil.station.schema import STATION_FILE

    text = (SCRIPT.parents[1] / "docs" / "file-formats.md").read_text(encoding="utf-8")
    for schema in (STATION_FILE, PROFILE_FILE, RECORD_FILE):
        for section in schema.sections:
            for field in section.fields:
                assert f"| `{field.name}` |" in text, (schema.kind, section.name, field.name)
    for key in ("cycles", "widths", "finetune_epochs", "out_dir"):
        assert f"| `{key}` |" in text
