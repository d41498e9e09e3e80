"""Benchmark: the HTML report of a 6.7-hour episode (80,000 words, 4,000 turns, 5 speakers).

Prints, measured in one run on this machine:
- render time (pure ``render_report``) and ``write_report`` from a local store (read, render, write);
- the page's size (target <= 15 MB);
- time to interactive in headless Debian Chromium (target <= 3 s): the page's own
  ``performance.now()`` when its script has drawn the timeline and laid out the
  transcript, and the wall time from ``goto`` until then, median and worst of
  several fresh loads;
- interaction costs on the loaded page: jumping to the last word, a search, and
  frame times while zooming the timeline.

Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_report.py [--loads N --words N --turns N]``.
Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.report_episodes import long_episode

from diarflow.adapters.stores import LocalStore, put_json
from diarflow.contracts import keys
from diarflow.report import render_report, write_report

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TARGETS = {"size MB": 15.0, "interactive ms": 3000.0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=80_000)
    parser.add_argument("--turns", type=int, default=4_000)
    parser.add_argument("--speakers", type=int, default=5)
    parser.add_argument("--hours", type=float, default=6.7)
    parser.add_argument("--loads", type=int, default=5, help="fresh page loads to time")
    args = parser.parse_args()

    episode = long_episode(
        "BENCH1", num_words=args.words, num_turns=args.turns, num_speakers=args.speakers, hours=args.hours
    )
    print(f"episode: {args.hours} h, {args.words:,} words, {args.turns:,} turns, {args.speakers} speakers")

    render_seconds = _best_of(
        3, lambda: render_report(episode.enriched, episode.diarization, episode.audit, None, episode_id="BENCH1")
    )
    with tempfile.TemporaryDirectory(prefix="bench-report-") as directory:
        store = LocalStore(directory)
        for key, artifact in (
            (keys.enriched_key("BENCH1"), episode.enriched),
            (keys.diarization_key("BENCH1"), episode.diarization),
            (keys.audit_key("BENCH1"), episode.audit),
        ):
            put_json(store, key, artifact)
        write_seconds = _best_of(3, lambda: write_report(store, "BENCH1"))
        path = store.root / keys.report_key("BENCH1")
        size_mb = path.stat().st_size / 1024 / 1024
        browser = _measure_in_browser(path.as_uri(), args.loads)

    ready = browser["ready_ms"]
    wall = browser["wall_ms"]
    rows = [
        ("render_report (best of 3)", f"{render_seconds * 1000:.0f} ms"),
        ("write_report: read + render + write (best of 3)", f"{write_seconds * 1000:.0f} ms"),
        ("page size", f"{size_mb:.2f} MB (target <= {TARGETS['size MB']:.0f} MB)"),
        (
            f"interactive, page clock ({args.loads} loads)",
            f"median {statistics.median(ready):.0f} ms, worst {max(ready):.0f} ms "
            f"(target <= {TARGETS['interactive ms']:.0f} ms)",
        ),
        ("interactive, wall clock from goto", f"median {statistics.median(wall):.0f} ms, worst {max(wall):.0f} ms"),
        ("first contentful paint", f"median {statistics.median(browser['fcp_ms']):.0f} ms"),
        ("word elements in the document at start", f"{browser['rendered_words']:,} of {args.words:,}"),
        ("jump to the last word", f"{browser['reveal_ms']:.0f} ms"),
        ("search 'chicago' over all words", f"{browser['search_ms']:.0f} ms"),
        (
            "timeline zoom, frame time",
            f"median {statistics.median(browser['frames']):.1f} ms, worst {max(browser['frames']):.1f} ms",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")

    missed = []
    if size_mb > TARGETS["size MB"]:
        missed.append("size")
    if max(ready) > TARGETS["interactive ms"] or max(wall) > TARGETS["interactive ms"]:
        missed.append("time to interactive")
    if missed:
        print(f"MISSED: {', '.join(missed)}")
        return 1
    print("all targets met")
    return 0


def _best_of(runs: int, action: Any) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return min(timings)


def _measure_in_browser(url: str, loads: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    results: dict[str, Any] = {"ready_ms": [], "wall_ms": [], "fcp_ms": []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        for load in range(loads):
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            started = time.perf_counter()
            page.goto(url)
            _wait(page, "document.documentElement.dataset.ready === 'true'")
            results["wall_ms"].append((time.perf_counter() - started) * 1000)
            results["ready_ms"].append(page.evaluate("window.diarflowReport.readyAt"))
            _wait(page, "performance.getEntriesByName('first-contentful-paint').length > 0")
            results["fcp_ms"].append(
                page.evaluate("performance.getEntriesByName('first-contentful-paint')[0].startTime")
            )
            if load == loads - 1:
                results |= _interactions(page)
            page.close()
        browser.close()
    return results


def _interactions(page: Any) -> dict[str, Any]:
    rendered = page.evaluate("window.diarflowReport.renderedWordCount()")
    last = page.evaluate("window.diarflowReport.wordCount") - 1
    reveal_ms = page.evaluate(
        "(i) => { const t = performance.now(); window.diarflowReport.revealWord(i); "
        "document.body.getBoundingClientRect(); return performance.now() - t; }",
        last,
    )
    started = time.perf_counter()
    page.fill("#search-input", "chicago")
    _wait(page, "document.getElementById('search-count').textContent.includes('/')")
    search_ms = (time.perf_counter() - started) * 1000 - 160  # minus the input debounce
    box = page.locator("#timeline").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 80)
    page.evaluate(
        """() => { window.__frames = []; let last = performance.now();
             const tick = (now) => { window.__frames.push(now - last); last = now;
               if (window.__frames.length < 90) requestAnimationFrame(tick); };
             requestAnimationFrame(tick); }"""
    )
    for step in range(30):
        page.mouse.wheel(0, -160 if step < 20 else 400)
    _wait(page, "window.__frames.length >= 90")
    frames = page.evaluate("window.__frames.slice(1)")
    return {"rendered_words": rendered, "reveal_ms": reveal_ms, "search_ms": search_ms, "frames": frames}


def _wait(page: Any, expression: str, timeout: float = 15) -> None:
    """Poll from outside the page: its Content-Security-Policy forbids Playwright's in-page ``eval`` polling."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise TimeoutError(expression)
        time.sleep(0.01)


if __name__ == "__main__":
    sys.exit(main())
