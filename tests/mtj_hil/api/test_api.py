"""The Python API: the README's five lines work as written, the defaults are the CLI's, and
``import mtj_hil`` stays light."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

import mtj_hil
from mtj_hil.cli import main
from mtj_hil.cli.main import cli

README = Path(__file__).resolve().parents[3] / "README.md"


def readme_snippet() -> str:
    """The first Python block of the README's "From Python" section."""
    text = README.read_text()
    section = text.split("## From Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_snippet_is_at_most_five_lines():
    lines = [line for line in readme_snippet().splitlines() if line.strip()]
    assert 0 < len(lines) <= 5


@pytest.mark.slow
def test_the_readme_snippet_gives_a_defect_map_and_resistance_distributions(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    plt.close("all")
    namespace: dict = {}
    exec(compile(readme_snippet(), "README.md", "exec"), namespace)
    ds = namespace["ds"]
    assert dict(ds.defect.sizes) == {"array": 32, "row": 25, "column": 25}
    assert set(namespace["r"].columns) == {"P", "AP"}
    assert len(plt.get_fignums()) == 2
    defect_map, histogram = (plt.figure(n) for n in plt.get_fignums())
    panels = [a for a in defect_map.axes if a.get_title().startswith("array = ")]
    assert len(panels) == 32 and all(a.collections for a in panels)  # one map per array
    assert len(histogram.axes[0].patches) == 400  # 200 bins per state
    with h5py.File(tmp_path / "die7.h5") as h5:
        assert h5.attrs["status"] == "completed"
        assert h5.attrs["die_id"] == "sim:1t1r-20k:lot0:die7"
    plt.close("all")


def option_defaults(command: str) -> dict[str, object]:
    return {p.name: p.default for p in cli.commands[command].params}


@pytest.mark.parametrize(
    ("function", "command", "names"),
    [
        (
            mtj_hil.characterize,
            "characterize",
            ["cycles", "reads", "read_voltage", "remeasure_cycles"],
        ),
        (
            mtj_hil.measure_switching,
            "switching",
            [
                "trials",
                "probe_trials",
                "adaptive",
                "floor_trials",
                "disturb_reads",
                "read_voltage",
                "target_wer",
                "tau0",
            ],
        ),
    ],
)
def test_the_api_defaults_are_the_cli_defaults(function, command, names):
    signature = inspect.signature(function).parameters
    cli_defaults = option_defaults(command)
    for name in names:
        assert signature[name].default == cli_defaults[name], name


def test_the_api_and_the_cli_record_the_same_plan(tmp_path, capsys):
    cli_run = tmp_path / "cli.h5"
    args = ["characterize", "--die", "2", "--arrays", "0-1", "--out", str(cli_run), "--no-report"]
    assert main(args) == 0
    api_run = mtj_hil.characterize(mtj_hil.simulated_die(2), tmp_path / "api.h5", arrays=[0, 1])
    with h5py.File(cli_run) as a, h5py.File(api_run.path) as b:
        assert json.loads(a.attrs["plan"]) == json.loads(b.attrs["plan"])
        assert a.attrs["die_id"] == b.attrs["die_id"] and a.attrs["seed"] == b.attrs["seed"]
        assert (a["defects/codes"][()] == b["defects/codes"][()]).all()
    assert api_run.status == "completed" and api_run.kind == "characterization"
    assert mtj_hil.open_run(cli_run).dataset().attrs["run_id"] != api_run.dataset().attrs["run_id"]


def test_an_existing_output_is_refused(tmp_path):
    out = tmp_path / "x.h5"
    out.write_bytes(b"keep me")
    with pytest.raises(mtj_hil_store_error()):
        mtj_hil.characterize(mtj_hil.simulated_die(0), out, arrays=[0])
    assert out.read_bytes() == b"keep me"


def mtj_hil_store_error() -> type[Exception]:
    from mtj_hil.errors import StoreError

    return StoreError


def test_import_is_light_and_names_resolve_lazily():
    code = (
        "import sys, mtj_hil\n"
        "heavy = [m for m in ('xarray', 'pandas', 'mtj_hil.api', 'h5py') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "assert 'characterize' in dir(mtj_hil)\n"
        "mtj_hil.characterize\n"
        "assert 'mtj_hil.api' in sys.modules\n"
        "try:\n"
        "    mtj_hil.no_such_name\n"
        "except AttributeError as e:\n"
        "    assert 'no_such_name' in str(e)\n"
        "else:\n"
        "    raise SystemExit('no AttributeError')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr


def test_every_api_name_is_documented_and_typed():
    for name in mtj_hil.__all__:
        obj = getattr(mtj_hil, name)
        assert inspect.getdoc(obj), name
        if inspect.isfunction(obj):
            hints = inspect.signature(obj)
            assert hints.return_annotation is not inspect.Signature.empty, name
            for param in hints.parameters.values():
                assert param.annotation is not inspect.Parameter.empty, (name, param.name)


def test_a_real_bench_needs_a_die_label(tmp_path):
    from mtj_hil.errors import ConfigError

    bench = Path(__file__).resolve().parents[3] / "stations" / "example-bench.toml"
    with pytest.raises(ConfigError, match="die_id"):
        mtj_hil.station_die(bench)
    assert mtj_hil.station_die(bench, die_id="W3-D17").die_id == "W3-D17"
    lab = mtj_hil.station_die(bench.with_name("virtual-lab.toml"), die=5)
    assert lab.die_id.endswith(":die5")
