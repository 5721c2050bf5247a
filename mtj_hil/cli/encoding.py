"""Standard output and error that print any text whatever their encoding."""

from __future__ import annotations

import codecs
import sys
from contextlib import suppress

_ESCAPED = "mtj_hil.escaped"
"""Name of the encoding error handler :func:`any_encoding` gives stdout and stderr."""


def _escape(exc: UnicodeError) -> tuple[str | bytes, int]:
    """A character the output's encoding lacks: a byte the system handed over as a surrogate
    (a file name not in the locale's encoding) goes out as that byte again; any other as its
    escape (``wafer-\\xb51`` for ``wafer-µ1`` on an ASCII output)."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    code = ord(exc.object[exc.start])
    if 0xDC80 <= code <= 0xDCFF:
        return bytes([code - 0xDC00]), exc.start + 1
    return codecs.backslashreplace_errors(
        UnicodeEncodeError(exc.encoding, exc.object, exc.start, exc.start + 1, exc.reason)
    )


codecs.register_error(_ESCAPED, _escape)


def any_encoding() -> None:
    """Let stdout and stderr print any text whatever their encoding (``PYTHONIOENCODING=ascii``,
    ``LC_ALL=C``): a character they cannot encode is escaped (see :func:`_escape`), where it
    raised ``UnicodeEncodeError`` on stdout and ended the command with nothing shown."""
    for stream in (sys.stdout, sys.stderr):
        with suppress(AttributeError, ValueError, OSError):  # not a text file, or closed
            stream.reconfigure(errors=_ESCAPED)
