"""Real Deepgram responses (``tests/data/deepgram/``) and synthetic ones for what none shows, run as a user would.

Every document goes through ``diarflow run --diarizer deepgram``, then
``export --format all`` and ``report``; the enriched transcript is checked
against the document itself: the same words (channels merged by start time),
the same times and text, and every word on its own Deepgram speaker under one
1:1 mapping of (channel, speaker) to the labels shown.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
import pytest

from diarflow.contracts import EnrichedTranscript, PipelineResult
from tests.deepgram_documents import SYNTHETIC
from tests.reliability import diarflow_cli, record

CORPUS = Path(__file__).parent / "data" / "deepgram"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
REAL = {entry["file"].removesuffix(".json"): entry for entry in MANIFEST}
EXPORTS = ("rttm", "srt", "vtt", "txt", "md", "json")


def document_bytes(name: str) -> bytes:
    if name in REAL:
        return (CORPUS / REAL[name]["file"]).read_bytes()
    return orjson.dumps(SYNTHETIC[name]())


def expected_words(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The document's words, channels merged by start time (a tie keeps the lower channel first)."""
    words = [
        {**word, "channel": channel}
        for channel, track in enumerate(document["results"]["channels"])
        for word in track["alternatives"][0]["words"]
    ]
    return sorted(words, key=lambda word: word["start"])  # sorted() is stable: channel order breaks ties


def has_speaker_labels(document: dict[str, Any]) -> bool:
    return any("speaker" in word for word in expected_words(document))


@pytest.mark.parametrize("name", [*REAL, *SYNTHETIC])
def test_every_response_runs_and_keeps_each_word_on_its_own_speaker(name: str, tmp_path: Path) -> None:
    source = tmp_path / f"{name}.json"
    source.write_bytes(document_bytes(name))
    document = json.loads(source.read_bytes())
    store = tmp_path / "store"
    episode = "CORPUS1"

    run = diarflow_cli(
        "run",
        "--episode-id",
        episode,
        "--transcript",
        str(source),
        "--store",
        str(store),
        "--diarizer",
        "deepgram",
        "--quiet",
    )
    words = expected_words(document)
    if words and not has_speaker_labels(document):
        assert run.returncode == 2, run.stderr
        assert "carries no speaker labels" in run.stdout + run.stderr
        record("Deepgram corpus: refused without speaker labels", scenarios=1, result=name)
        return
    assert run.returncode == 0, run.stderr
    result = PipelineResult.model_validate_json(run.stdout)
    assert result.status == "completed"
    assert result.stats.num_words == len(words)

    enriched = EnrichedTranscript.model_validate_json((store / "diarization" / f"{episode}.enriched.json").read_bytes())
    assert len(enriched.words) == len(words)
    labels: dict[tuple[int, int], str] = {}
    for index, (got, want) in enumerate(zip(enriched.words, words, strict=True)):
        assert (got.start, got.end) == (want["start"], want["end"]), index
        assert got.word == (want.get("punctuated_word") or want["word"]), index
        multichannel = len(document["results"]["channels"]) > 1
        assert got.channel == (want["channel"] if multichannel else None), index
        assert got.speaker is not None, index
        labels.setdefault((want["channel"], want["speaker"]), got.speaker)
        assert labels[(want["channel"], want["speaker"])] == got.speaker, f"word {index} left its own speaker"
        if want.get("speaker_confidence") is not None:  # Deepgram's own confidence for the word
            assert got.speaker_confidence == pytest.approx(want["speaker_confidence"], abs=1e-4), index
    assert len(set(labels.values())) == len(labels)  # one label per Deepgram speaker, and back
    if not words:
        assert result.warnings
        assert "no words" in result.warnings[0]
        assert result.stats.num_segments == 0

    exported = diarflow_cli("export", episode, "--store", str(store), "--format", "all")
    assert exported.returncode == 0, exported.stderr
    for extension in EXPORTS:
        assert (store / "diarization" / episode / "exports" / f"{episode}.{extension}").exists(), extension
    report = diarflow_cli("report", episode, "--store", str(store))
    assert report.returncode == 0, report.stderr
    assert (store / "diarization" / f"{episode}.report.html").stat().st_size > 0
    record("Deepgram corpus: run, export, report", scenarios=1, result=f"{name}: {len(words)} words")


def test_a_real_response_without_speakers_is_diarized_from_the_audio(tmp_path: Path) -> None:
    """No speaker labels is fine for a diarizer that listens: the local one on the bundled sample."""
    source = CORPUS / "captions-nova2-no-speakers.json"
    audio = resources.files("diarflow.samples").joinpath("sample.wav")
    with resources.as_file(audio) as audio_path:
        run = diarflow_cli(
            "run",
            "--episode-id",
            "UNLABELLED1",
            "--transcript",
            str(source),
            "--audio",
            str(audio_path),
            "--store",
            str(tmp_path / "store"),
            "--diarizer",
            "local",
            "--quiet",
            timeout=300,
        )
    assert run.returncode == 0, run.stderr
    result = PipelineResult.model_validate_json(run.stdout)
    assert (result.status, result.source) == ("completed", "local")
    assert result.stats.num_words == 62
    assert result.stats.num_speakers >= 1


MULTICHANNEL = [
    name for name in [*REAL, *SYNTHETIC] if len(orjson.loads(document_bytes(name))["results"]["channels"]) > 1
]


@pytest.mark.parametrize("name", MULTICHANNEL)
def test_every_multichannel_response_is_diarized_one_speaker_per_track(name: str, tmp_path: Path) -> None:
    """``--diarizer channels`` from the words alone: each word on its track's speaker, one label per track."""
    source = tmp_path / f"{name}.json"
    source.write_bytes(document_bytes(name))
    words = expected_words(json.loads(source.read_bytes()))
    store = tmp_path / "store"
    run = diarflow_cli(
        "run", "--episode-id", "TRACKS1", "--transcript", str(source), "--store", str(store),
        "--diarizer", "channels", "--quiet",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    result = PipelineResult.model_validate_json(run.stdout)
    assert (result.status, result.source) == ("completed", "channels")
    enriched = EnrichedTranscript.model_validate_json((store / "diarization" / "TRACKS1.enriched.json").read_bytes())
    labels: dict[int, str] = {}
    for index, (got, want) in enumerate(zip(enriched.words, words, strict=True)):
        assert (got.start, got.end, got.channel) == (want["start"], want["end"], want["channel"]), index
        assert got.diar_speaker == f"CHANNEL_{want['channel']}", index
        assert got.speaker_confidence == 1.0, index
        assert got.speaker is not None
        assert labels.setdefault(want["channel"], got.speaker) == got.speaker, f"word {index} left its track's speaker"
    assert len(set(labels.values())) == len(labels) == result.stats.num_speakers
    assert {s.speaker: s.channel for s in enriched.speakers} == {label: channel for channel, label in labels.items()}
    for command in (("export", "TRACKS1", "--format", "all"), ("report", "TRACKS1")):
        done = diarflow_cli(*command, "--store", str(store))
        assert done.returncode == 0, done.stderr
    record("Deepgram corpus: channels diarizer", scenarios=1, result=f"{name}: {len(words)} words")
