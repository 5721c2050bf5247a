"""A small seed set of the command-line fuzzer (the full run: scripts/bench_fuzz.py): no
crash (exit 1 or traceback), no hang, every failure message names what it refers to."""

from __future__ import annotations

import time

import pytest

from mtj_hil.testing.fuzz import Case, _restore_changed, fuzz, run_case


def _report(tally) -> str:
    lines = [tally.line()]
    for o in [*tally.crashes, *tally.hangs, *tally.unnamed, *tally.changed]:
        lines.append(
            f"{' '.join(o.case.args)} -> exit {o.code}: {' '.join(o.output.split())[-300:]}"
        )
    return "\n".join(lines)


@pytest.mark.parametrize("seed", [11, 12])
def test_fuzzed_command_lines_end_cleanly(tmp_path, seed):
    tally = fuzz(18, seed, tmp_path / "fuzz", budget=90)
    assert tally.cases == 18
    assert not (tally.crashes or tally.hangs or tally.unnamed or tally.changed), _report(tally)


def test_the_fuzzer_sees_crashes_hangs_and_unnamed_messages():
    commands = {}

    def crashing(args):
        raise KeyError("boom")

    def unexpected(args):
        print("error (KeyError): 'x'")
        return 1

    def hanging(args):
        time.sleep(5)
        return 0

    def unnamed(args):
        print("error: something went wrong")
        return 3

    def named(args):
        print("error: --cycles 0 is out of range")
        return 2

    case = Case(["characterize", "--cycles", "0"], "test", budget=0.5)
    assert run_case(case, crashing, commands).crash
    assert run_case(case, unexpected, commands).crash
    assert run_case(case, hanging, commands).hang
    assert run_case(case, unnamed, commands).unnamed
    ok = run_case(case, named, commands)
    assert not (ok.crash or ok.hang or ok.unnamed)


def test_the_fuzzer_sees_a_changed_input_file_and_puts_it_back(tmp_path):
    seed = tmp_path / "char.h5"
    seed.write_bytes(b"run file bytes")
    other = tmp_path / "station.toml"
    other.write_text("[station]\n")
    pristine = {p: p.read_bytes() for p in (seed, other)}
    assert _restore_changed(pristine) == []
    seed.write_text("# Written by mtj-hil lab serve")  # a command overwrote what it was given
    other.unlink()
    assert _restore_changed(pristine) == ["char.h5", "station.toml"]
    assert seed.read_bytes() == b"run file bytes" and other.read_text() == "[station]\n"
