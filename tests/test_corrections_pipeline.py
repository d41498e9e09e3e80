"""``apply-corrections-v1`` in the pipeline on the local engine: corrections are an input, never a re-diarization."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from diarflow.adapters.stores import ObjectStore, get_json, put_json
from diarflow.config import Settings
from diarflow.contracts import AuditArtifact, EnrichedTranscript, keys
from diarflow.errors import InvalidCorrection, classify
from diarflow.orchestration import RunOptions, Workspace, run_locally, stages
from diarflow.orchestration.identification import Named, SpeakerMap
from diarflow.orchestration.local import record_corrections
from tests.episodes import SPEC_TURNS, ingest, transcript_from_turns

DEEPGRAM = RunOptions(diarizer="deepgram")
STAMP = {"author": "editor", "created_at": "2026-01-02T03:04:05.000Z"}


def store_corrections(store: ObjectStore, episode_id: str, *items: dict[str, Any]) -> None:
    put_json(
        store, keys.corrections_key(episode_id), {"episode_id": episode_id, "corrections": [STAMP | i for i in items]}
    )


def words_by_speaker(store: ObjectStore, episode_id: str) -> list[str | None]:
    return [w.speaker for w in EnrichedTranscript.model_validate(get_json(store, keys.enriched_key(episode_id))).words]


def test_corrections_stored_before_a_run_are_applied_by_it(local_store: ObjectStore) -> None:
    request = ingest(local_store, "C1", transcript_from_turns(SPEC_TURNS))
    store_corrections(local_store, "C1", {"op": "rename", "speaker": "SPEAKER_1", "name": "Sheila"})

    result, _ = run_locally(local_store, request, DEEPGRAM, settings=Settings.from_env({}))

    assert result.status == "completed"
    assert words_by_speaker(local_store, "C1") == ["A"] * 4 + ["Sheila"] * 4 + ["A"] * 4
    audit = AuditArtifact.model_validate(get_json(local_store, keys.audit_key("C1")))
    [a, b] = audit.clusters
    assert (a.mapped_to, a.named_by) == (None, None)
    assert b.mapped_to == "Sheila"
    assert b.named_by is not None
    assert (b.named_by.author, b.named_by.created_at, b.named_by.correction) == ("editor", STAMP["created_at"], 0)
    assert result.s3_diarization_key == keys.diarization_key("C1")  # the result names the diarizer's own output
    corrected = get_json(local_store, keys.corrected_diarization_key("C1"))
    assert corrected["corrected_names"]["SPEAKER_1"]["name"] == "Sheila"


def test_changed_corrections_rerun_from_the_corrections_step_and_never_rediarize(local_store: ObjectStore) -> None:
    request = ingest(local_store, "C2", transcript_from_turns(SPEC_TURNS))
    run_locally(local_store, request, DEEPGRAM, settings=Settings.from_env({}))
    raw = local_store.get_bytes(keys.diarization_key("C2"))

    store_corrections(local_store, "C2", {"op": "assign", "start": 0.0, "end": 2.5, "name": "Guest"})
    result, runner = run_locally(local_store, request, DEEPGRAM, settings=Settings.from_env({}))

    assert runner.skipped[:2] == ["inspect-transcript-v1", "deepgram-fallback-v1"]
    assert runner.executed[:4] == [
        "apply-corrections-v1",
        "identify-speakers-v1",
        "enrich-transcript-v1",
        "verify-artifacts-v1",
    ]
    assert local_store.get_bytes(keys.diarization_key("C2")) == raw  # the diarizer's output is never edited
    # Labels follow first appearance, so they are renumbered: the raw diarization's A is C now.
    assert words_by_speaker(local_store, "C2") == ["Guest"] * 4 + ["B"] * 4 + ["C"] * 4
    assert result.stats.num_speakers == 3

    _, unchanged = run_locally(local_store, request, DEEPGRAM, settings=Settings.from_env({}))
    assert unchanged.executed == []  # the same corrections: every step answered from its checkpoint


def test_dropping_the_corrections_passes_the_raw_diarization_through_again(local_store: ObjectStore) -> None:
    request = ingest(local_store, "C3", transcript_from_turns(SPEC_TURNS))
    store_corrections(local_store, "C3", {"op": "merge", "speaker": "SPEAKER_0", "merged": "SPEAKER_1"})
    run_locally(local_store, request, DEEPGRAM, settings=Settings.from_env({}))
    assert set(words_by_speaker(local_store, "C3")) == {"A"}

    local_store.delete(keys.corrections_key("C3"))
    run_locally(local_store, request, DEEPGRAM, settings=Settings.from_env({}))

    assert words_by_speaker(local_store, "C3") == ["A"] * 4 + ["B"] * 4 + ["A"] * 4
    assert not local_store.exists(keys.corrected_diarization_key("C3"))  # exports and the report read no stale copy


def test_a_stored_correction_that_no_longer_fits_fails_the_run_naming_it(local_store: ObjectStore) -> None:
    request = ingest(local_store, "C4", transcript_from_turns(SPEC_TURNS))
    store_corrections(local_store, "C4", {"op": "rename", "speaker": "SPEAKER_7", "name": "X"})

    result, _ = run_locally(local_store, request, DEEPGRAM, settings=Settings.from_env({}))

    assert result.status == "failed"
    assert result.error is not None
    assert result.error.type == "InvalidCorrection"
    assert result.error.message.startswith(
        "diarization/C4.corrections.json:corrections[0].speaker: "
        "no speaker 'SPEAKER_7' (speakers: SPEAKER_0, SPEAKER_1)"
    )
    assert classify(result.error.type).exit_code == 2


def test_record_corrections_checks_before_recording_and_reruns_the_last_run(local_store: ObjectStore) -> None:
    request = ingest(local_store, "C5", transcript_from_turns(SPEC_TURNS))
    run_locally(local_store, request, DEEPGRAM, settings=Settings.from_env({}))
    ws = Workspace(local_store, Settings.from_env({}))
    from diarflow.contracts.corrections import parse_corrections

    bad = parse_corrections([STAMP | {"op": "rename", "speaker": "SPEAKER_9", "name": "X"}], where="corrections")
    with pytest.raises(InvalidCorrection, match=r"^corrections\[0\]\.speaker: no speaker 'SPEAKER_9'"):
        record_corrections(ws, "C5", bad)
    assert not local_store.exists(keys.corrections_key("C5"))

    good = parse_corrections([STAMP | {"op": "rename", "speaker": "SPEAKER_0", "name": "Diane"}], where="corrections")
    result = record_corrections(ws, "C5", good)

    assert result.status == "completed"
    assert words_by_speaker(local_store, "C5")[0] == "Diane"
    stored = orjson.loads(local_store.get_bytes(keys.corrections_key("C5")))
    assert [c["name"] for c in stored["corrections"]] == ["Diane"]


def test_a_rename_wins_over_a_voiceprint_match(local_store: ObjectStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry names both speakers; the person who renamed one of them is believed."""

    def registry_names_both(*_: Any) -> SpeakerMap:
        return SpeakerMap(
            "ok",
            named={
                "SPEAKER_0": Named("Diane", "diane-1", 0.91),
                "SPEAKER_1": Named("Diane", "diane-1", 0.62),  # a wrong match: Sheila sounds a bit like Diane
            },
        )

    monkeypatch.setattr(stages, "identify_episode", registry_names_both)
    request = ingest(local_store, "C6", transcript_from_turns(SPEC_TURNS), podcast_id="POD1")
    store_corrections(local_store, "C6", {"op": "rename", "speaker": "SPEAKER_1", "name": "Sheila"})

    run_locally(local_store, request, DEEPGRAM, settings=Settings.from_env({}))

    audit = AuditArtifact.model_validate(get_json(local_store, keys.audit_key("C6")))
    summary = [(c.mapped_to, c.reference_id, c.confidence, c.named_by is not None) for c in audit.clusters]
    assert summary == [("Diane", "diane-1", 0.91, False), ("Sheila", None, None, True)]
    assert words_by_speaker(local_store, "C6") == ["Diane"] * 4 + ["Sheila"] * 4 + ["Diane"] * 4
