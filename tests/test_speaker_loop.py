"""Issue 18's whole loop, as an editor walks it: fix speakers in the report, teach the registry, see it pay off.

Episode 1 of a podcast, two voices of the shipped sample, is diarized offline
into three speakers against an empty registry: asked for three
(``--num-speakers 3``), the diarizer splits one voice in two. In the
report, in Chromium, the editor merges the split voice, names both voices and
asks for them to be enrolled; the downloaded file is applied with the CLI. The
enriched transcript, an export and the report then carry the names, the
registry holds both voices, and episode 2 (other lines of the same voices)
comes out named without help. Real components throughout: the local store, the
offline diarizer, CAM++, Chromium.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from diarflow.adapters.registry import VoiceprintRegistry
from diarflow.adapters.stores import LocalStore, get_json
from diarflow.contracts import AuditArtifact, EnrichedTranscript, PipelineResult, keys
from tests.test_cli import diarflow
from tests.test_correction_enrollment import PODCAST, EpisodeFiles, _truth, episodes, pytestmark
from tests.test_report_browser import ReportPage, browser, report_url

if TYPE_CHECKING:
    from playwright.sync_api import Browser

__all__ = ["browser", "episodes", "pytestmark"]  # fixtures and the skip rule shared with their own modules


def _run(store: Path, episode_id: str, files: EpisodeFiles, *extra: str) -> PipelineResult:
    done = diarflow(
        "run", "--episode-id", episode_id, "--transcript", str(files.transcript), "--audio", str(files.audio),
        "--podcast-id", PODCAST, "--diarizer", "local", "-q", "--store", str(store), *extra,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return PipelineResult.model_validate_json(done.stdout)


def _labels(store: LocalStore, episode_id: str) -> dict[str, str]:
    """Diarization speaker key -> the label the report shows for it."""
    audit = AuditArtifact.model_validate(get_json(store, keys.audit_key(episode_id)))
    return {cluster.speaker_key: cluster.label for cluster in audit.clusters}


def test_merge_and_name_in_the_report_then_the_next_episode_names_the_voices_itself(
    browser: Browser, episodes: tuple[EpisodeFiles, EpisodeFiles], tmp_path: Path
) -> None:
    first, second = episodes
    folder = tmp_path / "store"
    store = LocalStore(folder)
    assert _run(folder, "E1", first, "--num-speakers", "3").stats.identified_speakers == 0
    truth = _truth(store, "E1", first.built)
    labels = _labels(store, "E1")
    split = sorted(key for key, voice in truth.items() if list(truth.values()).count(voice) == 2)
    assert len(split) == 2, f"the diarizer was asked for three speakers of two voices: {truth}"
    kept, merged = split
    other = next(key for key in truth if key not in split)

    report = ReportPage(browser, report_url(store, "E1"))
    page = report.page
    page.click("#editor summary")
    page.fill("#editor-author", "ana")
    page.check("#editor-enroll")

    def row(name: str) -> Any:
        return page.locator("#editor-speakers .editor-speaker").filter(
            has=page.locator(f".editor-name[aria-label='Rename {name}']")
        )

    row(labels[merged]).locator(".editor-merge").select_option(label=labels[kept])
    for key in (kept, other):
        field = row(labels[key]).locator(".editor-name")
        field.fill(truth[key])
        field.press("Enter")
    with page.expect_download() as started:
        page.click("#editor-download")
    corrections = tmp_path / "E1.corrections.json"
    started.value.save_as(corrections)
    report.close()

    written = orjson.loads(corrections.read_bytes())
    assert [(c["op"], c.get("enroll", False)) for c in written] == [
        ("merge", False),
        ("rename", True),
        ("rename", True),
    ]
    done = diarflow("speakers", "apply", "E1", str(corrections), "--store", str(folder))
    assert done.returncode == 0, done.stderr

    # Episode 1: the names reach the words, an export and the report; the raw diarization is untouched.
    words = EnrichedTranscript.model_validate(get_json(store, keys.enriched_key("E1"))).words
    attributed = [w for w in words if w.diar_speaker in truth]
    assert len(attributed) >= 0.9 * len(words)
    assert {w.diar_speaker for w in attributed} == {kept, other}  # the split voice is one speaker now
    assert all(w.speaker == truth[w.diar_speaker] for w in attributed)
    exported = diarflow("export", "E1", "--format", "srt", "--store", str(folder))
    assert exported.returncode == 0, exported.stderr
    assert "Diane" in exported.stdout
    assert "Sheila" in exported.stdout
    html = store.get_bytes(keys.report_key("E1")).decode()
    assert "named by ana" in html
    registry = {entry.display_name: entry for entry in VoiceprintRegistry(store).entries(PODCAST)}
    assert set(registry) == {"Diane", "Sheila"}
    assert registry[truth[kept]].source.speaker_key == kept  # the merged speaker was heard, as one voice

    # Episode 2: other lines of the same two voices, named by their voices alone.
    result = _run(folder, "E2", second)
    assert result.stats.identified_speakers >= 2
    audit = AuditArtifact.model_validate(get_json(store, keys.audit_key("E2")))
    truth_two = _truth(store, "E2", second.built)
    for cluster in audit.clusters:
        assert cluster.mapped_to == truth_two[cluster.speaker_key], audit.clusters
        assert cluster.named_by is None


def test_the_report_enrols_each_voice_once_under_its_last_name(browser: Browser, tmp_path: Path) -> None:
    """Renamed twice, a voice is enrolled once, by its final name; without the box ticked, never."""
    from diarflow.samples import sample_episode

    folder = tmp_path / "store"
    sample = sample_episode()
    done = diarflow(
        "run", "--episode-id", "S1", "--transcript", str(sample.transcript), "--diarizer", "deepgram", "-q",
        "--store", str(folder),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = ReportPage(browser, report_url(LocalStore(folder), "S1"))
    page = report.page
    page.click("#editor summary")
    for before, after in (("A", "Dee"), ("Dee", "Diane"), ("B", "Sheila")):
        field = page.locator(f".editor-name[aria-label='Rename {before}']")
        field.fill(after)
        field.press("Enter")

    def download() -> list[dict[str, object]]:
        with page.expect_download() as started:
            page.click("#editor-download")
        path = tmp_path / "corrections.json"
        started.value.save_as(path)
        return list(orjson.loads(path.read_bytes()))

    assert all("enroll" not in c for c in download())
    page.check("#editor-enroll")
    assert [(c["name"], c.get("enroll", False)) for c in download()] == [
        ("Dee", False),
        ("Diane", True),
        ("Sheila", True),
    ]
    report.close()
