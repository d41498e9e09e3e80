"""Editing speakers in the report, in Chromium: the page's corrections file is what `diarflow speakers apply` takes.

The whole loop as an editor walks it: run the bundled sample, open its report
from file://, rename, reassign and merge in the page, download the
corrections, apply them with the CLI, and find the edits in the enriched
transcript and in the report the rerun wrote.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pytest

from diarflow.adapters.stores import LocalStore, get_json
from diarflow.contracts import EnrichedTranscript, keys
from diarflow.samples import sample_episode
from tests.test_cli import diarflow
from tests.test_report_browser import ReportPage, browser, report_url

if TYPE_CHECKING:
    from playwright.sync_api import Browser

__all__ = ["browser"]  # the module-scoped Chromium fixture, shared with the report's other browser tests

EPISODE = "EDIT1"
GUEST_TURN = (14.444, 17.769)
"""The sample's second speaker's line at 14.4 s: one diarization turn."""


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """The bundled sample run with the transcript's own speakers (SPEAKER_0 is A, SPEAKER_1 is B)."""
    root = tmp_path / "store"
    sample = sample_episode()
    done = diarflow(
        "run", "--episode-id", EPISODE, "--transcript", str(sample.transcript), "--diarizer", "deepgram", "-q",
        "--store", str(root),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return root


@pytest.fixture
def report(store: Path, browser: Browser) -> Iterator[ReportPage]:
    page = open_report(browser, store)
    yield page
    page.close()


def open_report(browser: Browser, store: Path) -> ReportPage:
    report = ReportPage(browser, report_url(LocalStore(store), EPISODE))
    report.page.click("#editor summary")  # the editing panel opens
    return report


def speaker_row(report: ReportPage, name: str) -> Any:
    """The editing panel's row of the speaker now shown as ``name``."""
    return report.page.locator("#editor-speakers .editor-speaker").filter(
        has=report.page.locator(f".editor-name[aria-label='Rename {name}']")
    )


def rename(report: ReportPage, name: str, new_name: str) -> None:
    field = speaker_row(report, name).locator(".editor-name")
    field.fill(new_name)
    field.press("Enter")


def reassign_turn(report: ReportPage, turn: int, to: str, *, new: bool = False) -> None:
    point = report.evaluate("(turn) => window.diarflowReport.turnPoint(turn)", turn)
    report.page.mouse.click(point["x"], point["y"])
    if new:
        report.page.select_option("#editor-turn-target", "new")
        report.page.fill("#editor-turn-name", to)
    else:
        report.page.select_option("#editor-turn-target", label=to)
    report.page.click("#editor-turn-assign")


def download_corrections(report: ReportPage, folder: Path) -> tuple[Path, list[dict[str, Any]]]:
    with report.page.expect_download() as started:
        report.page.click("#editor-download")
    download = started.value
    assert download.suggested_filename == f"{EPISODE}.corrections.json"
    path = folder / download.suggested_filename
    download.save_as(path)
    return path, orjson.loads(path.read_bytes())


def apply(store: Path, corrections: Path) -> None:
    done = diarflow("speakers", "apply", EPISODE, str(corrections), "--author", "cli", "--store", str(store), "-q")
    assert done.returncode == 0, done.stderr


def turn_at(report: ReportPage, start: float) -> int:
    """The index of the turn that starts at ``start`` seconds in the page's data."""
    turn: int = page_data(report)["turns"]["start"].index(round(start * 1000))
    return turn


def paragraph_head(report: ReportPage, word: int) -> str:
    """Who the transcript says spoke word ``word`` (its paragraph's heading)."""
    report.evaluate("(i) => window.diarflowReport.revealWord(i)", word)
    heading: str = report.page.locator(f"#transcript .para:has(.w[data-i='{word}']) .para-head .who").inner_text()
    return heading


def enriched_speakers(store: Path, start: float, end: float) -> set[str | None]:
    document = get_json(LocalStore(store), keys.enriched_key(EPISODE))
    return {w.speaker for w in EnrichedTranscript.model_validate(document).words if start <= w.start < end}


def first_word_from(store: Path, start: float) -> int:
    document = get_json(LocalStore(store), keys.enriched_key(EPISODE))
    return next(i for i, w in enumerate(EnrichedTranscript.model_validate(document).words) if w.start >= start)


def page_data(report: ReportPage) -> Any:
    return report.evaluate("JSON.parse(document.getElementById('report-data').textContent)")


def shown_speakers(report: ReportPage) -> list[str]:
    names = report.page.locator("#speakers .speaker-row .speaker-name")
    return [names.nth(i).inner_text() for i in range(names.count())]


def test_rename_and_reassign_in_the_page_reach_the_transcript_and_report_through_apply(
    report: ReportPage, store: Path, browser: Browser, tmp_path: Path
) -> None:
    guest_word = first_word_from(store, GUEST_TURN[0])
    report.page.fill("#editor-author", "ana")

    rename(report, "A", "Diane")
    assert shown_speakers(report) == ["Diane", "B"]
    assert paragraph_head(report, 0) == "Diane"  # the transcript follows at once
    assert paragraph_head(report, guest_word) == "B"
    reassign_turn(report, turn_at(report, GUEST_TURN[0]), "Guest", new=True)
    assert paragraph_head(report, guest_word) == "Guest"
    guest_color = report.evaluate(
        "(i) => getComputedStyle(document.querySelector(`#transcript .para:has(.w[data-i='${i}'])`))"
        ".getPropertyValue('--c').trim()",
        guest_word,
    )
    assert guest_color == page_data(report)["palette"][2]  # a colour of its own, the third speaker's
    assert report.page.inner_text("#editor-count") == "2 edits"

    path, corrections = download_corrections(report, tmp_path)
    assert [{k: v for k, v in item.items() if k != "created_at"} for item in corrections] == [
        {"op": "rename", "speaker": "SPEAKER_0", "name": "Diane", "author": "ana"},
        {"op": "assign", "start": GUEST_TURN[0], "end": GUEST_TURN[1], "name": "Guest", "author": "ana"},
    ]
    assert all(item["created_at"].endswith("Z") for item in corrections)
    assert report.errors == []
    assert all(url.startswith(("file:", "data:", "blob:")) for url in report.requests), report.requests

    apply(store, path)
    assert enriched_speakers(store, *GUEST_TURN) == {"Guest"}
    assert enriched_speakers(store, 0, 100) == {"Diane", "B", "Guest"}

    rewritten = open_report(browser, store)  # the rerun wrote the report again: the edits are its data now
    try:
        assert sorted(shown_speakers(rewritten)) == ["B", "Diane", "Guest"]
        rows = rewritten.page.locator("#speakers .speaker-row")
        assert "named by ana" in rows.filter(has_text="Diane").inner_text()
        assert "named by ana" in rows.filter(has_text="Guest").inner_text()
        # and the loop goes on: the guest, a speaker the corrections made, is renamed by its new key
        rename(rewritten, "Guest", "Sheila")
        path, corrections = download_corrections(rewritten, tmp_path)
        assert [(c["op"], c["speaker"], c["name"], "author" in c) for c in corrections] == [
            ("rename", "CORRECTION_1", "Sheila", False)  # no name typed in the page: `apply --author` decides
        ]
        apply(store, path)
        assert enriched_speakers(store, *GUEST_TURN) == {"Sheila"}
        assert rewritten.errors == []
    finally:
        rewritten.close()


def test_merging_two_speakers_in_the_page_is_one_speaker_after_apply(
    report: ReportPage, store: Path, tmp_path: Path
) -> None:
    rename(report, "B", "Sheila")
    speaker_row(report, "Sheila").locator(".editor-merge").select_option(label="A")
    assert shown_speakers(report) == ["Sheila", "Sheila"]  # A takes the name B was given, as apply will
    assert report.page.locator("#speakers .speaker-row.merged").count() == 1
    assert report.page.locator("#editor-speakers .editor-speaker").count() == 1
    assert {paragraph_head(report, 0), paragraph_head(report, first_word_from(store, GUEST_TURN[0]))} == {"Sheila"}

    path, corrections = download_corrections(report, tmp_path)
    assert [(c["op"], c["speaker"], c.get("name"), c.get("merged")) for c in corrections] == [
        ("rename", "SPEAKER_1", "Sheila", None),
        ("merge", "SPEAKER_0", None, "SPEAKER_1"),
    ]
    apply(store, path)
    assert enriched_speakers(store, 0, 100) == {"Sheila"}
    assert report.errors == []


def test_undo_takes_the_last_edit_back(report: ReportPage) -> None:
    rename(report, "A", "Diane")
    reassign_turn(report, 0, "B")
    assert len(report.evaluate("window.diarflowReport.corrections()")) == 2
    report.page.click("#editor-undo")
    assert [c["op"] for c in report.evaluate("window.diarflowReport.corrections()")] == ["rename"]
    assert paragraph_head(report, 0) == "Diane"
    report.page.click("#editor-undo")
    assert report.evaluate("window.diarflowReport.corrections()") == []
    assert shown_speakers(report) == ["A", "B"]
    assert report.page.is_disabled("#editor-download")
