"""What a file holds, told from its first bytes rather than its name.

A run file renamed ``x.toml`` is still a run file; every command that takes either a run
file or a TOML file (a campaign, a profile) asks here first, so the name's ending never
sends HDF5 to the TOML parser.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
"""The first bytes of an HDF5 file without a user block (HDF5 File Format Specification,
section II.A "Format Signature")."""

RUN_HEADER = b"mtj-hil checksummed HDF5\n"
"""The first bytes of a checksummed run file (:mod:`mtj_hil.runs.store.image`)."""


def hdf5_signature_at_block(fh: BinaryIO) -> bool:
    """Whether the open binary file ``fh`` holds the HDF5 signature where HDF5 looks for it:
    at byte 0, or after a user block of 512, 1024, 2048 ... bytes (every run file has one)."""
    offset = 0
    while True:
        fh.seek(offset)
        found = fh.read(len(HDF5_SIGNATURE))
        if found == HDF5_SIGNATURE:
            return True
        if len(found) < len(HDF5_SIGNATURE):
            return False
        offset = 512 if offset == 0 else 2 * offset


def holds_hdf5(path: str | Path) -> bool:
    """Whether ``path`` is a readable regular file holding HDF5: a run file (its checksum
    header present, even when the HDF5 after it is damaged), a 0.1 run file or an export,
    whatever its name ends in. False for folders, missing and unreadable files."""
    path = Path(path)
    try:
        if not path.is_file():
            return False
        with open(path, "rb") as fh:
            if fh.read(len(RUN_HEADER)) == RUN_HEADER:
                return True
            return hdf5_signature_at_block(fh)
    except OSError:
        return False


def is_campaign_path(path: str | Path) -> bool:
    """Whether a command that takes a run file or a campaign file should read ``path`` as a
    campaign: named ``.toml`` and not holding HDF5 (a renamed run file stays a run file)."""
    return Path(path).suffix.lower() == ".toml" and not holds_hdf5(path)
