"""The live view in a real browser (headless Chromium from Debian, driven by Playwright):
a characterisation started with ``--live`` fills the die map array by array on eight pages
at once, ends with the run file's yield, and a killed measurement leaves the page answering
and saying so.

Screenshots are kept under the test's tmp dir (their paths are printed; ``-s`` shows them).
"""

from __future__ import annotations

import shutil
import time

import h5py
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
    """Eight pages of the live view in one browser follow the run array by array. A browser
    opens at most 6 connections to one server and every page's long poll held one, so the
    seventh page used to wait up to 20 s; the pages now share one long poll."""
    arrays = 6
    run = tmp_path / "live.h5"
    log = tmp_path / "characterize.log"
    proc = lv.start(
        ["characterize", "--station", str(lv.lab), "--arrays", f"0-{arrays - 1}"]
        + ["--out", str(run), "--no-report", "--live"],
        log,
    )
    server = None
    try:
        url, server = lv.page_address(log)
        context = browser.new_context(viewport={"width": 1300, "height": 1000})
        pages = [context.new_page() for _ in range(8)]
        errors: list[str] = []
        for page in pages:
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url, timeout=10_000)  # each page answers at once, the last as the first
        seen: list[list[int]] = [[] for _ in pages]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            for page, counts in zip(pages, seen, strict=True):
                counts.append(_arrays_done(page))
            if all(
                p.inner_text("#state") == "completed"
                and p.get_attribute("#yield", "data-final") == "true"
                for p in pages
            ):
                break
            time.sleep(0.1)
        assert proc.wait(timeout=60) == 0, log.read_text()
        for counts in seen:  # every page, not only the one that polls, followed the run
            grew = sorted(set(counts))
            assert len([n for n in grew if 0 < n < arrays]) >= 2, f"arrays over time: {grew}"
            assert counts == sorted(counts), "the count of measured arrays never goes back"
        with h5py.File(run, "r") as h5:
            codes = h5["defects/codes"][()]
        good, devices = int((codes == 0).sum()), int(codes.size)
        for page in pages:
            assert page.get_attribute("#yield", "data-good") == str(good)
            assert page.get_attribute("#yield", "data-devices") == str(devices)
            assert page.inner_text("#yield") == f"{100 * good / devices:.2f} %"
            assert _arrays_done(page) == arrays
            assert page.inner_text("#arrays-total") == str(arrays)
            assert "modelled lab time" in page.inner_text("#lab-times")
        assert not errors
        shot = tmp_path / "live-view.png"
        pages[-1].screenshot(path=str(shot), full_page=True)
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
        + ["--no-report", "--live", "--live-port", str(lv.system_port())],
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


def test_eight_pages_of_a_finished_run_open_at_once(browser, tmp_path, lv):
    """On a run that no longer changes every long poll waits its full 20 s, so with one
    poll per page the seventh and eighth pages of one browser waited about that long to
    load; sharing one poll, all eight open and show the run at once."""
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
        start = time.monotonic()
        for page in pages:
            page.goto(url)
        for page in pages:
            _wait(lambda p=page: p.inner_text("#state") == "completed", 30, "completed")
        took = time.monotonic() - start
        assert took < 10, f"eight pages took {took:.1f} s to show the run"
        with h5py.File(run, "r") as h5:
            good = int((h5["defects/codes"][()] == 0).sum())
        assert {p.get_attribute("#yield", "data-good") for p in pages} == {str(good)}
        assert all(_arrays_done(p) == 8 for p in pages)
    finally:
        lv.end(viewer.pid)
