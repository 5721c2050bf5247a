"""The live view in a real browser (headless Chromium from Debian, driven by Playwright):
a characterisation started with ``--live`` fills the die map array by array, ends with the
run file's yield, and a killed measurement leaves the page answering and saying so.

Screenshots are kept under the test's tmp dir (their paths are printed; ``-s`` shows them).
"""

from __future__ import annotations

import shutil
import time

import h5py
import numpy as np
import pytest

from mtj_hil.runs.store import RunFile

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium")
if CHROMIUM is None:
    pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install '.[test]')"
)


@pytest.fixture
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def _arrays_done(page) -> int:
    return int(page.inner_text("#arrays-done") or 0)


def _wait(check, timeout: float, what: str) -> None:
    """Poll ``check()`` from here (the page's Content-Security-Policy forbids the evaluated
    predicates of ``page.wait_for_function``)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_live_characterisation_fills_the_map_and_ends_with_the_run_files_yield(
    browser, tmp_path, lv
):
    run = tmp_path / "live.h5"
    log = tmp_path / "characterize.log"
    proc = lv.start(
        ["characterize", "--station", str(lv.lab), "--arrays", "0-9", "--out", str(run)]
        + ["--no-report", "--live"],
        log,
    )
    server = None
    try:
        url, server = lv.page_address(log)
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        seen = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            seen.append(_arrays_done(page))
            if (
                page.inner_text("#state") == "completed"
                and page.get_attribute("#yield", "data-final") == "true"
            ):
                break
            time.sleep(0.1)
        assert proc.wait(timeout=60) == 0, log.read_text()
        grew = sorted(set(seen))
        assert len([n for n in grew if 0 < n < 10]) >= 2, f"arrays on the page over time: {grew}"
        assert seen == sorted(seen), "the count of measured arrays never goes back"
        with h5py.File(run, "r") as h5:
            codes = h5["defects/codes"][()]
        good, devices = int((codes == 0).sum()), int(codes.size)
        assert page.get_attribute("#yield", "data-good") == str(good)
        assert page.get_attribute("#yield", "data-devices") == str(devices)
        assert page.inner_text("#yield") == f"{100 * good / devices:.2f} %"
        assert _arrays_done(page) == 10 and page.inner_text("#arrays-total") == "10"
        assert "modelled lab time" in page.inner_text("#lab-times")
        assert not errors
        shot = tmp_path / "live-view.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot: {shot}")
        assert shot.stat().st_size > 10_000
    finally:
        lv.end(proc.pid)
        lv.end(server)


def test_killed_measurement_leaves_the_page_up_showing_it_interrupted(browser, tmp_path, lv):
    run = tmp_path / "killed.h5"
    log = tmp_path / "characterize.log"
    proc = lv.start(
        ["characterize", "--station", str(lv.lab), "--arrays", "0-15", "--out", str(run)]
        + ["--no-report", "--live"],
        log,
    )
    server = viewer = None
    try:
        url, server = lv.page_address(log)
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.goto(url)
        _wait(lambda: _arrays_done(page) >= 2, 120, "two arrays on the page")
        assert page.inner_text("#state") == "running"
        proc.kill()  # SIGKILL: nothing of the measurement gets to clean up
        proc.wait(timeout=10)
        _wait(lambda: page.inner_text("#state") == "interrupted", 10, "interrupted")
        with RunFile.open(run, "r") as committed:
            flushed = len(committed.h5["characterization/array_index"])
            assert committed.status == "running"  # nobody wrote the end: only the page knows
        assert 2 <= flushed < 16
        assert _arrays_done(page) == flushed
        assert lv.snapshot(url)["state"] == "interrupted"  # the server still answers
        assert "interrupted" in page.inner_text("#warnings")
        # the server goes away and comes back: the page catches up by itself
        port = url.rstrip("/").rsplit(":", 1)[1]
        lv.end(server)
        server = None
        _wait(lambda: page.get_attribute("#conn", "class") == "down", 10, "lost connection")
        vlog = tmp_path / "view.log"
        viewer = lv.start(["view", str(run), "--port", port], vlog)
        lv.page_address(vlog)
        _wait(
            lambda: (
                page.get_attribute("#conn", "class") == ""
                and page.inner_text("#state") == "interrupted"
            ),
            20,
            "the page to reconnect",
        )
        assert _arrays_done(page) == flushed
        shot = tmp_path / "interrupted.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot: {shot}")
    finally:
        lv.end(proc.pid)
        lv.end(server)
        lv.end(viewer.pid if viewer else None)


def test_many_pages_at_once_all_follow_the_run(browser, tmp_path, lv):
    """Eight pages on one server, and the file changes under them: all show the same data."""
    run = tmp_path / "many.h5"
    log = tmp_path / "characterize.log"
    proc = lv.start(["characterize", "--arrays", "0-7", "--out", str(run), "--no-report"], log)
    assert proc.wait(timeout=120) == 0, log.read_text()
    vlog = tmp_path / "view.log"
    viewer = lv.start(["view", str(run)], vlog)
    try:
        url, _ = lv.page_address(vlog)
        context = browser.new_context()
        pages = [context.new_page() for _ in range(8)]
        for page in pages:
            page.goto(url)
        for page in pages:
            _wait(lambda p=page: p.inner_text("#state") == "completed", 30, "completed")
        with h5py.File(run, "r") as h5:
            good = int((h5["defects/codes"][()] == 0).sum())
        assert {p.get_attribute("#yield", "data-good") for p in pages} == {str(good)}
        assert np.all([_arrays_done(p) == 8 for p in pages])
    finally:
        lv.end(viewer.pid)
