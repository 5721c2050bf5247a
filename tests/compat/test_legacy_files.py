"""Files written by mtj-hil 0.1 (commit 998227e, before the reorganisation) still open.

The fixtures in tests/fixtures/legacy-0.1 were made by the 0.1 code (see its README.md);
``expected.json`` holds numbers the 0.1 code read from them. Each test opens a fixture the
way a user would, with today's code, and compares. Fixtures are copied to ``tmp_path``
first, so no command can change them.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import shutil
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from mtj_hil.calibration.record_files import list_records, read_record, select_record
from mtj_hil.campaigns import load_campaign
from mtj_hil.campaigns.index import CampaignIndex, file_checksum
from mtj_hil.campaigns.kinds.characterize import digest as characterization_digest
from mtj_hil.campaigns.kinds.switching import digest as switching_digest
from mtj_hil.cli import main
from mtj_hil.protocols.defects.codes import DefectCode
from mtj_hil.runs.store import load_characterization
from mtj_hil.runs.store.switching import load_switching
from mtj_hil.sim.profile import load_profile
from mtj_hil.station.files import load_station

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "legacy-0.1"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())
BOX = str.maketrans({c: " " for c in "│┃┏┓┗┛┡┩└┘┳┻╇━─┼╋┣┫"})


@pytest.fixture
def legacy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the fixture folder (and a console wide enough not to wrap tables)."""
    monkeypatch.setenv("COLUMNS", "200")
    copy = tmp_path / "legacy-0.1"
    shutil.copytree(FIXTURES, copy)
    return copy


def printed(capsys: pytest.CaptureFixture[str]) -> str:
    """Captured output, table rules removed and whitespace collapsed to single spaces."""
    out = capsys.readouterr()
    return " ".join((out.out + out.err).translate(BOX).split())


def same(value: float | None, expected: float | None) -> bool:
    """Equal, with NaN (stored as null) equal to NaN."""
    if expected is None:
        return value is None or math.isnan(value)
    return value == pytest.approx(expected, rel=1e-12, abs=0.0)


# -- run files ---------------------------------------------------------------------------


def test_characterization_run_loads_with_the_recorded_numbers(legacy: Path) -> None:
    exp = EXPECTED["characterization"]
    char = load_characterization(legacy / "characterization.h5")
    for key in ("kind", "status", "die_id", "run_id", "git_revision"):
        assert char.attrs[key] == exp[key], key
    assert char.complete
    assert [int(a) for a in char.arrays_done] == exp["arrays_done"]
    assert char.counts() == exp["counts"]
    assert char.uncertain == exp["uncertain"]
    assert char.plan == exp["plan"]
    assert (char.bias_p is not None) == exp["bias_read"]
    good = char.codes == DefectCode.GOOD
    assert float(good.mean()) == exp["yield"]
    for i, a in enumerate(char.arrays):
        per = exp["per_array"][str(int(a))]
        assert float((char.codes[i] == DefectCode.GOOD).mean()) == per["yield"]
        assert {c.name: int((char.codes[i] == c).sum()) for c in DefectCode} == per["counts"]
    for name, value in exp["thresholds"].items():
        assert getattr(char.thresholds, name) == value, name
    assert float(np.median(1.0 / char.g_p[good])) == exp["median_r_p_good"]
    assert float(np.median(1.0 / char.g_ap[good])) == exp["median_r_ap_good"]
    # the campaign digest: arrays, codes, G_P and G_AP, byte for byte (dtypes included)
    assert characterization_digest(legacy / "characterization.h5") == exp["digest"]


