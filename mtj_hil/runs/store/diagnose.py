"""Locate the damage in an HDF5 file: ``python -m mtj_hil.runs.store.diagnose FILE`` prints a
JSON list of ``"dataset: why"`` for every dataset that cannot be read or differs from its
``sha256`` attribute (and a ``(structure)`` line when the attributes cannot be read).

Run in a separate process (see :func:`mtj_hil.runs.store.reading.diagnose`): damaged HDF5
metadata can make the HDF5 library loop or crash, which must not take the caller with it.
"""

from __future__ import annotations

import json
import sys

from mtj_hil.runs.store.image import damaged_datasets, open_image, read_file


def _read_attrs(_: str, obj: object) -> None:
    dict(obj.attrs)  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m mtj_hil.runs.store.diagnose FILE", file=sys.stderr)
        return 2
    try:
        h5 = open_image(read_file(args[0]))
    except OSError as exc:
        print(json.dumps([f"(structure): HDF5 cannot open it: {exc}"]))
        return 0
    with h5:
        found = []
        try:  # the attributes of the file and of every group and dataset (metadata too)
            dict(h5.attrs)
            h5.visititems(_read_attrs)
        except Exception as exc:  # noqa: BLE001 - any failure to read is damage
            found.append(f"(structure): attributes cannot be read: {type(exc).__name__}: {exc}")
        print(json.dumps(found + damaged_datasets(h5)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
