"""Opening the controller board's serial port (pyserial), with the station's options.

The only module of the controller driver that imports pyserial; the codec and the
transaction engine work on any port-like object.
"""

from __future__ import annotations

from typing import Any

from mtj_hil.instruments.controller.socket_lines import SocketLines
from mtj_hil.instruments.errors import InstrumentError

__all__ = ["open_port"]


def open_port(url: str, **options: Any) -> Any:
    """Open a pyserial port or URL with the station's options; errors become InstrumentError.

    ``dtr`` / ``rts`` of ``None`` leave the lines as pyserial opens them. A ``socket://``
    port reads its replies in chunks (:class:`~mtj_hil.instruments.controller.socket_lines.SocketLines`).
    """
    import serial  # local import: the codec is usable without pyserial

    dtr, rts = options.pop("dtr", None), options.pop("rts", None)
    try:
        port = serial.serial_for_url(url, do_not_open=True, **options)
        if dtr is not None:
            port.dtr = dtr
        if rts is not None:
            port.rts = rts
        port.open()
    except (OSError, ValueError) as exc:
        busy = "busy" in str(exc).lower() or "temporarily unavailable" in str(exc).lower()
        hint = " (in use by another process: the port is opened exclusively)" if busy else ""
        raise InstrumentError(f"controller port {url}: cannot open: {exc}{hint}") from exc
    return SocketLines(port) if url.startswith("socket://") else port
