"""Read a campaign index written by mtj-hil 0.1 (no checksum) in a process of its own:
``python -m mtj_hil.campaigns.index_reader FILE`` prints ``{"header": ..., "records": ...}``
as JSON (exit 3: not a campaign index). See :meth:`CampaignIndex._read_legacy`: damaged HDF5
metadata can make the HDF5 library loop or crash, which must not take the caller with it."""

from __future__ import annotations

import json
import sys

import h5py

from mtj_hil.campaigns.index import FORMAT, parse


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m mtj_hil.campaigns.index_reader FILE", file=sys.stderr)
        return 2
    try:
        with h5py.File(args[0], "r", locking=False) as h5:
            if h5.attrs.get("format") != FORMAT:
                return 3
            header, records = parse(h5)
    except (OSError, KeyError, ValueError) as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"header": header, "records": records}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
