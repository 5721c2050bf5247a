"""Path arguments and options of the command line."""

from __future__ import annotations

import os
from typing import Any

import click


class GivenPath(click.Path):
    """``click.Path`` refusing an empty value (``--out ""`` would name the current folder),
    a name of only spaces (``--out " "`` made a file named " ") and ``-`` (which reads as
    standard input or output, and made a file named "-"); where a file is asked for, a name
    ending in ``/`` (a folder: ``--out runs/`` wrote a file named ``runs``; ``show run.h5/``
    is told that ``run.h5`` is a file, not to write a file in it)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        what = "file" if self.file_okay else "folder"
        if isinstance(value, str) and not value:
            self.fail(f"an empty path names no {what}; give a {what} name", param, ctx)
        if isinstance(value, str) and value == "-":
            self.fail(
                f"'-' is not standard input or output here; give a {what} name (./- for a "
                f"{what} named '-')",
                param,
                ctx,
            )
        text = value if isinstance(value, str) else "x"  # a default given as a Path
        if not self.dir_okay and text.endswith(("/", "/.")) and text.strip("/."):
            bare = (text[:-1] if text.endswith("/.") else text).rstrip("/")
            if os.path.isfile(bare):  # 'show run.h5/': the file is there, without the '/'
                self.fail(
                    f"{text!r} ends in '/', which names a folder, but {bare} is a file: "
                    f"drop the {text[len(bare) :]!r}",
                    param,
                    ctx,
                )
            self.fail(
                f"{text!r} ends in '/', which names a folder; give the file to write in it "
                f"(e.g. {text.rstrip('/')}/name)",
                param,
                ctx,
            )
        if text.rstrip("/") and not text.rstrip("/").rsplit("/", 1)[-1].strip():
            self.fail(f"{text!r} ends in a name of only spaces; give a {what} name", param, ctx)
        return super().convert(value, param, ctx)
