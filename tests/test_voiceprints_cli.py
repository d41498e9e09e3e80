"""``diarflow voiceprints enroll|list|remove`` as a user runs them, and enrolment's input checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from diarflow.adapters.diarizers.local import local_diarizer_available
from diarflow.adapters.registry import VoiceprintRegistry
from diarflow.adapters.speaker_embedding import campplus_available
from diarflow.adapters.stores import open_store
from diarflow.cli import app
from diarflow.contracts import keys
from diarflow.errors import InvalidInput
from diarflow.orchestration import enrollment
from tests import recut

needs_local = pytest.mark.skipif(
    not (local_diarizer_available() and campplus_available()), reason="needs diarflow[local] and CAM++ weights"
)
SAMPLE = str(recut.SAMPLES / "sample.wav")
runner = CliRunner()


def cli(*args: str) -> tuple[int, str, str]:
    done = runner.invoke(app, list(args))
    return done.exit_code, done.stdout, done.stderr


@needs_local
def test_enroll_list_remove(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    # Diane alone from 11.03 s to 14.18 s of the sample ("Okay, then I thought ... This is Diane in New Jersey.").
    code, out, err = cli(
        "voiceprints", "enroll", SAMPLE, "--podcast-id", "show", "--name", "Diane",
        "--start", "11.03", "--end", "14.18", "--id", "diane", "--store", store,
    )  # fmt: skip
    assert code == 0, err
    line = json.loads(out)
    assert line["voiceprint_id"] == "diane"
    assert line["model"] == "campplus-cn-en-common"
    assert line["key"] == keys.voiceprint_key("show", "diane")
    assert 2.5 < line["speech_seconds"] < 3.3
    entry = VoiceprintRegistry(open_store(store)).get("show", "diane")
    assert entry.display_name == "Diane"
    assert entry.embedding is not None
    assert len(entry.embedding) == 192
    assert entry.source.audio == "sample.wav"
    assert (entry.source.start, entry.source.end) == (11.03, 14.18)

    code, out, _ = cli("voiceprints", "list", "--podcast-id", "show", "--store", store)
    assert code == 0
    assert out.splitlines()[0].split()[:4] == ["ID", "NAME", "MODEL", "STATE"]
    assert "campplus-cn-en-common  current" in out
    assert "diane" in out
    assert "Diane" in out
    assert "sample.wav [11.03-14.18]" in out
    code, out, _ = cli("voiceprints", "list", "--podcast-id", "show", "--store", store, "--json")
    assert json.loads(out)["voiceprint_id"] == "diane"
    assert json.loads(out)["state"] == "current"
    assert "embedding" not in json.loads(out)
    code, _, err = cli("voiceprints", "migrate", "--podcast-id", "show", "--store", store)
    assert code == 0
    assert "no outdated voiceprints" in err

    # The same id twice is refused, not overwritten.
    code, _, err = cli(
        "voiceprints", "enroll", SAMPLE, "--podcast-id", "show", "--name", "Diane",
        "--start", "11.03", "--end", "14.18", "--id", "diane", "--store", store,
    )  # fmt: skip
    assert code == 2
    assert "already exists" in err
    assert "voiceprints remove" in err

    code, _, err = cli("voiceprints", "remove", "--podcast-id", "show", "diane", "nobody", "--store", store)
    assert code == 2
    assert "no voiceprint 'nobody'" in err
    assert VoiceprintRegistry(open_store(store)).entries("show")  # nothing removed when one id is unknown
    code, out, _ = cli("voiceprints", "remove", "--podcast-id", "show", "diane", "--store", store)
    assert code == 0
    assert out.strip() == keys.voiceprint_key("show", "diane")
    assert VoiceprintRegistry(open_store(store)).entries("show") == []


@pytest.mark.parametrize("podcast", ["../etc", "a/b", "", "é"])
def test_bad_podcast_id_fails_before_any_io(tmp_path: Path, podcast: str) -> None:
    store = tmp_path / "store"
    for args in (
        ("enroll", str(tmp_path / "missing.wav"), "--podcast-id", podcast, "--name", "X"),
        ("list", "--podcast-id", podcast),
        ("remove", "--podcast-id", podcast, "someone"),
    ):
        code, _, err = cli("voiceprints", *args, "--store", str(store))
        assert code == 2, err
        assert "--podcast-id" in err
        assert "not a valid id" in err
    assert not store.exists()  # nothing was created or read


def test_bad_name_and_range_fail_clearly(tmp_path: Path) -> None:
    base = ("voiceprints", "enroll", SAMPLE, "--podcast-id", "show", "--store", str(tmp_path / "s"))
    code, _, err = cli(*base, "--name", "   ")
    assert code == 2
    assert "--name: must not be empty" in err
    code, _, err = cli(*base, "--name", "Diane", "--start", "5", "--end", "4")
    assert code == 2
    assert "--end: must be after --start" in err
    code, _, err = cli(*base, "--name", "Diane", "--id", "bad id")
    assert code == 2
    assert "--id" in err


@needs_local
def test_no_speech_is_refused(tmp_path: Path) -> None:
    # The sample's first 6 s are line noise before anyone speaks.
    code, _, err = cli(
        "voiceprints", "enroll", SAMPLE, "--podcast-id", "show", "--name", "Nobody",
        "--start", "0", "--end", "6", "--store", str(tmp_path / "s"),
    )  # fmt: skip
    assert code == 2
    assert "no speech heard" in err
    silent = tmp_path / "silence.wav"
    recut.write_wav(silent, np.zeros(16_000 * 3, dtype=np.float32))
    code, _, err = cli(
        "voiceprints", "enroll", str(silent), "--podcast-id", "show", "--name", "X", "--store", str(tmp_path / "s")
    )
    assert code == 2
    assert "no speech heard" in err


@needs_local
def test_unreadable_audio_and_empty_range(tmp_path: Path) -> None:
    base = ("voiceprints", "enroll", "--podcast-id", "show", "--name", "X", "--store", str(tmp_path / "s"))
    code, _, err = cli(*base, str(tmp_path / "missing.wav"))
    assert code == 2
    assert "file not found" in err
    text = tmp_path / "notes.wav"
    text.write_text("not audio")
    code, _, err = cli(*base, str(text))
    assert code == 2
    assert "not a readable audio file" in err
    code, _, err = cli(*base, SAMPLE, "--start", "100", "--end", "110")
    assert code == 2
    assert "holds no audio between 100 s and 110 s" in err


@needs_local
def test_pyannote_voiceprints_need_30_seconds_or_less(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Refused before any request is sent: the whole 30.0 s sample plus a little is over the limit.
    long = tmp_path / "long.wav"
    recut.write_wav(long, np.tile(recut.read_sample_audio(), 2))
    monkeypatch.setenv("PYANNOTEAI_API_KEY", "pk-never-sent")
    monkeypatch.setenv("PYANNOTEAI_API_URL", "http://127.0.0.1:9")  # nothing listens: a request would fail loudly
    code, _, err = cli(
        "voiceprints", "enroll", str(long), "--podcast-id", "show", "--name", "Diane", "--store", str(tmp_path / "s")
    )
    assert code == 2
    assert "at most 30 s" in err
    assert "--start/--end" in err


def test_two_voices_are_refused_when_the_halves_disagree() -> None:
    """The rule itself (the refusal threshold is measured on meeting speech: docs/identification.md)."""

    class Halves:
        def embed_many(self, clips: list[np.ndarray]) -> np.ndarray:
            assert len(clips) == 2
            return np.array([[1.0, 0.0], [0.1, 0.995]])  # cosine 0.1: two different voices

    voiced = np.zeros(16_000 * 5, dtype=np.float32)
    with pytest.raises(InvalidInput, match="more than one voice"):
        enrollment._check_one_speaker(Halves(), voiced)  # type: ignore[arg-type]
    enrollment._check_one_speaker(Halves(), voiced[: 16_000 * 3])  # type: ignore[arg-type]  # too short to judge


@needs_local
def test_list_shows_outdated_entries_and_migrate_names_those_to_enrol_again(tmp_path: Path) -> None:
    from diarflow.contracts import VoiceprintEntry, VoiceprintSource

    store = str(tmp_path / "store")
    VoiceprintRegistry(open_store(store)).add(
        VoiceprintEntry(
            voiceprint_id="sheila",
            podcast_id="show",
            display_name="Sheila",
            model="resemblyzer-ge2e",
            embedding=[0.0625] * 256,
            source=VoiceprintSource(audio="gone.wav", start=1.0, end=5.0),
            created_at="2025-01-01T00:00:00Z",
        )
    )
    code, out, _ = cli("voiceprints", "list", "--podcast-id", "show", "--store", store)
    assert code == 0
    assert "resemblyzer-ge2e  outdated: migrate" in out
    code, out, _ = cli("voiceprints", "migrate", "--podcast-id", "show", "--store", store, "--audio-dir", str(tmp_path))
    assert code == 3
    line = json.loads(out)
    assert (line["voiceprint_id"], line["outcome"]) == ("sheila", "re-enrol")
    assert "gone.wav not found" in line["reason"]
    assert VoiceprintRegistry(open_store(store)).get("show", "sheila").state == "outdated"