def test_switching_run_loads_with_the_recorded_fits(legacy: Path) -> None:
    exp = EXPECTED["switching"]
    sw = load_switching(legacy / "switching.h5")
    for key in ("kind", "status", "die_id", "run_id"):
        assert sw.attrs[key] == exp[key], key
    assert sw.complete
    assert sw.arrays_done == exp["arrays_done"]
    assert sw.plan == exp["plan"]
    assert {str(k): len(d.amplitude) for k, d in sw.data.items()} == exp["points"]
    assert sum(int(d.trials.sum()) for d in sw.data.values()) == exp["device_trials"]
    analysis = sw.analysis
    assert analysis.tau0 == exp["tau0"]
    assert set(analysis.directions) == set(exp["directions"])
    for name, want in exp["directions"].items():
        fit = analysis.directions[name]
        assert same(fit.population["vc"], want["vc"]), name
        assert same(fit.population["delta"], want["delta"]), name
        assert same(fit.population["delta_sigma_rel"], want["delta_sigma_rel"]), name
        assert int(fit.population["n"]) == want["fitted"]
        assert fit.never_switched == want["never_switched"]
        assert fit.floor.value == want["floor"]
        assert (fit.floor.failures, fit.floor.trials) == (
            want["floor_failures"],
            want["floor_trials"],
        )
    for key, value in exp["recommendation"].items():
        assert getattr(analysis.recommendation, key) == value, key
    assert analysis.disturb == exp["disturb"]
    assert switching_digest(legacy / "switching.h5") == exp["digest"]


def test_show_summarises_the_characterization_run(legacy: Path, capsys) -> None:
    exp = EXPECTED["characterization"]
    assert main(["show", str(legacy / "characterization.h5")]) == 0
    text = printed(capsys)
    assert exp["die_id"] in text and exp["run_id"] in text
    assert "status completed" in text
    assert "arrays 2 of 2 done" in text
    total = sum(exp["counts"].values())
    for name, count in exp["counts"].items():
        assert f"{name} {count} {100 * count / total:.2f} %" in text, name
    assert f"R_P (ohm) {exp['median_r_p_good']:.0f}" in text


def test_show_summarises_the_switching_run(legacy: Path, capsys) -> None:
    exp = EXPECTED["switching"]
    assert main(["show", str(legacy / "switching.h5")]) == 0
    text = printed(capsys)
    assert exp["die_id"] in text and "status completed" in text
    assert f"device trials {exp['device_trials']:,}" in text
    # one column per direction (an 80-column table), Vc0 medians in the directions' order
    heads = " ".join(f"to {name}" for name in exp["directions"])
    assert heads in text, heads
    vc = " ".join(f"{want['vc']:.4f} \\+- \\S+" for want in exp["directions"].values())
    assert re.search(f"Vc0 \\(V\\) {vc}", text), vc
    assert f"{exp['disturb']['reads_per_device']} reads at" in text


def test_interrupted_run_shows_and_resumes_as_the_old_code_did(legacy: Path, capsys) -> None:
    exp = EXPECTED["interrupted"]
    path = legacy / "characterization-interrupted.h5"
    char = load_characterization(path)
    assert char.attrs["status"] == exp["status"]
    assert char.attrs["status_reason"] == exp["status_reason"]
    assert [int(a) for a in char.arrays_done] == exp["arrays_done"]
    assert char.complete == exp["complete"]

    assert main(["show", str(path)]) == 0
    text = printed(capsys)
    assert "status aborted" in text and "arrays 1 of 2 done" in text

    assert main([*exp["resume_args"], "--out", str(path)]) == 0
    capsys.readouterr()
    done = load_characterization(path)
    want = exp["resumed"]
    assert done.attrs["status"] == want["status"]
    assert [int(a) for a in done.arrays_done] == want["arrays_done"]
    assert done.counts() == want["counts"]
    # identical to the file the 0.1 code made when it resumed the same run
    assert characterization_digest(path) == want["digest"]


def test_resuming_a_completed_old_run_is_refused_and_leaves_it_alone(legacy: Path, capsys):
    path = legacy / "characterization.h5"
    before = path.read_bytes()
    args = ["characterize", "--die", "3", "--arrays", "0-1", "--no-report", "--resume"]
    assert main([*args, "--out", str(path)]) == 4
    assert "is already completed; nothing to resume" in printed(capsys)
    assert path.read_bytes() == before


# -- profiles and stations ---------------------------------------------------------------


