"""``import diarflow`` as a notebook user meets it: the README's example, run as written, and what it returns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

import diarflow
from diarflow.cli import app
from diarflow.domain.exports import FORMATS
from diarflow.domain.exports.formats import FormatName
from diarflow.errors import ArtifactNotFound, InvalidId

README = Path(__file__).resolve().parents[1] / "README.md"
HEAVY_MODULES = ("torch", "boto3", "botocore")
SECRETS = ("PYANNOTEAI_API_KEY", "DEEPGRAM_API_KEY")


def readme_example() -> str:
    """The Python block of the README's "Python API" section, exactly as a reader would paste it."""
    section = README.read_text().split("## Python API\n", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter, as a user's script; no API key, so ``auto`` needs no network."""
    env = {name: value for name, value in os.environ.items() if name not in SECRETS and name != "DIARFLOW_STORE"}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@dataclass(frozen=True)
class ExampleRun:
    stdout: str
    store: diarflow.ObjectStore


@pytest.fixture(scope="module")
def example_run(tmp_path_factory: pytest.TempPathFactory) -> ExampleRun:
    folder = tmp_path_factory.mktemp("notebook")
    done = python(readme_example(), folder)
    assert done.returncode == 0, done.stderr
    return ExampleRun(done.stdout, diarflow.open_store(folder / "diarflow-data"))


def test_the_readme_example_diarizes_the_sample_episode(example_run: ExampleRun) -> None:
    lines = example_run.stdout.splitlines()
    assert lines[0].startswith("completed 2 speakers,"), lines[0]
    assert lines[0].endswith(" words")
    first_words = lines[1:6]
    assert all(line.split()[1].rstrip(":") in ("A", "B") for line in first_words), first_words
    assert "\n1\n00:00:" in example_run.stdout  # the SRT's first cue
    assert "-->" in example_run.stdout


def test_the_enriched_transcript_reads_as_typed_objects(example_run: ExampleRun) -> None:
    sample = diarflow.sample_episode()
    transcript = diarflow.read_enriched_transcript(example_run.store, sample.episode_id)
    assert isinstance(transcript, diarflow.EnrichedTranscript)
    assert transcript.episode_id == sample.episode_id
    assert {entry.speaker for entry in transcript.speakers} == {"A", "B"}
    deepgram_words = json.loads(sample.transcript.read_text())["results"]["channels"][0]["alternatives"][0]["words"]
    assert len(transcript.words) == len(deepgram_words)
    assert all(isinstance(word, diarflow.EnrichedWord) for word in transcript.words)
    attributed = [word for word in transcript.words if word.speaker is not None]
    assert len(attributed) >= 0.9 * len(transcript.words)
    assert {word.speaker for word in attributed} == {"A", "B"}
    assert [word.start for word in transcript.words] == sorted(word.start for word in transcript.words)


@pytest.mark.parametrize("format_name", typing.get_args(FormatName))
def test_an_export_is_what_diarflow_export_prints(example_run: ExampleRun, format_name: FormatName) -> None:
    episode_id = diarflow.sample_episode().episode_id
    text = diarflow.export(example_run.store, episode_id, format_name)
    printed = CliRunner().invoke(app, ["export", episode_id, "-f", format_name, "--store", example_run.store.url])
    assert printed.exit_code == 0, printed.output
    assert text == printed.stdout
    assert text.strip()


def test_a_transcript_can_be_given_as_decoded_json_and_the_run_resumes(tmp_path: Path) -> None:
    store = diarflow.open_store(tmp_path)
    document = json.loads(diarflow.sample_episode().transcript.read_text())
    first = diarflow.run(store, "E1", document, diarizer="deepgram")
    assert first.status == "completed"
    assert first.source == "deepgram_fallback"
    again = diarflow.run(store, "E1", diarizer="deepgram")  # the stored transcript, every step from its checkpoint
    assert again.model_dump(exclude={"stats"}) == first.model_dump(exclude={"stats"})
    assert again.stats == first.stats


def test_errors_say_what_is_missing_or_wrong(tmp_path: Path) -> None:
    store = diarflow.open_store(tmp_path)
    with pytest.raises(ArtifactNotFound):
        diarflow.read_enriched_transcript(store, "NEVER-RUN")
    with pytest.raises(ArtifactNotFound, match="no enriched transcript for episode NEVER-RUN"):
        diarflow.export(store, "NEVER-RUN", "txt")
    with pytest.raises(InvalidId, match="episode_id"):
        diarflow.run(store, "../escape", b"{}")
    with pytest.raises(diarflow.InvalidInput, match="`transcript` is required: no transcript stored"):
        diarflow.run(store, "E2", audio=diarflow.sample_episode().audio, settings=diarflow.Settings())
    with pytest.raises(diarflow.InvalidInput, match="unknown format 'docx'"):
        diarflow.export(store, "E2", "docx")  # type: ignore[arg-type]
    with pytest.raises(diarflow.InvalidInput, match=r"^diarizer: must be one of auto, deepgram, local"):
        diarflow.run(store, "E3", b"{}", diarizer="bogus")  # type: ignore[arg-type]
    assert issubclass(ArtifactNotFound, diarflow.StorageError)
    assert issubclass(diarflow.StorageError, diarflow.DiarflowError)


def test_import_diarflow_loads_neither_torch_nor_boto3(tmp_path: Path) -> None:
    probe = (
        "import sys, diarflow\n"
        f"heavy = {HEAVY_MODULES!r}\n"
        "assert not [m for m in heavy if m in sys.modules], [m for m in heavy if m in sys.modules]\n"
        "diarflow.run, diarflow.export, diarflow.EnrichedTranscript, diarflow.open_store('.')\n"
        "assert not [m for m in heavy if m in sys.modules], [m for m in heavy if m in sys.modules]\n"
    )
    done = python(probe, tmp_path)
    assert done.returncode == 0, done.stderr


def test_the_api_is_a_small_curated_set_of_names() -> None:
    assert diarflow.__all__ == sorted(diarflow.__all__)
    assert len(diarflow.__all__) <= 20
    for name in diarflow.__all__:
        assert getattr(diarflow, name) is not None, name
        assert name in dir(diarflow), name
    bases = [diarflow.DiarflowError, diarflow.InvalidInput, diarflow.StorageError, diarflow.RemoteServiceError]
    assert all(issubclass(base, diarflow.DiarflowError) for base in bases)
    assert diarflow.EpisodeBusy is diarflow.errors.EpisodeBusy  # every error is reachable, not only the bases
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        _ = diarflow.nothing_here  # type: ignore[attr-defined]
    assert typing.get_args(FormatName) == tuple(FORMATS)
