"""The report in a real browser: Debian's Chromium, driven headless by Playwright.

Nothing here is skipped: without /usr/bin/chromium the tests fail and say how
to install it (``make browser``, which ``make test`` runs first).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from diarflow.adapters.stores import LocalStore, put_json
from diarflow.contracts import keys
from diarflow.report import build_report_model, format_duration, write_report
from tests.report_episodes import (
    CHINESE_TEXT,
    SCRIPT_WORD,
    EpisodeArtifacts,
    chinese_episode,
    failed_error,
    long_episode,
    sample_episode,
    sample_wav,
    wav_bytes,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT: ViewportSize = {"width": 1440, "height": 900}
MAX_TIME_TO_INTERACTIVE_MS = 3000
MAX_REPORT_BYTES = 15 * 1024 * 1024

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, ViewportSize


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: the report's browser tests need Debian's Chromium. "
            "Run `make browser` (part of `make test`'s setup), i.e. `apt-get update && apt-get install -y chromium`."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


class ReportPage:
    """A loaded report, with the page's problems (script errors, network requests) recorded."""

    def __init__(self, browser: Browser, url: str) -> None:
        self.page: Page = browser.new_page(viewport=VIEWPORT)
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("request", lambda request: self.requests.append(request.url))
        started = time.perf_counter()
        self.page.goto(url)
        self.wait_until("document.documentElement.dataset.ready === 'true'", timeout=10)
        self.load_seconds = time.perf_counter() - started

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":  # Content-Security-Policy violations land here too
            self.errors.append(message.text)

    def evaluate(self, expression: str, argument: Any = None) -> Any:
        return self.page.evaluate(expression, argument)

    def wait_until(self, expression: str, argument: Any = None, *, timeout: float = 5) -> Any:
        """Poll ``expression`` until it is truthy.

        Playwright's own ``wait_for_function`` polls with ``eval`` inside the
        page, which the report's Content-Security-Policy (rightly) forbids.
        """
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression, argument)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"still false after {timeout} s: {expression}")
            time.sleep(0.02)

    def close(self) -> None:
        self.page.close()


def store_episode(root: Path, episode: EpisodeArtifacts) -> LocalStore:
    store = LocalStore(root)
    for key, artifact in (
        (keys.enriched_key(episode.episode_id), episode.enriched),
        (keys.diarization_key(episode.episode_id), episode.diarization),
        (keys.audit_key(episode.episode_id), episode.audit),
        (keys.error_key(episode.episode_id), episode.error),
    ):
        if artifact is not None:
            put_json(store, key, artifact)
    return store


def report_url(store: LocalStore, episode_id: str) -> str:
    return (store.root / keys.report_key(episode_id)).as_uri()


@pytest.fixture
def sample_report(tmp_path: Path, browser: Browser) -> Iterator[tuple[ReportPage, EpisodeArtifacts]]:
    """The sample episode's report, written by ``write_report`` into a local store, with its audio and a clip."""
    episode = sample_episode("SAMPLE1")
    store = store_episode(tmp_path / "store", episode)
    store.put_bytes("audio/SAMPLE1.wav", sample_wav())
    store.put_bytes(keys.clip_key("SAMPLE1", "A"), wav_bytes(1.5))
    write_report(store, "SAMPLE1", audio_src="../audio/SAMPLE1.wav")
    report = ReportPage(browser, report_url(store, "SAMPLE1"))
    report.wait_until("document.getElementById('audio').readyState >= 1", timeout=10)
    yield report, episode
    report.close()


def test_names_talk_times_source_and_status_are_shown(sample_report: tuple[ReportPage, EpisodeArtifacts]) -> None:
    report, episode = sample_report
    page = report.page
    assert page.inner_text("#run-status") == "Completed"
    assert "pyannoteAI" in page.inner_text("#run-source")
    rows = page.locator("#speakers tbody tr")
    shown = {
        rows.nth(i).locator(".speaker-name").inner_text(): rows.nth(i).locator(".talk-time").inner_text()
        for i in range(rows.count())
    }
    assert shown == {name: format_duration(seconds) for name, seconds in episode.notes["talk"].items()}
    assert report.errors == []
    assert all(url.startswith(("file:", "data:")) for url in report.requests), report.requests


