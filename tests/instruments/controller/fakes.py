"""Scripted serial port and the frames of the reference transcript, shared by the
controller-driver tests (docs/chip-protocol.md, section 7)."""

from __future__ import annotations

from mtj_hil.instruments.controller import ChipController, encode_frame

# --- frames of the reference transcript (docs/chip-protocol.md, section 7) -----------------

SYNC_00 = b"\nSYNC 00*6F\n"  # LF flushes the board's parser, then SYNC
SYNC_00_OK = b"OK 00 SYNC last=--*BD\n"
IDN_01 = b"IDN 01*25\n"
IDN_01_OK = b"OK 01 IDN model=XBC-1 sn=XB0042 fw=1.0.0 die=CMOS1T1R arrays=32 rows=25 cols=25*A9\n"
LIM_02 = b"LIM 02*6F\n"
LIM_02_OK = (
    b"OK 02 LIM vpulse_max=3.300 width_min=1.000e-08 width_max=1.000e-03 vread_min=0.000 "
    b"vread_max=3.300 adc_bits=12 t_cmd=2.000e-03 t_route=5.000e-03 t_pulse=1.000e-04 "
    b"t_dac=2.000e-04 t_read=1.500e-03*BC\n"
)
HANDSHAKE = [(SYNC_00, SYNC_00_OK), (IDN_01, IDN_01_OK), (LIM_02, LIM_02_OK)]


class FakePort:
    """Scripted serial port: each write must equal the next expected bytes; the paired reply
    bytes then become readable. ``read_until`` returns what is buffered up to the first LF,
    or everything without LF (as pyserial does on a timeout)."""

    def __init__(self, script: list[tuple[bytes, bytes]] | None = None) -> None:
        self.script = list(script or [])
        self.written: list[bytes] = []
        self.rx = bytearray()
        self.timeout: float | None = None
        self.timeouts: list[float] = []
        self.drains = 0
        self.port = "fake-port"

    def expect(self, request: bytes, reply: bytes) -> None:
        self.script.append((request, reply))

    def write(self, data: bytes) -> int:
        data = bytes(data)
        self.written.append(data)
        assert self.script, f"unexpected write {data!r}"
        expected, reply = self.script.pop(0)
        assert data == expected, f"wrote {data!r}, expected {expected!r}"
        self.rx += reply
        return len(data)

    def read_until(self, expected: bytes = b"\n", size: int | None = None) -> bytes:
        assert self.timeout is not None and self.timeout > 0
        self.timeouts.append(self.timeout)
        i = self.rx.find(expected)
        end = len(self.rx) if i < 0 else i + 1
        if size is not None:
            end = min(end, size)
        out = bytes(self.rx[:end])
        del self.rx[:end]
        return out

    def reset_input_buffer(self) -> None:
        self.drains += 1
        self.rx.clear()

    def close(self) -> None:
        pass


def make(extra: list[tuple[bytes, bytes]] | None = None, **kw) -> tuple[ChipController, FakePort]:
    port = FakePort(HANDSHAKE)
    ctl = ChipController(connection=port, port_name=kw.pop("port_name", "fake-port"), **kw)
    assert not port.script
    port.written.clear()
    port.timeouts.clear()
    port.script.extend(extra or [])
    return ctl, port


def frame(verb: str, seq: int, *args: str) -> bytes:
    return encode_frame(verb, seq, args)


IDN_FIELDS = IDN_01_OK.decode().split("*")[0].split()[3:]

STAT_FIELDS = (
    "busy=0",
    "err=E00",
    "arr=7",
    "route=ADC",
    "smu=--",
    "src=--",
    "rows=1FFFFFF",
    "cols=1FFFFFF",
    "temp=31.5",
    "flags=00",
)
