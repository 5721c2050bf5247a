"""Small campaigns for the campaign tests."""

from __future__ import annotations

from pathlib import Path

import pytest

LOT = """
[campaign]
name = "{name}"
out_dir = "{out}"

[[task]]
name = "lot"
kind = "characterize"
dies = "{dies}"
cycles = {cycles}
reads = {reads}
"""

BORDERS = """
[[task]]
name = "sweep"
kind = "borders"
characterization = "lot"
seeds = [0, 1]
dataset = "digits"
hidden = 16
epochs = 2
finetune_epochs = 1
stats_epochs = 1
pool_size = 4
"""


def write_campaign(
    folder: Path,
    name: str = "c",
    out: str = "out",
    dies: str = "0-3",
    cycles: int = 1,
    reads: int = 1,
    borders: bool = True,
    extra: str = "",
) -> Path:
    """A campaign file in ``folder``: characterise ``dies`` of lot 0, then (optionally) a
    tiny Borders sweep over two seeds."""
    path = folder / f"{name}.toml"
    text = LOT.format(name=name, out=out, dies=dies, cycles=cycles, reads=reads)
    path.write_text(text + (BORDERS if borders else "") + extra)
    return path


@pytest.fixture(scope="module")
def cluster_client():
    """A Dask client on a LocalCluster of 2 single-threaded worker processes."""
    from mtj_hil.campaigns.engine import connect

    client = connect(workers=2)
    yield client
    cluster = client.cluster
    client.close()
    cluster.close()