def _profile_numbers(path: Path) -> dict:
    p = load_profile(path)
    g = p.geometry
    return {
        "name": p.name,
        "geometry": [g.n_arrays, g.rows, g.cols, g.cell],
        "r_p_median": p.resistance.r_p_median,
        "r_ap_median": p.resistance.r_ap_median,
        "r_p_sigma": p.resistance.r_p_sigma,
        "vc_to_p": p.switching.vc_to_p,
        "vc_to_ap": p.switching.vc_to_ap,
        "delta": p.switching.delta,
        "write_error_floor": p.switching.write_error_floor,
        "short_rate": p.defects.short_rate,
        "line_open_rate": p.defects.line_open_rate,
        "noise_rel": p.read.noise_rel,
        "v_half": p.bias.v_half if p.bias is not None else None,
        "max_pulse_amplitude": p.limits.max_pulse_amplitude,
    }


def test_fitted_profile_loads_with_the_recorded_values(legacy: Path) -> None:
    assert _profile_numbers(legacy / "fitted-profile.toml") == EXPECTED["fitted_profile"]


def test_shipped_profile_as_it_was_loads_with_the_recorded_values(legacy: Path) -> None:
    old = legacy / "profiles" / "1t1r-early-process.toml"
    assert _profile_numbers(old) == EXPECTED["shipped_profile"]


def test_station_file_loads_with_the_recorded_settings(legacy: Path) -> None:
    exp = EXPECTED["station"]
    path = legacy / "stations" / "virtual-lab.toml"
    s = load_station(path)
    assert (s.name, s.read_path, s.line_frequency, s.p_polarity) == (
        exp["name"],
        exp["read_path"],
        exp["line_frequency"],
        exp["p_polarity"],
    )
    assert s.profile.name == exp["profile"]
    assert {"url": s.controller.url, "baudrate": s.controller.baudrate} == exp["controller"]
    assert [{"name": m.name, "driver": m.driver, "role": m.role} for m in s.smus] == exp["smus"]
    assert s.envelope.as_dict() == exp["envelope"]
    assert {"lot_seed": s.virtual_lab.lot_seed, "die": s.virtual_lab.die} == exp["virtual_lab"]
    assert s.calibration.directory == path.parent / exp["calibration_dir"]
    assert {r.name: [r.index, r.ohms] for r in s.calibration.references} == exp["references"]
    assert list(s.calibration.threshold_arrays) == exp["threshold_arrays"]


def test_calibration_record_reads_and_is_selected_for_its_station(legacy: Path) -> None:
    exp = EXPECTED["calibration"]
    station = load_station(legacy / "stations" / "virtual-lab.toml")
    path = station.calibration.directory / exp["file"]
    r = read_record(path)
    assert (r.id, r.station, r.created.isoformat(), r.procedure_version) == (
        exp["id"],
        exp["station"],
        exp["created"],
        exp["procedure_version"],
    )
    assert r.instruments == exp["instruments"]
    assert r.smu.offset.value == exp["smu_offset"]
    assert r.smu.gain.value == exp["smu_gain"]
    assert r.smu.series_resistance.value == exp["series_resistance"]
    assert [ref.name for ref in r.smu.references] == exp["references"]
    assert [float(g) for g in r.converter.gain] == exp["converter_gain"]
    assert r.converter.points == exp["converter_points"]
    assert (r.thresholds.die_id, list(r.thresholds.arrays)) == (
        exp["thresholds_die"],
        exp["thresholds_arrays"],
    )
    for name in ("state_g", "short_g", "open_g"):
        assert getattr(r.thresholds.thresholds, name) == exp[name], name

    assert [x.id for x in list_records(station.calibration.directory, station.name)] == [r.id]
    chosen = select_record(
        station.calibration.directory,
        station.name,
        r.instruments,
        timedelta(days=station.calibration_validity_days),
        now=r.created + timedelta(hours=1),
        strict=True,
    )
    assert chosen.record is not None and chosen.record.id == exp["id"]