def test_clicking_a_turn_plays_the_audio_from_there(
    sample_report: tuple[ReportPage, EpisodeArtifacts], tmp_path: Path
) -> None:
    report, episode = sample_report
    model = build_report_model(episode.episode_id, episode.enriched, episode.diarization, episode.audit, None)
    speaker_b = next(i for i, speaker in enumerate(model.speakers) if speaker.name == "B")
    turn = [i for i, speaker in enumerate(model.turns.speaker) if speaker == speaker_b][2]  # B's line at 14.4 s
    turn_start = model.turns.start_ms[turn] / 1000
    assert report.evaluate("document.getElementById('audio').currentTime") == 0

    point = report.evaluate("(turn) => window.diarflowReport.turnPoint(turn)", turn)
    report.page.mouse.click(point["x"], point["y"])
    report.wait_until("(start) => document.getElementById('audio').currentTime >= start", turn_start)
    report.evaluate("document.getElementById('audio').pause()")
    position = report.evaluate("document.getElementById('audio').currentTime")
    assert turn_start <= position < turn_start + 2.0
    # the transcript follows: the turn's first word is current and in view
    current = report.page.locator("#transcript .w.cur")
    assert current.count() == 1
    assert current.inner_text() == "And"
    assert current.is_visible()
    report.page.mouse.move(5, 5)
    screenshot = tmp_path / "report-sample.png"
    report.page.screenshot(path=str(screenshot))
    assert screenshot.stat().st_size > 10_000
    assert report.errors == []


def test_clicking_a_word_seeks_to_it(sample_report: tuple[ReportPage, EpisodeArtifacts]) -> None:
    report, episode = sample_report
    word = episode.enriched["words"][20]  # type: ignore[index]
    report.page.click("#transcript .w[data-i='20']")
    report.evaluate("document.getElementById('audio').pause()")
    position = report.evaluate("document.getElementById('audio').currentTime")
    assert word["start"] <= position < word["start"] + 1.0


def test_hovering_an_uncertain_word_shows_its_alternatives(
    sample_report: tuple[ReportPage, EpisodeArtifacts], tmp_path: Path
) -> None:
    report, episode = sample_report
    low = episode.notes["low_word"]
    word = report.page.locator(f"#transcript .w[data-i='{low}']")
    assert "lc" in (word.get_attribute("class") or "").split()
    word.hover()
    tooltip = report.page.locator("#tooltip")
    tooltip.wait_for(state="visible")
    text = tooltip.inner_text()
    assert "42% confident" in text
    assert "Low confidence" in text
    assert "Could also be" in text
    assert "Diane · 38%" in text
    report.page.screenshot(path=str(tmp_path / "report-tooltip.png"))


def test_a_script_word_renders_as_text(sample_report: tuple[ReportPage, EpisodeArtifacts]) -> None:
    report, episode = sample_report
    index = episode.notes["script_word"]
    report.evaluate("(i) => window.diarflowReport.revealWord(i)", index)
    word = report.page.locator(f"#transcript .w[data-i='{index}']")
    assert word.text_content() == SCRIPT_WORD
    assert report.evaluate("window.__xss") is None
    assert report.page.locator("#transcript script").count() == 0


def test_a_representative_clip_plays(sample_report: tuple[ReportPage, EpisodeArtifacts]) -> None:
    report, _ = sample_report
    button = report.page.locator("#clusters .clip-button[data-clip='A']")
    button.click()
    report.wait_until("document.querySelector(\"#clusters .clip-button[data-clip='A']\").classList.contains('playing')")
    button.click()  # and stops
    report.wait_until(
        "!document.querySelector(\"#clusters .clip-button[data-clip='A']\").classList.contains('playing')"
    )
    assert report.page.locator("#clusters .clip-button[data-clip='B']").count() == 0


def test_find_in_transcript_counts_and_shows_matches(sample_report: tuple[ReportPage, EpisodeArtifacts]) -> None:
    report, _ = sample_report
    report.page.fill("#search-input", "new jersey")
    report.wait_until("document.getElementById('search-count').textContent.includes('/')")
    assert report.page.inner_text("#search-count") == "1 / 3"
    report.page.press("#search-input", "Enter")
    assert report.page.inner_text("#search-count") == "2 / 3"
    assert report.page.locator("#transcript .w.hit-current").count() == 2  # "New" and "Jersey"


