"""Shared fixtures: simulated dies and profiles; the ``--hardware`` option."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from mtj_hil.sim import SimulatedChip, load_profile
from mtj_hil.sim.profile import DeviceProfile


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--hardware``: also run the tests marked ``hardware``.

    Such tests need a real instrument station (controller board and SMUs on this
    machine); without the option they are skipped, so the suite runs anywhere.
    """
    parser.addoption(
        "--hardware",
        action="store_true",
        default=False,
        help="run tests marked 'hardware' (they need a real instrument station)",
    )


@pytest.fixture(autouse=True)
def _bench_locks_of_its_own(tmp_path_factory: pytest.TempPathFactory, monkeypatch) -> None:
    """Each test takes its benches' locks (mtj_hil.station.bench_lock) in a folder of its
    own: tests on other workers that name the same unreachable address are not one bench.
    Processes a test starts inherit it, so two of them on one bench still meet."""
    monkeypatch.setenv("MTJ_HIL_LOCK_DIR", str(tmp_path_factory.mktemp("bench-locks")))


SCRIPTS_TESTS = Path(__file__).parent / "scripts"
"""The benches' smoke runs: the suite's longest single tests."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The benches' smoke tests first (collected last, ``tests/scripts``, they were left to
    the end of the run, where one worker ran them while the others had nothing to do; each
    file's tests stay together and in order); skip the tests marked ``hardware`` unless
    ``--hardware`` was given."""
    items.sort(key=lambda item: not item.path.is_relative_to(SCRIPTS_TESTS))
    if config.getoption("--hardware"):
        return
    skip = pytest.mark.skip(reason="needs a real instrument station; run with --hardware")
    for item in items:
        if item.get_closest_marker("hardware") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def profile_1t1r() -> DeviceProfile:
    return load_profile("1t1r-20k")


@pytest.fixture(scope="session")
def profile_passive() -> DeviceProfile:
    return load_profile("passive-15x15")


@pytest.fixture
def chip(profile_1t1r: DeviceProfile) -> SimulatedChip:
    """Die 7 of simulated lot 0 (default profile)."""
    return SimulatedChip.from_lot(profile_1t1r, lot_seed=0, die_index=7)


@pytest.fixture
def python_sigint():
    """SIGINT raises ``KeyboardInterrupt`` for the test, whatever the test process inherited
    (a shell starts background jobs with SIGINT ignored, and an ignored Ctrl-C is, rightly,
    dropped by the code under test); the inherited handler comes back afterwards."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


class _NoPause:
    """``time`` for pyserial's ``socket://`` handler: its ``close()`` sleeps 0.3 s "in case
    of quick reconnects"; the virtual lab's board server accepts at once, and the suite
    opens and closes boards hundreds of times."""

    def __getattr__(self, name: str):
        import time

        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        pass


@pytest.fixture(autouse=True, scope="session")
def _no_pause_closing_network_serial_ports():
    from serial.urlhandler import protocol_socket

    real = protocol_socket.time
    protocol_socket.time = _NoPause()
    yield
    protocol_socket.time = real


@pytest.fixture
def tight_station(tmp_path):
    """A factory: the shipped virtual-lab station written to ``tmp_path/tight.toml`` with
    ``max_read_voltage = read`` (V), ``max_pulse_amplitude = pulse`` (V) and its calibration
    folder in ``tmp_path``; returns the file's path."""

    def write(read: float = 0.05, pulse: float = 0.5) -> Path:
        root = Path(__file__).resolve().parents[1]
        text = (root / "stations" / "virtual-lab.toml").read_text()
        for old, new in (
            ("max_read_voltage = 0.3 ", f"max_read_voltage = {read} "),
            ("max_pulse_amplitude = 1.2 ", f"max_pulse_amplitude = {pulse} "),
            ("voltages = [0.05, 0.15, 0.3]", f"voltages = [{read}]"),
            ('dir = "calibrations/virtual-lab"', 'dir = "cal"'),
        ):
            assert old in text, old
            text = text.replace(old, new)
        path = tmp_path / "tight.toml"
        path.write_text(text)
        return path

    return write


SWITCHING_CAMPAIGN = """
[campaign]
name = "sw"
out_dir = "out"

[[task]]
name = "sw"
kind = "switching"
dies = "0"
widths = {widths}
amplitudes = [0.6, 0.8]
{extra}
"""


@pytest.fixture
def switching_campaign(tmp_path):
    """A factory: a one-task switching campaign (die 0, widths ``[1e-6]``, amplitudes 0.6
    and 0.8 V) with the TOML lines ``extra`` added to its task, written to
    ``tmp_path/sw.toml``; returns the file's path."""

    def write(extra: str = "", widths: str = "[1e-6]") -> Path:
        path = tmp_path / "sw.toml"
        path.write_text(SWITCHING_CAMPAIGN.format(extra=extra, widths=widths))
        return path

    return write


@pytest.fixture
def old_board(monkeypatch) -> None:
    """Every virtual lab from here on serves a controller board with firmware 1.1.0 (no
    sequences), whatever its station file asks for."""
    from mtj_hil.sim.lab.lab import VirtualLab

    real = VirtualLab.__init__

    def init(self, *args, **kwargs):
        real(self, *args, **{**kwargs, "board_firmware": "1.1.0"})

    monkeypatch.setattr(VirtualLab, "__init__", init)
