"""A run file as the JSON the page draws (``/api/snapshot``): header, progress and times,
warnings, and the kind's own part (:mod:`.characterization`, :mod:`.switching`).

A :class:`RunSource` is what the server watches: :meth:`RunSource.key` changes whenever
the page may show something new (the file changed, a journal part was committed, or its
writer went away), and :meth:`RunSource.snapshot` reads what has been committed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Protocol

import h5py

from mtj_hil.errors import StoreError
from mtj_hil.live.characterization import CharacterizationView
from mtj_hil.live.common import events, header, progress
from mtj_hil.live.liveness import run_state
from mtj_hil.live.reading import NotARunFile, read_retrying
from mtj_hil.live.switching import SwitchingView
from mtj_hil.runs.store.journal import list_parts

KINDS = ("characterization", "switching")


class Source(Protocol):
    """What the server serves: a change key and the snapshot."""

    title: str

    def key(self) -> Any:
        """Changes whenever :meth:`snapshot` may differ."""
        ...

    def snapshot(self) -> dict[str, Any]:
        """The page's data (JSON-able)."""
        ...


def check_run_file(path: str | Path) -> None:
    """Refuse, before serving, a file that exists but is not a run file of a known kind
    (a missing one is fine: the run may not have created it yet).

    Raises:
        StoreError: not an mtj-hil run file, or of a kind the page cannot show.
    """
    if not Path(path).exists():
        return
    kind = read_retrying(path, lambda h5: str(h5.attrs.get("kind", "")))
    if kind not in KINDS:
        raise StoreError(f"{path} is a {kind!r} run; the live view shows {' and '.join(KINDS)}")


class RunSource:
    """A run file watched by the server (it may not exist yet, or be half-written)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.title = self.path.name
        self.view: CharacterizationView | SwitchingView | None = None
        self.view_kind = ""
        self.last: dict[str, Any] | None = None
        self._held_at = 0.0
        self._state = ""
        self._work = 0
        self._shown = 0

    def key(self) -> Any:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        # a killed writer changes nothing on disk: look at the state every second
        now = time.monotonic()
        if self._state == "running" and now - self._held_at > 1.0:
            self._held_at = now
            self._state = self._peek_state()
        self._work += bool(getattr(self.view, "pending", None))  # arrays left to classify
        parts = _last_part(self.path)
        return (st.st_mtime_ns, st.st_size, st.st_ino, parts, self._state, self._work)

    def _status_now(self) -> str:
        """The status the file at the path records now ("" if it cannot be read)."""
        try:
            return read_retrying(self.path, lambda h5: str(h5.attrs.get("status", "")))
        except (OSError, StoreError):
            return ""

    def _peek_state(self) -> str:
        status = self._status_now()
        return run_state(status, self.path) if status else self._state

    def snapshot(self) -> dict[str, Any]:
        base = {"source": "run", "path": str(self.path), "title": self.title}
        try:
            snap = read_retrying(self.path, self._consistent)
        except FileNotFoundError:
            if self.last is not None:  # it was there: deleted, or moved away
                gone = "the run file is gone (deleted or moved): waiting for it to come back"
                return {**base, "state": "waiting", "message": gone}
            return {**base, "state": "waiting", "message": "no run file yet: waiting for it"}
        except NotARunFile as exc:
            return {**base, "state": "error", "message": str(exc)}
        except StoreError as exc:
            if self.last is None:
                return {**base, "state": "error", "message": str(exc)}
            return {**self.last, "message": f"showing the last good read: {exc}"}
        self.last = {**base, **snap}
        self._state = snap["state"]
        return self.last

    def _fresh(self, done: list[int]) -> bool:
        """Whether arrays appeared since the last snapshot (then they are shown at once,
        and classified from the next snapshot on)."""
        new = len(done) != self._shown
        self._shown = len(done)
        return new

    def _consistent(self, h5: h5py.File) -> dict[str, Any]:
        """:meth:`_read`, undone and retried when the file changed while it was read (a
        flush under way: data read then may be half old, half new)."""
        before = _stamp(self.path)
        known = set(self.view.arrays_read()) if self.view is not None else set()
        was_final = bool(self.last and (self.last.get("characterization") or {}).get("final"))
        snap = self._read(h5)
        if _stamp(self.path) != before or (
            # a run that just ended: this handle may be the file it replaced
            snap["state"] == "interrupted" and self._status_now() != "running"
        ):
            if self.view is not None:
                self.view.forget(set(self.view.arrays_read()) - known, finals=not was_final)
            self._shown = 0
            raise OSError("the file changed while it was read")
        return snap

    def _read(self, h5: h5py.File) -> dict[str, Any]:
        head = header(h5)
        kind = head["kind"]
        if kind not in KINDS:
            raise NotARunFile(f"{self.path} is a {kind!r} run; the page shows {KINDS}")
        if self.view is None or self.view_kind != kind:
            self.view = CharacterizationView() if kind == "characterization" else SwitchingView()
            self.view_kind = kind
        done = self.view.update(h5)
        if isinstance(self.view, CharacterizationView) and not self._fresh(done):
            self.view.classify_pending()
        total = len(head["plan"].get("arrays", [])) or len(done)
        state = run_state(head["status"], self.path)
        if isinstance(self.view, CharacterizationView):
            body = self.view.as_json(done)
        else:
            body = self.view.as_json(h5, done)
        warnings = events(h5) + body.pop("warnings", [])
        if state in ("failed", "aborted", "interrupted"):
            reason = head["status_reason"] or "the measuring process stopped without a word"
            warnings.append({"source": "run", "text": f"{state}: {reason}"})
        return {
            "state": state,
            "header": head,
            "progress": progress(h5, head, len(done), total, state),
            "done_arrays": done,
            kind: body,
            "warnings": warnings,
            "message": "",
        }


def _last_part(path: Path) -> str | None:
    """The newest committed journal part of ``path`` (None when all are folded in)."""
    parts = list_parts(path)
    return parts[-1][1].name if parts else None


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)
