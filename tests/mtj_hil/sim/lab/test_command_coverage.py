"""Every model's everyday command list (the bench's data) against the virtual SMUs."""

from __future__ import annotations

import pytest

from mtj_hil.testing.coverage import Entry, check_dialect, load_entries, try_entry

DIALECTS = ("keithley2400", "keithley2450", "keysight_b2900", "keithley2600")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_at_least_90_percent_of_the_everyday_commands_behave_as_the_manual_says(dialect):
    outcome = check_dialect(dialect)
    assert outcome.total >= 60
    assert outcome.passed >= 0.9 * outcome.total, outcome.failures


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_entry_names_its_manual_section(dialect):
    assert all(e.section for e in load_entries(dialect))


def test_the_check_fails_on_a_wrong_reply_and_on_an_error():
    assert try_entry("keithley2400", Entry(":SENS:AVER:COUN 5", "x", (), ":SENS:AVER:COUN?", "^7"))
    assert try_entry("keithley2400", Entry(":CALC2:NULL:STAT ON", "x"))  # not modelled: -113
    assert try_entry("keithley2600", Entry("print(smua.nosuch)", "x", (), None, "^1"))  # nil
    assert (
        try_entry("keithley2400", Entry(":SENS:AVER:COUN 5", "x", (), ":SENS:AVER:COUN?", "5"))
        is None
    )
