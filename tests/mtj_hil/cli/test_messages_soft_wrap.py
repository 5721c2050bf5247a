"""Every message a command prints with text that varies (a path, a name, a number) is
printed unbroken (``soft_wrap=True``): the terminal folds it, the printer does not cut it.

Printed at 80 columns into a pipe or a CI log, such a message was broken wherever the
column fell; ``campaign status`` on a damaged index broke "showing the state of the run
files" in two for paths of some lengths, and a test looking for the phrase failed in CI.
"""

from __future__ import annotations

import ast
from pathlib import Path

import mtj_hil.cli

CLI = Path(mtj_hil.cli.__file__).parent


def _varies(node: ast.expr) -> bool:
    """Whether a printed argument holds anything but literal text."""
    return not (isinstance(node, ast.Constant) and isinstance(node.value, str))


def _unwrapped_messages(folder: Path = CLI) -> list[str]:
    """``file:line`` of each ``...console.print(...)`` in ``folder`` printing varying text
    without ``soft_wrap=True``."""
    found = []
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            target = node.func.value
            if node.func.attr != "print" or not (
                isinstance(target, ast.Name) and target.id.endswith("console")
            ):
                continue
            soft = any(
                k.arg == "soft_wrap" and isinstance(k.value, ast.Constant) and k.value.value
                for k in node.keywords
            )
            if not soft and any(_varies(a) for a in node.args):
                found.append(f"{path.name}:{node.lineno}")
    return found


def test_every_message_with_varying_text_is_printed_unbroken() -> None:
    assert _unwrapped_messages() == []


def test_the_check_sees_a_message_without_soft_wrap(tmp_path) -> None:
    (tmp_path / "cmd.py").write_text(
        'console.print(f"run file {run} written")\n'
        'console.print(f"run file {run} written", soft_wrap=True)\n'
        'console.print("live view stopped")\n'
    )
    assert _unwrapped_messages(tmp_path) == ["cmd.py:1"]
