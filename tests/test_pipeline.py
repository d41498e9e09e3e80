"""The pipeline end to end on the local engine, against every store (local directory and SeaweedFS)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from diarflow.adapters.stores import ObjectStore, get_json
from diarflow.config import Settings
from diarflow.contracts import (
    DIARIZATION_COMPLETED,
    DIARIZATION_FAILED,
    MAX_RESULT_BYTES,
    AuditArtifact,
    EnrichedTranscript,
    ErrorArtifact,
    RawDiarization,
    keys,
)
from diarflow.domain.fallback import NO_WORDS_WARNING
from diarflow.errors import StorageUnavailable
from diarflow.orchestration import RunOptions, Workspace, run_locally
from diarflow.orchestration.steps import Event
from diarflow.samples.synthetic import synthetic_deepgram
from tests.deepgram_documents import silent_audio
from tests.episodes import SPEC_TURNS, ingest, transcript_from_turns

DEEPGRAM = RunOptions(diarizer="deepgram")


def run(
    store: ObjectStore, request: Any, options: RunOptions = DEEPGRAM, **kwargs: Any
) -> tuple[Any, Any, list[Event]]:
    events: list[Event] = []
    result, runner = run_locally(
        store, request, options, settings=Settings.from_env({}), event_sink=events.extend, **kwargs
    )
    return result, runner, events


def test_spec_fixture_writes_every_artifact_and_returns_keys_and_stats(store: ObjectStore) -> None:
    request = ingest(store, "TEST123", transcript_from_turns(SPEC_TURNS))
    result, _, events = run(store, request)

    assert result.status == "completed"
    assert result.source == "deepgram_fallback"
    assert result.stats.num_segments == 3
    assert round(result.stats.duration * 10) / 10 == 8.0
    assert result.stats.num_speakers == 2
    assert result.stats.num_words == 12
    assert result.s3_diarization_key == "diarization/TEST123.json"
    assert result.s3_enriched_key == "diarization/TEST123.enriched.json"
    assert result.s3_audit_key == "diarization/TEST123.audit.json"
    assert result.s3_error_key is None
    for key in (result.s3_diarization_key, result.s3_enriched_key, result.s3_audit_key):
        assert "://" not in key
        assert store.exists(key)

    raw = RawDiarization.model_validate(get_json(store, result.s3_diarization_key))
    assert [(s.start, s.end, s.speaker) for s in raw.segments] == [
        (0.0, 2.5, "SPEAKER_0"),
        (2.5, 5.0, "SPEAKER_1"),
        (5.0, 8.0, "SPEAKER_0"),
    ]
    assert all(s.confidence == 0.8 for s in raw.segments)  # no speaker_confidence in the transcript
    audit = AuditArtifact.model_validate(get_json(store, result.s3_audit_key))
    assert [(c.speaker_key, c.label, c.segments_count) for c in audit.clusters] == [
        ("SPEAKER_0", "A", 2),
        ("SPEAKER_1", "B", 1),
    ]
    assert audit.total_segments == 3
    enriched = EnrichedTranscript.model_validate(get_json(store, result.s3_enriched_key))
    assert [w.speaker for w in enriched.words] == ["A"] * 4 + ["B"] * 4 + ["A"] * 4
    assert {w.diar_speaker for w in enriched.words} == {"SPEAKER_0", "SPEAKER_1"}
    assert events == [{"name": DIARIZATION_COMPLETED, "data": result.to_json_dict()}]


def test_unavailable_diarizer_falls_back_and_records_why(store: ObjectStore) -> None:
    request = ingest(store, "E-fallback", transcript_from_turns(SPEC_TURNS))  # no audio: local cannot run
    result, _, _ = run(store, request, RunOptions(diarizer="local"))

    assert result.status == "partial"
    assert result.source == "deepgram_fallback"
    assert result.s3_error_key == "diarization/E-fallback.error.json"
    assert store.exists(result.s3_enriched_key)
    error = ErrorArtifact.model_validate(get_json(store, result.s3_error_key))
    assert error.status == "partial"
    [record] = error.errors
    assert record.step == "local-diarize-v1"
    assert record.type == "DiarizerUnavailable"
    assert "audio" in record.message


def test_results_stay_small_at_ten_thousand_segments(store: ObjectStore) -> None:
    document = synthetic_deepgram(num_words=100_000, num_turns=10_000, num_speakers=6, seed=11)
    request = ingest(store, "HUGE", document)
    result, _, events = run(store, request)

    assert result.status == "completed"
    assert result.stats.num_segments == 10_000
    assert result.stats.num_words == 100_000
    assert len(orjson.dumps(result.to_json_dict())) < MAX_RESULT_BYTES
    assert all(len(orjson.dumps(event)) < MAX_RESULT_BYTES for event in events)
    for key in store.list(keys.checkpoints_prefix("HUGE")):
        checkpoint = store.get_bytes(key)
        assert len(checkpoint) < MAX_RESULT_BYTES, key
    assert len(get_json(store, result.s3_enriched_key)["words"]) == 100_000


def test_enriched_words_carry_speaker_fields_and_near_miss_alternatives(store: ObjectStore) -> None:
    # Speaker 1 talks over the middle of speaker 0's turn: words there have a near miss.
    document = transcript_from_turns([(0.0, 10.0, 0), (4.0, 6.0, 1), (10.0, 12.0, 1)], words_per_turn=5)
    request = ingest(store, "OVERLAP", document)
    result, _, _ = run(store, request)

    words = get_json(store, result.s3_enriched_key)["words"]
    for word in words:
        assert set(word) >= {"start", "end", "word", "speaker", "speaker_confidence", "diar_speaker", "source"}
        assert word["source"] == "deepgram_fallback"
    overlapped = [w for w in words if w["start"] >= 4.0 and w["end"] <= 6.0]
    assert overlapped
    assert all(w.get("alternatives") for w in overlapped)
    assert all(w["alternatives"][0]["speaker"] != w["speaker"] for w in overlapped)
    clean = [w for w in words if w["end"] <= 4.0]
    assert all("alternatives" not in w for w in clean)


class FlakyStore:
    """A real store that refuses writes to one key a number of times (a fault, not a fake)."""

    def __init__(self, inner: ObjectStore, key: str, failures: int) -> None:
        self.inner = inner
        self.url = inner.url
        self.key = key
        self.failures = failures

    def put_bytes(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        if key == self.key and self.failures > 0:
            self.failures -= 1
            raise StorageUnavailable(f"injected outage writing {key}", key=key)
        self.inner.put_bytes(key, data, content_type=content_type)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_run_failing_midway_resumes_from_its_checkpoints(store: ObjectStore) -> None:
    request = ingest(store, "MIDWAY", transcript_from_turns(SPEC_TURNS))
    flaky = FlakyStore(store, keys.enriched_key("MIDWAY"), failures=3)
    settings = Settings.from_env({}, step_attempts=3)
    first, runner, events = run(flaky, request, workspace=Workspace(flaky, settings))  # type: ignore[arg-type]

    assert first.status == "failed"
    assert first.error is not None
    assert first.error.type == "StorageUnavailable"
    assert events[0]["name"] == DIARIZATION_FAILED
    assert runner.executed == [
        "inspect-transcript-v1",
        "deepgram-fallback-v1",
        "apply-corrections-v1",
        "identify-speakers-v1",
        "update-error-log-v1.final",
        "render-report-v1",
        "emit-result-v1",
    ]
    assert store.exists(keys.report_key("MIDWAY"))  # a failed run still leaves a page that shows the error
    diarization_before = store.get_bytes(keys.diarization_key("MIDWAY"))
    error = ErrorArtifact.model_validate(get_json(store, keys.error_key("MIDWAY")))
    assert error.status == "failed"
    assert error.errors[0].step == "enrich-transcript-v1"
    assert error.errors[0].attempt == 3

    second, runner, _ = run(store, request)
    assert second.status == "completed"
    assert runner.skipped == [
        "inspect-transcript-v1",
        "deepgram-fallback-v1",
        "apply-corrections-v1",
        "identify-speakers-v1",
    ]
    assert runner.executed == [
        "enrich-transcript-v1",
        "verify-artifacts-v1",
        "update-error-log-v1.final",
        "render-report-v1",
        "emit-result-v1",
    ]
    assert store.get_bytes(keys.diarization_key("MIDWAY")) == diarization_before
    assert not store.exists(keys.error_key("MIDWAY"))  # the stale log of the failed run is gone


def test_rerun_skips_everything_and_force_recomputes(store: ObjectStore) -> None:
    request = ingest(store, "AGAIN", transcript_from_turns(SPEC_TURNS))
    run(store, request)
    request = ingest(store, "AGAIN", transcript_from_turns(SPEC_TURNS))  # the same transcript handed in again
    _, runner, _ = run(store, request)
    assert runner.executed == []
    _, runner, _ = run(store, request, force=True)
    assert "deepgram-fallback-v1" in runner.executed
    assert runner.skipped == []


def test_a_changed_transcript_reruns_every_step_downstream(store: ObjectStore) -> None:
    request = ingest(store, "CHANGED", transcript_from_turns(SPEC_TURNS))
    run(store, request)
    request = ingest(store, "CHANGED", transcript_from_turns([(0.0, 4.0, 0), (4.0, 8.0, 1)]))
    result, runner, _ = run(store, request)
    assert runner.executed[:5] == [
        "inspect-transcript-v1",
        "deepgram-fallback-v1",
        "apply-corrections-v1",
        "identify-speakers-v1",
        "enrich-transcript-v1",
    ]
    assert result.stats.num_segments == 2


def test_a_deleted_artifact_is_recomputed_on_rerun(store: ObjectStore) -> None:
    request = ingest(store, "DELETED", transcript_from_turns(SPEC_TURNS))
    result, _, _ = run(store, request)
    store.delete(result.s3_enriched_key)
    _, runner, _ = run(store, request)
    assert "enrich-transcript-v1" in runner.executed
    assert store.exists(result.s3_enriched_key)


def test_a_transcript_without_speakers_fails_with_the_field_named(store: ObjectStore) -> None:
    request = ingest(store, "NOSPK", {"words": [{"start": 0, "end": 1, "word": "a"}]})
    result, _, events = run(store, request)
    assert result.status == "failed"
    assert result.error is not None
    assert result.error.type == "InvalidTranscript"
    assert result.error.message.startswith("words: carries no speaker labels")
    assert events[0]["data"]["status"] == "failed"
    assert not store.exists(keys.diarization_key("NOSPK"))


def test_a_stored_transcript_that_became_invalid_fails_before_diarizing(store: ObjectStore) -> None:
    request = ingest(store, "CORRUPT", transcript_from_turns(SPEC_TURNS))
    store.put_bytes(request.transcript_key, b'{"results": {"channels": []}}')
    result, runner, _ = run(store, request)
    assert result.status == "failed"
    assert runner.executed[0] == "update-error-log-v1.final"
    error = get_json(store, keys.error_key("CORRUPT"))
    assert error["errors"][0]["message"] == "results.channels: is empty: the response has no channel"


@pytest.mark.parametrize("bad_id", ["../x", "a/b", "", "x" * 1024, "ерisode", "a.b"])
def test_ids_that_could_escape_their_prefix_are_rejected_before_io(store: ObjectStore, bad_id: str) -> None:
    from diarflow.errors import InvalidId

    before = sorted(store.list(""))
    with pytest.raises(InvalidId):
        keys.diarization_key(bad_id)
    with pytest.raises(Exception, match="episode_id"):
        ingest(store, bad_id, transcript_from_turns(SPEC_TURNS))
    assert sorted(store.list("")) == before


def test_every_run_leaves_a_report_and_a_broken_report_never_fails_the_run(store: ObjectStore) -> None:
    request = ingest(store, "REPORTED", transcript_from_turns(SPEC_TURNS))
    result, _, _ = run(store, request)
    page = store.get_bytes(keys.report_key("REPORTED")).decode()
    assert "<html" in page.lower()
    assert "W0_0" in page  # the transcript's words are in the page's data

    # A report that cannot be written (the key is blocked) is logged; the run still completes.
    blocked = FlakyStore(store, keys.report_key("REPORTED"), failures=100)
    result, runner, _ = run(blocked, request, force=True, workspace=Workspace(blocked, Settings.from_env({})))  # type: ignore[arg-type]
    assert result.status == "completed"
    assert "render-report-v1" not in runner.executed
    assert "emit-result-v1" in runner.executed


def test_a_transcript_without_words_completes_with_empty_artifacts_and_a_warning(store: ObjectStore) -> None:
    """Silent audio: Deepgram's answer has no words. Nothing to attribute is not invalid input."""
    request = ingest(store, "SILENT1", silent_audio())
    # Whatever diarizer was asked for: with no words there is nothing a model could add (0 words, 0 turns).
    result, _, events = run(store, request, RunOptions(diarizer="local"))

    assert result.status == "completed", result.error
    assert result.source == "deepgram_fallback"
    assert result.stats.model_dump() == {
        "num_segments": 0,
        "duration": 0.0,
        "num_speakers": 0,
        "num_words": 0,
        "identified_speakers": 0,
    }
    assert result.warnings == [NO_WORDS_WARNING]
    assert result.s3_error_key is None
    assert RawDiarization.model_validate(get_json(store, keys.diarization_key("SILENT1"))).segments == []
    audit = AuditArtifact.model_validate(get_json(store, keys.audit_key("SILENT1")))
    assert (audit.clusters, audit.warnings) == ([], [NO_WORDS_WARNING])
    assert EnrichedTranscript.model_validate(get_json(store, keys.enriched_key("SILENT1"))).words == []
    assert [event["name"] for event in events] == [DIARIZATION_COMPLETED]
    assert events[0]["data"] == result.to_json_dict()
