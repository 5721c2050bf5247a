"""Is a figure readable? Every drawn text inside the figure and clear of every other text,
checked from the text extents matplotlib draws (used by the report tests)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox


@dataclass(frozen=True)
class DrawnText:
    """One text as drawn: its string and its extent in display pixels."""

    text: str
    box: Bbox


@contextmanager
def _recording(out: list[DrawnText]) -> Iterator[None]:
    original = Text.draw

    def draw(self: Text, renderer) -> None:  # noqa: ANN001 - matplotlib's renderer
        original(self, renderer)
        if self.get_visible() and self.get_text().strip():
            out.append(DrawnText(self.get_text(), self.get_window_extent(renderer)))

    Text.draw = draw  # type: ignore[method-assign]
    try:
        yield
    finally:
        Text.draw = original  # type: ignore[method-assign]


def drawn_texts(fig: Figure) -> list[DrawnText]:
    """Every non-empty text the figure draws (titles, labels, ticks, legends, tables)."""
    out: list[DrawnText] = []
    with _recording(out):
        fig.canvas.draw()
    return out


def text_problems(fig: Figure, tolerance: float = 1.0) -> list[str]:
    """What makes the figure hard to read: texts that leave the figure, and pairs of texts
    that overlap by more than ``tolerance`` pixels each way. Empty when readable."""
    texts = drawn_texts(fig)
    width, height = fig.bbox.width, fig.bbox.height
    problems = []
    for t in texts:
        b = t.box
        if (
            b.x0 < -tolerance
            or b.y0 < -tolerance
            or b.x1 > width + tolerance
            or (b.y1 > height + tolerance)
        ):
            problems.append(f"leaves the figure: {t.text[:60]!r}")
    for i, a in enumerate(texts):
        for b in texts[i + 1 :]:
            dx = min(a.box.x1, b.box.x1) - max(a.box.x0, b.box.x0)
            dy = min(a.box.y1, b.box.y1) - max(a.box.y0, b.box.y0)
            if dx > tolerance and dy > tolerance:
                problems.append(f"overlap: {a.text[:40]!r} and {b.text[:40]!r}")
    return problems
