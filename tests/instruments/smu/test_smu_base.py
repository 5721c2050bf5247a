"""Shared SMU helpers: Reading, overflow handling, error parsing, ramps, best-effort shutdown."""

import dataclasses
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mtj_hil.instruments.errors import InstrumentError
from mtj_hil.instruments.smu import Reading, SourceMeter
from mtj_hil.instruments.smu.base import (
    best_effort,
    check_sweep,
    drain_error_queue,
    is_overflow,
    make_reading,
    parse_numbers,
    parse_scpi_error,
    ramp_points,
    run_ramp,
    status_word,
)


def test_reading_is_frozen():
    r = Reading(voltage=0.1, current=1e-6, compliance=False, overflow=False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.current = 2e-6  # type: ignore[misc]


@pytest.mark.parametrize("sentinel", [9.9e37, -9.9e37, math.inf, math.nan])
def test_overflow_sentinels_become_nan_and_flag(sentinel):
    r = make_reading(0.2, sentinel, compliance=False)
    assert r.overflow is True and r.no_data is False
    assert math.isnan(r.current)
    assert r.voltage == 0.2


def test_not_a_number_sentinel_is_no_data_unless_the_model_has_none():
    r = make_reading(0.2, 9.91e37, compliance=False)
    assert r.no_data and not r.overflow and math.isnan(r.current) and not r.trustworthy
    r = make_reading(0.2, 9.91e37, compliance=False, no_data_value=None)  # 2600: over-range
    assert r.overflow and not r.no_data


def test_timestamp_and_range_compliance_are_kept():
    r = make_reading(0.1, 1.05e-6, compliance=False, range_compliance=True, timestamp=12.5)
    assert r.timestamp == 12.5 and r.range_compliance and not r.trustworthy
    assert make_reading(0.1, 1e-6, False, timestamp=9.91e37).timestamp is None


def test_overflow_flag_forces_nan_even_for_finite_number():
    r = make_reading(0.2, 1.05e-3, compliance=True, overflow=True)
    assert r.overflow and math.isnan(r.current) and r.compliance


def test_normal_reading_is_kept():
    r = make_reading(0.2, 1.5e-6, compliance=False)
    assert r == Reading(0.2, 1.5e-6, False, False)
    assert not is_overflow(1e37)


def test_parse_numbers_rejects_garbage_and_wrong_counts():
    assert parse_numbers("1,2,3\t4 5,6", 3, "x") == [1, 2, 3, 4, 5, 6]
    with pytest.raises(InstrumentError):
        parse_numbers("1,abc", 2, "x")
    with pytest.raises(InstrumentError):
        parse_numbers("1,2,3", 2, "x")
    with pytest.raises(InstrumentError):
        parse_numbers("", 1, "x")


def test_status_word_accepts_float_text_and_hex():
    assert status_word(8.0) == 8
    assert status_word("6.40000e+01") == 64
    assert status_word("0x20") == 32
    with pytest.raises(InstrumentError):
        status_word(-1.0)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('0,"No error"', (0, "No error")),
        ('+0,"No error"', (0, "No error")),
        ('-113,"Undefined header"', (-113, "Undefined header")),
        ('-222,"Data out of range; value clipped"', (-222, "Data out of range; value clipped")),
    ],
)
def test_parse_scpi_error(reply, expected):
    assert parse_scpi_error(reply) == expected


def test_parse_scpi_error_rejects_garbage():
    with pytest.raises(InstrumentError):
        parse_scpi_error("hello")


def test_drain_stops_at_zero_and_is_bounded():
    queue = iter([(-100, "a"), (-200, "b"), (0, "No error"), (-300, "never read")])
    assert drain_error_queue(lambda: next(queue)) == [(-100, "a"), (-200, "b")]
    assert len(drain_error_queue(lambda: (-1, "stuck"), limit=5)) == 5


def test_check_sweep_rejects_bad_lists():
    assert check_sweep([0, 0.5], 1.0, 10) == [0.0, 0.5]
    for bad in ([], [0.1] * 11, [2.0], [math.nan], [math.inf]):
        with pytest.raises(ValueError):
            check_sweep(bad, 1.0, 10)


@given(
    start=st.floats(-10, 10),
    target=st.floats(-10, 10),
    step=st.floats(1e-3, 5),
)
def test_ramp_points_bounded_steps_and_exact_end(start, target, step):
    points = ramp_points(start, target, step)
    if start == target:
        assert points == []
        return
    assert points[-1] == target
    previous = start
    for p in points:
        assert abs(p - previous) <= step * (1 + 1e-9)
        previous = p


@pytest.mark.parametrize("step", [0, -0.1, math.nan])
def test_ramp_points_rejects_bad_step(step):
    with pytest.raises(ValueError):
        ramp_points(0, 1, step)


def test_run_ramp_waits_according_to_rate():
    sent, waits = [], []
    run_ramp(sent.append, 0.0, -0.3, 0.1, 0.5, waits.append)
    assert sent == pytest.approx([-0.1, -0.2, -0.3])
    assert waits == pytest.approx([0.2, 0.2, 0.2])


@pytest.mark.parametrize("rate", [0, -1, math.inf])
def test_run_ramp_rejects_bad_rate_before_sending(rate):
    sent = []
    with pytest.raises(ValueError):
        run_ramp(sent.append, 0.0, 1.0, 0.1, rate, lambda s: None)
    assert sent == []


def test_best_effort_runs_every_step_and_never_raises():
    done = []

    def boom():
        raise OSError("bus error")

    failures = best_effort("dut", [("first", boom), ("second", lambda: done.append(2))])
    assert done == [2]
    assert len(failures) == 1 and failures[0].startswith("first")


def test_isinstance_does_not_touch_properties():
    class Probe:
        touched = False

        @property
        def source_voltage(self):
            Probe.touched = True
            raise AssertionError("property evaluated")

    for name in SourceMeter._static_members:  # type: ignore[attr-defined]
        if name != "source_voltage":
            setattr(Probe, name, None)
    assert isinstance(Probe(), SourceMeter)
    assert not Probe.touched
    assert not isinstance(object(), SourceMeter)