def test_a_chinese_transcript_reads_without_spaces_and_finds_a_phrase(tmp_path: Path, browser: Browser) -> None:
    store = store_episode(tmp_path / "store", chinese_episode("ZH1"))
    write_report(store, "ZH1")
    report = ReportPage(browser, report_url(store, "ZH1"))
    try:
        report.wait_until("window.diarflowReport.renderedWordCount() === 18")
        paragraphs = report.page.locator("#transcript .words")
        assert "".join(paragraphs.nth(i).inner_text() for i in range(paragraphs.count())) == CHINESE_TEXT

        def search(phrase: str, count: str) -> list[str]:
            """The words the search highlights as its current match, once the page has answered ``phrase``."""
            report.page.fill("#search-input", "")  # the previous answer must not pass for this one's
            report.wait_until("document.getElementById('search-count').textContent === ''")
            report.page.fill("#search-input", phrase)
            report.wait_until("(n) => document.getElementById('search-count').textContent === n", count)
            hits = report.page.locator("#transcript .w.hit-current")
            return [hits.nth(i).inner_text() for i in range(hits.count())]

        assert search("雞排，你知道", "1 / 1") == ["雞排，", "你", "知道"]
        assert search("嗎？我們", "1 / 1") == ["嗎？", "我們"]  # across the speaker change
        assert search("300", "1 / 1") == ["3", "0", "0"]
        assert search("嗎？", "1 / 2") == ["嗎？"]
        assert report.page.inner_text("#uncertain-label") == "Uncertain · 0"  # no space is no uncertainty
        report.page.screenshot(path=str(tmp_path / "report-chinese.png"))
        assert report.errors == []
    finally:
        report.close()


def test_unreachable_audio_is_reported_and_clicks_still_move_the_transcript(tmp_path: Path, browser: Browser) -> None:
    store = store_episode(tmp_path / "store", sample_episode("E2"))
    write_report(store, "E2", audio_src="../audio/missing.wav")
    report = ReportPage(browser, report_url(store, "E2"))
    try:
        report.wait_until("document.getElementById('audio-note').textContent.includes('not reachable')")
        point = report.evaluate("window.diarflowReport.turnPoint(5)")
        report.page.mouse.click(point["x"], point["y"])
        assert report.page.locator("#transcript .w.cur").count() == 1
    finally:
        report.close()


def test_a_failed_run_shows_its_error(tmp_path: Path, browser: Browser) -> None:
    store = LocalStore(tmp_path / "store")
    put_json(store, keys.error_key("E3"), failed_error("E3"))
    write_report(store, "E3")
    report = ReportPage(browser, report_url(store, "E3"))
    try:
        assert report.page.inner_text("#run-status") == "Failed"
        error = report.page.inner_text("#error-artifact")
        assert "pyannote-collect-v1" in error
        assert "<b>Service Unavailable</b>" in error  # shown as text, not markup
        assert report.page.inner_text("#transcript") == "No transcript words for this run."
        report.page.screenshot(path=str(tmp_path / "report-failed.png"))
        assert report.errors == []
    finally:
        report.close()


@pytest.mark.slow
def test_a_six_hour_episode_is_interactive_within_three_seconds(tmp_path: Path, browser: Browser) -> None:
    episode = long_episode("LONG1")
    store = store_episode(tmp_path / "store", episode)
    write_report(store, "LONG1")
    size = (store.root / keys.report_key("LONG1")).stat().st_size
    assert size <= MAX_REPORT_BYTES, f"{size / 1e6:.1f} MB"

    report = ReportPage(browser, report_url(store, "LONG1"))
    try:
        ready_ms = report.evaluate("window.diarflowReport.readyAt")
        assert ready_ms <= MAX_TIME_TO_INTERACTIVE_MS, f"interactive after {ready_ms:.0f} ms"
        assert report.load_seconds * 1000 <= MAX_TIME_TO_INTERACTIVE_MS, f"loaded in {report.load_seconds:.2f} s"
        # lazy: only the paragraphs near the view hold word elements
        assert report.evaluate("window.diarflowReport.renderedWordCount()") < 3000
        # the last word is reachable and the page still answers at once
        started = time.perf_counter()
        report.evaluate("window.diarflowReport.revealWord(79999)")
        assert report.page.locator("#transcript .w[data-i='79999']").is_visible()
        assert time.perf_counter() - started < 1.0
        assert report.evaluate("window.diarflowReport.renderedWordCount()") < 3000
        # zooming the 4,000-turn timeline keeps frames short
        box = report.page.locator("#timeline").bounding_box()
        assert box is not None
        report.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 80)
        report.evaluate(
            """() => { window.__frames = []; let last = performance.now();
                 const tick = (now) => { window.__frames.push(now - last); last = now;
                   if (window.__frames.length < 60) requestAnimationFrame(tick); };
                 requestAnimationFrame(tick); }"""
        )
        for _ in range(20):
            report.page.mouse.wheel(0, -240)
        report.wait_until("window.__frames.length >= 60", timeout=10)
        frames = report.evaluate("window.__frames.slice(1)")
        assert sorted(frames)[len(frames) // 2] < 34, frames  # median frame under two vsyncs
        assert "shown" in report.page.inner_text("#timeline-range")
        report.page.screenshot(path=str(tmp_path / "report-long.png"))
        assert report.errors == []
    finally:
        report.close()
