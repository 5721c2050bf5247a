"""What every protocol sink over a run file shares: creating and resuming the file, the
stored plan, the finished-arrays index with per-array checksums, and closing."""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Any, Self

import numpy as np

from mtj_hil.errors import StoreError, counted
from mtj_hil.runs.store.identity import refuse_other_bench
from mtj_hil.runs.store.image import CHECKSUM_ATTR, dataset_digest
from mtj_hil.runs.store.journal import RecoveryWarning
from mtj_hil.runs.store.resume import resume_hint
from mtj_hil.runs.store.runfile import RunFile
from mtj_hil.runs.store.structure import PlanRecord

SUMS_TEXT = "SHA-256 of each finished array's rows (see mtj_hil.runs.store.sink.rows_digest)"
"""The description of a run file's dataset of per-array checksums."""


def rows_digest(rows: dict[str, np.ndarray]) -> str:
    """SHA-256 of an array's rows: every stream by name, with its dtype and shape."""
    h = hashlib.sha256()
    for name in sorted(rows):
        value = np.ascontiguousarray(rows[name])
        h.update(f"{name}|{value.dtype.str}|{value.shape}|".encode())
        h.update(value.tobytes())
    return h.hexdigest()


class RunSink:
    """A run file seen as a protocol's sink.

    A subclass names its run ``KIND`` and the ``GROUP`` its streams live under, stores an
    array with :meth:`_commit_array` (its rows, then its index entry and checksum, committed
    as one journal part) and returns the rows of the ``i``-th finished array from
    :meth:`_stored_rows`. Files of mtj-hil 0.1 may hold rows of an append a killed process
    left half-written: :meth:`_repair` drops them when such a file is resumed.
    """

    KIND: str = ""
    GROUP: str = ""
    STRUCTURE: dict[str, Any] = {}
    """Each dataset's type and shape (:mod:`mtj_hil.runs.store.structure`), checked when a
    run file of this kind is opened."""
    ATTRIBUTES: dict[str, Any] = {}
    """What its JSON and numeric group attributes hold (``"group@name"``), checked likewise."""
    PLAN: PlanRecord = PlanRecord({})
    """What its stored plan holds, and which settings a resume needs."""
    UNHASHED: tuple[str, ...] = ()
    """Streams the per-array checksum leaves out: provenance that a resume legitimately
    changes (when an array was measured), not measured data."""

    REQUIRED: tuple[str, ...] = ()
    """Streams that hold a row (at least) for every finished array: a file where one falls
    short is refused before a resume changes anything (its next array would land on the
    rows of an earlier one)."""

    def __init__(self, run: RunFile) -> None:
        self.run = run
        if run.writable and self.GROUP in run.h5:
            self._check_streams()
            self.run.truncate(self._sums_path(), len(self.completed_arrays()))
            self._repair()
            self._backfill_sums()

    @classmethod
    def create(
        cls, path: str | Path, *, plan: dict[str, Any], layout: dict[str, Any], **provenance: Any
    ) -> Self:
        """A new run file of this kind (see :meth:`RunFile.create` for ``provenance``)."""
        return cls(
            RunFile.create(path, cls.KIND, extra={"plan": plan, "layout": layout}, **provenance)
        )

    @classmethod
    def resume(
        cls,
        path: str | Path,
        die_id: str,
        station: dict[str, Any] | None = None,
        operator: str | None = None,
    ) -> Self:
        """Reopen an interrupted run of die ``die_id`` to finish it, recording who resumed
        it (``operator``, default the login name) in the run's ``resumed`` history. Finished arrays whose
        checksum does not verify are dropped, with every array after them, to be measured
        again (with a :class:`RecoveryWarning`). ``station``: the resuming chip's
        ``describe()``, refused when it measures through another bench than the run began
        on, or is a simulated die of another profile
        (:func:`~mtj_hil.runs.store.identity.refuse_other_bench`).

        Raises:
            StoreError: not a run of this kind, another die, another bench, already
                completed, damaged, a plan lacking a setting the resume needs, or being
                written by another process.
        """
        run = RunFile.open(path, "a", kind=cls.KIND)
        try:
            attrs = run.attrs
            if attrs["die_id"] != die_id:
                raise StoreError(
                    f"{path} is a run of die {attrs['die_id']!r}, not {die_id!r}: resume it "
                    f"with the options that measure that die ({resume_hint(attrs, path)})"
                )
            if run.status == "completed":
                raise StoreError(f"{path} is already completed; nothing to resume")
            refuse_other_bench(path, attrs, station)
            sink = cls(run)
            cls.PLAN.refuse_resume(path, sink.plan)
            sink._drop_unverified()
            run.mark_resumed(operator)
        except BaseException:
            run.close()
            raise
        return sink

    @property
    def plan(self) -> dict[str, Any]:
        """The plan recorded when the run was created (JSON data)."""
        return json.loads(self.run.h5.attrs["plan"])

    # -- per-array data --------------------------------------------------------------------

    def _index_path(self) -> str:
        return f"{self.GROUP}/array_index"

    def _sums_path(self) -> str:
        return f"{self.GROUP}/array_sha256"

    def completed_arrays(self) -> list[int]:
        """Arrays finished, in the order they were measured (``GROUP/array_index``)."""
        path = self._index_path()
        return [int(a) for a in self.run.read(path)] if path in self.run.h5 else []

    def check_arrays_whole(self) -> None:
        """Refuse a file whose list of finished arrays cannot be true: an array listed twice,
        a completed run without every planned array, arrays without their checksums in a
        file whose datasets carry checksums (every writer since 0.1 writes both), or a list
        (or its checksums) that differs from its own dataset checksum. The per-array
        checksums cover an array's rows, not its number: arrays renumbered would pass them.

        Raises:
            StoreError: naming the file and what is wrong (the file is damaged).
        """
        done = self.completed_arrays()
        where = f"{self.run.path}: {self._index_path()}"
        if len(set(done)) != len(done):
            raise StoreError(f"{where} lists an array twice ({done}): the file is damaged")
        planned = self.plan.get("arrays")
        if self.run.status == "completed" and planned is not None:
            missing = sorted(set(int(a) for a in planned) - set(done))
            if missing:
                raise StoreError(
                    f"{where}: the run is completed but holds no data for arrays {missing} of "
                    "its plan: the file is damaged"
                )
        index = self.run.h5.get(self._index_path())
        sealed = index is not None and CHECKSUM_ATTR in index.attrs  # a writer since 0.1
        if done and sealed and self.checksums() is None:
            raise StoreError(
                f"{self.run.path}: the checksums of its arrays ({self._sums_path()}) are gone: "
                "the file was changed or damaged"
            )
        for name in (self._index_path(), self._sums_path()):
            ds = self.run.h5.get(name)
            recorded = None if ds is None else ds.attrs.get(CHECKSUM_ATTR)
            if recorded is not None and str(recorded) != dataset_digest(ds):
                raise StoreError(
                    f"{self.run.path}: {name} differs from its sha256 checksum: the list "
                    "of finished arrays was changed or damaged"
                )

    def _commit_array(self, array: int, rows: dict[str, tuple[np.ndarray, str, str]]) -> None:
        """Append an array's rows (name -> (rows, unit, description)), then its index entry
        and checksum, and commit them as one part: the array counts as finished only then."""
        for name, (values, unit, text) in rows.items():
            self.run.append(f"{self.GROUP}/{name}", values, unit, text)
        digest = rows_digest(
            {n: np.asarray(v[0]) for n, v in rows.items() if n not in self.UNHASHED}
        )
        self.run.append(
            self._sums_path(),
            np.array([digest.encode()], dtype="S64"),
            "1",
            SUMS_TEXT,
        )
        self.run.append(
            self._index_path(),
            np.array([array], dtype=np.int32),
            "1",
            "arrays finished, in measurement order",
        )
        self.run.flush()

    def _check_streams(self) -> None:
        done = len(self.completed_arrays())
        for name in self.REQUIRED:
            ds = self.run.h5.get(f"{self.GROUP}/{name}")
            have = 0 if ds is None else len(ds)
            if have < done:
                raise StoreError(
                    f"{self.run.path}: {self.GROUP}/{name} holds {have} rows for "
                    f"{counted(done, 'finished array')} (one each): the file is damaged "
                    "(changed by another program?) and cannot be resumed; restore it from a "
                    "copy, or measure again into another file"
                )

    def _backfill_sums(self) -> None:
        """Give the arrays of a file from mtj-hil 0.1 (stored without checksums) theirs."""
        sums = self.missing_sums()
        if sums is not None:
            self.run.append(self._sums_path(), sums, "1", SUMS_TEXT)

    def missing_sums(self) -> np.ndarray | None:
        """The per-array checksums (``S64``, one per finished array, in order) a file from
        mtj-hil 0.1 lacks; None when it has them or has no finished array."""
        done = self.completed_arrays()
        if not done or self._sums_path() in self.run.h5:
            return None
        sums = [rows_digest(self._hashed_rows(i)).encode() for i in range(len(done))]
        return np.array(sums, dtype="S64")

    def _hashed_rows(self, i: int) -> dict[str, np.ndarray]:
        """The rows of the ``i``-th finished array the checksum covers (not ``UNHASHED``)."""
        return self._hashed(self._stored_rows(i))

    def _hashed(self, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Of an array's ``rows``, those the checksum covers (not ``UNHASHED``)."""
        return {n: v for n, v in rows.items() if n not in self.UNHASHED}

    def _stored_rows(self, i: int) -> dict[str, np.ndarray]:
        """The rows of the ``i``-th finished array as they were appended."""
        raise NotImplementedError

    def unverified_arrays(self) -> list[int]:
        """Finished arrays whose rows do not match their checksum (files without per-array
        checksums, from mtj-hil 0.1, have none to check)."""
        sums = self.checksums()
        if sums is None:
            return []
        bad = []
        for i, array in enumerate(self.completed_arrays()):
            try:
                ok = i < len(sums) and rows_digest(self._hashed_rows(i)) == sums[i].decode()
            except (StoreError, KeyError, ValueError, IndexError):
                ok = False
            if not ok:
                bad.append(array)
        return bad

    def verified(self, array: int, i: int) -> None:
        """Check the ``i``-th finished array (``array``) against its checksum.

        Raises:
            StoreError: naming the file, the array and the dataset of checksums.
        """
        sums = self.checksums()
        if sums is not None:
            self.verified_rows(array, i, sums)

    def verified_rows(self, array: int, i: int, sums: np.ndarray | None) -> dict[str, np.ndarray]:
        """The rows of the ``i``-th finished array (``array``), read once and checked against
        ``sums`` (the file's per-array checksums, read by the caller; ``None``: it has none).

        Raises:
            StoreError: naming the file, the array and the dataset of checksums.
        """
        rows = self._stored_rows(i)
        if sums is not None and (
            i >= len(sums) or rows_digest(self._hashed(rows)) != sums[i].decode()
        ):
            raise StoreError(
                f"{self.run.path}: the data of array {array} do not match their checksum "
                f"({self._sums_path()}): the file was changed or damaged"
            )
        return rows

    def checksums(self) -> np.ndarray | None:
        """The per-array checksums of the file (``None`` for a file of mtj-hil 0.1)."""
        path = self._sums_path()
        return self.run.read(path) if path in self.run.h5 else None

    def _drop_unverified(self) -> None:
        bad = self.unverified_arrays()
        if not bad:
            return
        done = self.completed_arrays()
        keep = done.index(bad[0])
        warnings.warn(
            f"{self.run.path}: arrays {', '.join(map(str, done[keep:]))} do not all verify "
            f"against their checksums (first: {bad[0]}); they are measured again",
            RecoveryWarning,
            stacklevel=3,
        )
        self._truncate_arrays(keep)

    def _truncate_arrays(self, n: int) -> None:
        """Keep the first ``n`` finished arrays (their rows, index and checksums)."""
        self.run.truncate(self._index_path(), n)
        self.run.truncate(self._sums_path(), n)
        self._repair()

    def _repair(self) -> None:
        """Drop rows past the last finished array (none by default)."""

    def close(self) -> None:
        self.run.close()
