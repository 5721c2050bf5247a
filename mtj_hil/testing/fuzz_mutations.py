"""Mutations of the files the fuzzer feeds the commands (see :mod:`mtj_hil.testing.fuzz`):
TOML text edited like a careless hand would, run files damaged like a bad disk would."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

TOML_VALUES = ('"x"', "-1", "0", "4097", "1e309", "nan", "true", "[]", "{}", '"[/bold]"',
               '"\u00e9"', "[1, 2]", '{a = 1}', "1979-05-27T07:32:00Z", '"0-40"')  # fmt: skip


def _typo(rng: random.Random, word: str) -> str:
    if len(word) < 2:
        return word + "x"
    i = rng.randrange(len(word) - 1)
    op = rng.randrange(3)
    if op == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if op == 1:
        return word[:i] + word[i + 1 :]
    return word[:i] + rng.choice("aeioux_") + word[i:]


def mutate_text(rng: random.Random, text: str) -> bytes:
    """``text`` (TOML) with one to three random edits: a key misspelt, a value replaced, a
    line dropped or doubled, a section invented, bytes that are not UTF-8, a BOM, a NUL."""
    lines = text.splitlines()
    for _ in range(rng.randint(1, 3)):
        if not lines:
            break
        i = rng.randrange(len(lines))
        line = lines[i]
        op = rng.randrange(10)
        if op <= 2 and "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            lines[i] = f"{_typo(rng, key.strip())} ={value}"
        elif op <= 5 and "=" in line and not line.lstrip().startswith("#"):
            key, _, _ = line.partition("=")
            lines[i] = f"{key.rstrip()} = {rng.choice(TOML_VALUES)}"
        elif op == 6:
            del lines[i]
        elif op == 7:
            lines.insert(i, line)
        elif op == 8:
            lines.insert(i, rng.choice(("[nonsense]", "[[task]]", "[smu]", "[station.x]", "x = 1")))
        else:
            lines[i] = line[: rng.randrange(len(line) + 1)]
    data = ("\n".join(lines) + "\n").encode()
    roll = rng.random()
    if roll < 0.05:
        data = b"\xef\xbb\xbf" + data
    elif roll < 0.10:
        k = rng.randrange(len(data) + 1)
        data = data[:k] + rng.choice((b"\xff\xfe", b"\x00", b"\xe9")) + data[k:]
    return data


def mutate_run_file(rng: random.Random, source: Path, target: Path) -> None:
    """A copy of the run file ``source`` damaged: bytes overwritten, cut short, an attribute
    of its provenance changed, or a dataset removed."""
    shutil.copyfile(source, target)
    op = rng.randrange(5)
    size = target.stat().st_size
    if op == 0:
        with target.open("r+b") as fh:
            fh.seek(rng.randrange(size))
            fh.write(os.urandom(rng.choice((8, 512, 4096, 65536))))
    elif op == 1:
        with target.open("r+b") as fh:
            fh.truncate(rng.randrange(size))
    else:
        import h5py

        with h5py.File(target, "a") as h5:
            if op == 2:
                key = rng.choice(("status", "kind", "plan", "layout", "die_id", "format_version"))
                h5.attrs[key] = rng.choice(("x", "[/bold]", "{", "running", 99, ""))
            elif op == 3 and "plan" in h5.attrs:
                del h5.attrs["plan"]
            else:
                names: list[str] = []
                h5.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
                if names:
                    del h5[rng.choice(names)]