def test_calibration_commands_list_and_show_the_old_record(legacy: Path, capsys) -> None:
    exp = EXPECTED["calibration"]
    station = legacy / "stations" / "virtual-lab.toml"
    assert main(["calibration", "list", "--station", str(station)]) == 0
    text = printed(capsys)
    assert exp["id"] in text and "smu, converter, thresholds" in text
    record = legacy / "stations" / "calibrations" / "virtual-lab" / exp["file"]
    assert main(["calibration", "show", str(record)]) == 0
    text = printed(capsys)
    assert exp["id"] in text and f"die {exp['thresholds_die']}" in text


# -- campaigns ---------------------------------------------------------------------------


def test_campaign_file_and_index_load_with_the_recorded_tasks(legacy: Path) -> None:
    exp = EXPECTED["campaign"]
    spec = load_campaign(legacy / "campaigns" / "tiny-lot" / "tiny-lot.toml")
    assert spec.name == exp["name"]
    assert [t.id for t in spec.tasks] == list(exp["tasks"])
    records = CampaignIndex(spec.index_path).records()
    assert set(records) == set(exp["index"])
    for task in spec.tasks:
        want, rec = exp["tasks"][task.id], records[task.id]
        assert task.kind == want["kind"]
        assert task.run_file.relative_to(spec.out_dir).as_posix() == want["run_file"]
        assert task.params == want["params"]
        indexed = exp["index"][task.id]
        for key in ("status", "summary", "checksum", "digest", "params_hash", "run_file"):
            assert rec[key] == indexed[key], (task.id, key)
        assert int(rec["attempts"]) == indexed["attempts"]
        # the run files are the ones indexed, and today's digest reads the same numbers
        assert file_checksum(task.run_file) == rec["checksum"]
        assert characterization_digest(task.run_file) == rec["digest"]
        # where the campaign ran (the index holds absolute paths), today's task is unchanged
        there = dataclasses.replace(task, run_file=Path(rec["run_file"]))
        assert there.params_hash() == rec["params_hash"]


def test_campaign_status_reports_the_old_index(legacy: Path, capsys) -> None:
    campaign = legacy / "campaigns" / "tiny-lot" / "tiny-lot.toml"
    index = campaign.parent / "out" / "campaign.h5"
    before = index.read_bytes()
    assert main(["campaign", "status", str(campaign)]) == 0
    text = printed(capsys)
    assert "campaign tiny-lot" in text
    assert "characterize 2 2 0 0 0" in text  # tasks, completed, running, failed, pending
    assert index.read_bytes() == before


def test_example_campaign_file_as_it_was_expands_to_the_same_tasks(legacy: Path) -> None:
    exp = EXPECTED["example_campaign"]
    path = legacy / "campaigns" / "example-lot.toml"
    spec = load_campaign(path)
    assert spec.name == exp["name"]
    assert spec.out_dir == (path.parent / exp["out_dir"]).resolve()
    assert [t.id for t in spec.tasks] == exp["task_ids"]
    kinds: dict[str, int] = {}
    for t in spec.tasks:
        kinds[t.kind] = kinds.get(t.kind, 0) + 1
    assert kinds == exp["tasks_per_kind"]
    assert {t.id: len(t.needs) for t in spec.tasks if t.needs} == exp["needs"]


# -- old import names --------------------------------------------------------------------

OLD_MODULES = [
    "instruments",
    "instruments.smu",
    "instruments.smu.keithley2400",
    "instruments.safety",
    "protocols",
    "protocols.chip",
    "protocols.read",
    "protocols.write",
    "calibration",
    "calibration.records",
]
"""Old module names that still exist: each must be the very ``mtj_hil.<name>`` module."""

OLD_NAMES = {
    "instruments.smu": ["Keithley2400SourceMeter", "Keithley2450", "SourceMeter"],
    "protocols": ["DefectCode", "Thresholds", "characterize_die", "CharacterizationPlan"],
    "calibration": ["CalibrationRecord", "read_record", "select_record"],
}
"""Names imported from old package faces: the same objects as today's."""

MOVED = {
    "protocols.characterize": ["characterize_die", "CharacterizationPlan", "MemorySink"],
    "protocols.defects": ["DefectCode", "Thresholds", "detect_defects", "classify"],
    "protocols.switching": ["SwitchingPlan", "ArraySwitching", "measure_switching_die"],
    "protocols.switching_fit": [],
    "protocols.switching_analysis": [],
    "protocols.classifier": [],
    "protocols.evidence": [],
    "protocols.bias_signature": [],
    "instruments.controller_link": [],
    "instruments.transport": [],
    "instruments.visa_session": [],
    "mtj_hil.store": ["RunFile", "load_characterization"],
    "mtj_hil.hardware": ["InstrumentChip", "open_station", "make_smu"],
    "mtj_hil.jobs": ["run_characterization", "open_run", "recorded_status"],
    "mtj_hil.jobs_switching": ["run_switching"],
    "mtj_hil.station": ["load_station", "Station", "station_from_dict"],
    "mtj_hil.profile_fit": ["fit_profile", "FittedProfile"],
    "mtj_hil.cli": ["main", "cli", "parse_arrays"],
    "mtj_hil.cli_switching": ["switching"],
    "mtj_hil.campaigns.spec": ["check_keys", "int_param", "parse_indices", "load_campaign"],
    "mtj_hil.campaigns.kind_characterize": ["digest"],
    "mtj_hil.sim.lab.scpi_smu": ["Keithley2400"],
    "calibration.records": ["select_record", "read_record", "CalibrationRecord"],
}
"""0.1 import paths whose module moved, split, or became a package in the reorganisation
(``from protocols.defects import DefectCode`` worked in 0.1): each still imports, with the
names listed (mtj_hil.compat.legacy_names)."""

LEGACY_IMPORTS = textwrap.dedent(
    """
    import importlib, json, sys, warnings

    old_modules, old_names, moved = json.loads(sys.argv[1])
    out = {"modules": {}, "names": {}, "moved": {}}
    for old in old_modules:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            module = importlib.import_module(old)
        out["modules"][old] = {
            "same": module is importlib.import_module("mtj_hil." + old),
            "warnings": [
                [w.category.__name__, str(w.message)]
                for w in caught
                if issubclass(w.category, DeprecationWarning)
            ],
        }
    for old, names in old_names.items():
        module, new = importlib.import_module(old), importlib.import_module("mtj_hil." + old)
        out["names"][old] = {n: getattr(module, n) is getattr(new, n) for n in names}
    for old, names in moved.items():
        try:
            module = importlib.import_module(old)
            missing = [n for n in names if not hasattr(module, n)]
            out["moved"][old] = f"missing {', '.join(missing)}" if missing else "ok"
        except ImportError as exc:
            out["moved"][old] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def legacy_imports(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The old names imported in a fresh interpreter whose working directory is not the
    repository (so its top-level instruments/ folder is not on sys.path)."""
    result = subprocess.run(
        [sys.executable, "-c", LEGACY_IMPORTS, json.dumps([OLD_MODULES, OLD_NAMES, MOVED])],
        cwd=tmp_path_factory.mktemp("elsewhere"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_old_import_names_are_the_new_modules_with_a_deprecation_warning(legacy_imports) -> None:
    modules = legacy_imports["modules"]
    assert [m for m in OLD_MODULES if not modules[m]["same"]] == []
    for top in ("instruments", "protocols", "calibration"):
        message = (
            f"'{top}' is deprecated; import 'mtj_hil.{top}' instead (the old name goes in 0.3)"
        )
        assert modules[top]["warnings"] == [["DeprecationWarning", message]], top
    for old, names in OLD_NAMES.items():
        assert legacy_imports["names"][old] == dict.fromkeys(names, True), old


def test_moved_0_1_submodules_import_under_their_old_names(legacy_imports) -> None:
    assert legacy_imports["moved"] == dict.fromkeys(MOVED, "ok")
