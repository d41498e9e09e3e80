"""The Inngest functions under ``inngest.experimental.mocked`` (no server), plus the step adapter's rules.

What the mock can show: a run's steps execute in order against a real store,
the function returns its result, events go through ``step.send_event``.
What it cannot (see README "Running on Inngest" and the environment notes): it retries
even non-retriable errors, never hands a failed step back to the function
(so no fallback), never calls ``on_failure``. Those paths are tested over HTTP
in ``test_service_http.py``, the way the real executor drives them.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import celpy
import inngest
import orjson
import pytest
from celpy.adapter import json_to_cel
from inngest.experimental import mocked

from diarflow.adapters.http import RemoteRateLimited
from diarflow.adapters.stores import LocalStore, ObjectStore, get_json, put_json
from diarflow.config import Settings
from diarflow.contracts import (
    DIARIZATION_COMPLETED,
    MAX_RESULT_BYTES,
    TRANSCRIBE_REQUESTED,
    TRANSCRIBED,
    AuditArtifact,
    EnrichedTranscript,
    PipelineResult,
    RawDiarization,
    keys,
)
from diarflow.contracts.results import StoredRef
from diarflow.contracts.step_args import EnrichArgs
from diarflow.errors import InvalidTranscript, RemotePaymentRequired, StepFailed, StorageUnavailable, classify
from diarflow.orchestration import Workspace, stages
from diarflow.orchestration.inngest_engine import (
    MAX_STEP_OUTPUT_BYTES,
    InngestSteps,
    StepAttemptFailed,
    _guarded,
)
from diarflow.service.functions import (
    DIARIZE_FUNCTION,
    EPISODE_KEY,
    IDEMPOTENCY_KEY,
    PODCAST_KEY,
    TRANSCRIBE_FUNCTION,
    build_functions,
    pyannote_throttle,
)
from tests.episodes import SPEC_TURNS, ingest, transcript_from_turns
from tests.fakes.deepgram import API_KEY as DEEPGRAM_KEY
from tests.fakes.deepgram import FakeDeepgram


class RecordingClient(mocked.Inngest):
    """The mock client, keeping the events that ``step.send_event`` sends."""

    def __init__(self) -> None:
        super().__init__(app_id="diarflow-test")
        self.sent: list[inngest.Event] = []

    def send_sync(self, events: inngest.Event | list[inngest.Event], *, skip_middleware: bool = False) -> list[str]:
        batch = events if isinstance(events, list) else [events]
        self.sent.extend(batch)
        return [f"evt-{len(self.sent) - len(batch) + i}" for i in range(len(batch))]


def functions(store: ObjectStore, **env: str) -> tuple[RecordingClient, dict[str, inngest.Function[Any]]]:
    settings = Settings.from_env({"DIARFLOW_DIARIZER": "deepgram", "DIARFLOW_FUNCTION_RETRIES": "0", **env})
    client = RecordingClient()
    built = build_functions(client, settings, store)
    return client, {fn.local_id: fn for fn in built}


def trigger(fn: inngest.Function[Any], client: RecordingClient, name: str, data: dict[str, Any]) -> Any:
    return mocked.trigger(fn, inngest.Event(name=name, data=data), client)


# --- runs ------------------------------------------------------------------------------------


def test_completed_run_writes_every_artifact_and_returns_the_lightweight_result(s3_store: ObjectStore) -> None:
    request = ingest(s3_store, "EP1", transcript_from_turns(SPEC_TURNS), podcast_id="POD1")
    client, fns = functions(s3_store)

    run = trigger(fns[DIARIZE_FUNCTION], client, TRANSCRIBED, request.model_dump(exclude_none=True))

    assert run.status is mocked.Status.COMPLETED, run.error
    result = PipelineResult.model_validate(run.output)
    assert result.status == "completed"
    assert result.source == "deepgram_fallback"
    assert (result.stats.num_segments, result.stats.num_speakers, result.stats.num_words) == (3, 2, 12)
    assert len(orjson.dumps(run.output)) < MAX_RESULT_BYTES
    RawDiarization.model_validate(get_json(s3_store, keys.diarization_key("EP1")))
    AuditArtifact.model_validate(get_json(s3_store, keys.audit_key("EP1")))
    enriched = EnrichedTranscript.model_validate(get_json(s3_store, keys.enriched_key("EP1")))
    assert len(enriched.words) == 12
    assert result.s3_error_key is None
    assert not s3_store.exists(keys.error_key("EP1"))
    # Inngest's own state holds step results, not checkpoints: the local runner's runs/ prefix stays empty.
    assert list(s3_store.list(keys.checkpoints_prefix("EP1"))) == []


def test_a_run_applies_the_episodes_speaker_corrections(local_store: ObjectStore) -> None:
    request = ingest(local_store, "EPC", transcript_from_turns(SPEC_TURNS))
    correction = {"op": "rename", "speaker": "SPEAKER_1", "name": "Sheila", "author": "ed", "created_at": "t"}
    put_json(local_store, keys.corrections_key("EPC"), {"episode_id": "EPC", "corrections": [correction]})
    client, fns = functions(local_store)

    run = trigger(fns[DIARIZE_FUNCTION], client, TRANSCRIBED, request.model_dump(exclude_none=True))

    assert run.status is mocked.Status.COMPLETED, run.error
    assert PipelineResult.model_validate(run.output).stats.identified_speakers == 1
    enriched = EnrichedTranscript.model_validate(get_json(local_store, keys.enriched_key("EPC")))
    assert [w.speaker for w in enriched.words] == ["A"] * 4 + ["Sheila"] * 4 + ["A"] * 4
    audit = AuditArtifact.model_validate(get_json(local_store, keys.audit_key("EPC")))
    assert [c.named_by.author if c.named_by else None for c in audit.clusters] == [None, "ed"]
    assert local_store.exists(keys.corrected_diarization_key("EPC"))


def test_the_completion_event_is_sent_with_the_result(s3_store: ObjectStore) -> None:
    request = ingest(s3_store, "EP2", transcript_from_turns(SPEC_TURNS))
    client, fns = functions(s3_store)

    run = trigger(fns[DIARIZE_FUNCTION], client, TRANSCRIBED, request.model_dump(exclude_none=True))

    assert run.status is mocked.Status.COMPLETED, run.error
    assert [e.name for e in client.sent] == [DIARIZATION_COMPLETED]
    assert client.sent[0].data == run.output


def test_a_failing_run_fails_with_the_step_error_type(s3_store: ObjectStore) -> None:
    # An unreadable transcript stored by someone else: the inspect step fails for good.
    s3_store.put_bytes(keys.transcript_key("BAD1"), b'{"results": {"channels": []}}')
    client, fns = functions(s3_store)

    run = trigger(
        fns[DIARIZE_FUNCTION],
        client,
        TRANSCRIBED,
        {"episode_id": "BAD1", "transcript_key": keys.transcript_key("BAD1")},
    )

    # The mock ends the run here; a real executor hands the error back (tested over HTTP).
    assert run.status is mocked.Status.FAILED
    assert isinstance(run.error, StepAttemptFailed)
    assert run.error.name == "InvalidTranscript"
    assert "results.channels" in run.error.message
    assert client.sent == []


def test_a_malformed_event_fails_the_run_as_non_retriable(s3_store: ObjectStore) -> None:
    client, fns = functions(s3_store)

    run = trigger(fns[DIARIZE_FUNCTION], client, TRANSCRIBED, {"episode_id": "../escape", "transcript_key": "k"})

    assert run.status is mocked.Status.FAILED
    assert isinstance(run.error, inngest.NonRetriableError)
    assert "episode_id" in str(run.error)


def test_transcribe_episode_stores_the_transcript_and_announces_it(s3_store: ObjectStore) -> None:
    with FakeDeepgram() as deepgram:
        client, fns = functions(s3_store, DEEPGRAM_API_KEY=DEEPGRAM_KEY, DEEPGRAM_API_URL=deepgram.url)
        run = trigger(
            fns[TRANSCRIBE_FUNCTION],
            client,
            TRANSCRIBE_REQUESTED,
            {"episode_id": "EP3", "podcast_id": "POD1", "audio_url": "https://media.example/ep3.mp3"},
        )

    assert run.status is mocked.Status.COMPLETED, run.error
    assert run.output["transcript_key"] == keys.transcript_key("EP3")
    assert s3_store.exists(keys.transcript_key("EP3"))
    [event] = client.sent
    assert event.name == TRANSCRIBED
    assert event.data["transcript_key"] == keys.transcript_key("EP3")
    assert event.data["podcast_id"] == "POD1"
    assert "rerun" not in event.data


def test_an_explicit_rerun_of_a_transcription_reaches_the_diarization(s3_store: ObjectStore) -> None:
    with FakeDeepgram() as deepgram:
        client, fns = functions(s3_store, DEEPGRAM_API_KEY=DEEPGRAM_KEY, DEEPGRAM_API_URL=deepgram.url)
        run = trigger(
            fns[TRANSCRIBE_FUNCTION],
            client,
            TRANSCRIBE_REQUESTED,
            {"episode_id": "EP4", "audio_url": "https://media.example/ep4.mp3", "rerun": "r-2026-11-29"},
        )

    assert run.status is mocked.Status.COMPLETED, run.error
    [event] = client.sent
    assert event.data["rerun"] == "r-2026-11-29"  # else the diarization's idempotency key drops it


# --- the step adapter's rules ------------------------------------------------------------------


def test_step_bodies_report_diarflow_errors_with_their_retry_decision() -> None:
    def raising(error: Exception) -> Any:
        def body() -> dict[str, Any]:
            raise error

        return _guarded("s-v1", body, attempt=0, max_attempts=5)

    with pytest.raises(StepAttemptFailed) as transient:
        raising(StorageUnavailable("s3 timed out"))()
    assert (transient.value.name, transient.value.is_retriable) == ("StorageUnavailable", True)

    with pytest.raises(StepAttemptFailed) as permanent:
        raising(InvalidTranscript("words[3].end", "is before start"))()
    assert (permanent.value.name, permanent.value.is_retriable) == ("InvalidTranscript", False)
    assert permanent.value.message == "words[3].end: is before start"

    with pytest.raises(StepAttemptFailed) as bug:
        raising(KeyError("missing"))()
    assert (bug.value.name, bug.value.is_retriable) == ("KeyError", False)


def test_a_rate_limited_step_waits_as_told_unless_it_is_the_last_attempt() -> None:
    def body() -> dict[str, Any]:
        raise RemoteRateLimited("pyannoteAI: rate limited (429)", retry_after=42.0)

    with pytest.raises(inngest.RetryAfterError) as later:
        _guarded("s-v1", body, attempt=0, max_attempts=3)()
    assert (later.value.retry_after - datetime.now()).total_seconds() == pytest.approx(42, abs=5)
    with pytest.raises(StepAttemptFailed):  # the last attempt must fail the step, so the fallback can run
        _guarded("s-v1", body, attempt=2, max_attempts=3)()


def test_a_step_that_returns_episode_data_is_refused() -> None:
    def body() -> dict[str, Any]:
        return {"segments": [{"start": i, "end": i + 1} for i in range(5000)]}

    with pytest.raises(StepAttemptFailed) as refused:
        _guarded("fat-v1", body, attempt=0, max_attempts=5)()
    assert refused.value.name == "StepOutputTooLarge"
    assert f"{MAX_STEP_OUTPUT_BYTES:,}" in refused.value.message


def test_a_failed_step_reaches_the_pipeline_as_step_failed(tmp_path: Path) -> None:
    class FailedStep:
        def run(self, name: str, fn: Any, *args: Any) -> Any:
            raise inngest.StepError(message="s3 timed out", name="StorageUnavailable", stack=None)

    steps = InngestSteps(FailedStep(), max_attempts=5)  # type: ignore[arg-type]
    stored = StoredRef(key="diarization/E1.json", digest="0" * 24)
    args = EnrichArgs(episode_id="E1", transcript=stored, diarization=stored, audit=stored)
    with pytest.raises(StepFailed) as failed:
        steps.run(stages.ENRICH, Workspace(store=LocalStore(tmp_path)), args)
    assert failed.value.step == "enrich-transcript-v1"
    assert (failed.value.error_type, failed.value.cause_retryable, failed.value.attempt) == (
        "StorageUnavailable",
        True,
        5,
    )
    assert classify("DiarizerUnavailable").retryable is False
    assert classify("NoSuchError").retryable is False


def test_a_remote_request_id_survives_inngest_to_the_step_failure(tmp_path: Path) -> None:
    """Inngest keeps only a step error's name and message: the request id travels in the message."""

    def body() -> dict[str, Any]:
        raise RemotePaymentRequired(
            "pyannoteAI: POST /v1/diarize: payment required (402) [request id 37a4c3a0-b034]: No credit",
            status_code=402,
            request_id="37a4c3a0-b034",
        )

    with pytest.raises(StepAttemptFailed) as attempt:
        _guarded("pyannote-submit-v1", body, attempt=0, max_attempts=3)()

    class FailedStep:
        def run(self, name: str, fn: Any, *args: Any) -> Any:
            raise inngest.StepError(message=attempt.value.message, name=attempt.value.name, stack=None)

    stored = StoredRef(key="diarization/E1.json", digest="0" * 24)
    args = EnrichArgs(episode_id="E1", transcript=stored, diarization=stored, audit=stored)
    with pytest.raises(StepFailed) as failed:
        InngestSteps(FailedStep(), max_attempts=3).run(stages.ENRICH, Workspace(store=LocalStore(tmp_path)), args)  # type: ignore[arg-type]
    assert (failed.value.error_type, failed.value.request_id) == ("RemotePaymentRequired", "37a4c3a0-b034")


# --- run controls as Inngest evaluates them (CEL) ------------------------------------------------


def evaluate(expression: str, data: dict[str, Any]) -> Any:
    env = celpy.Environment()
    return env.program(env.compile(expression)).evaluate({"event": json_to_cel({"data": data})})


def test_a_duplicate_event_has_the_same_idempotency_key_and_a_rerun_does_not() -> None:
    first = evaluate(IDEMPOTENCY_KEY, {"episode_id": "EP1", "podcast_id": "P"})
    duplicate = evaluate(IDEMPOTENCY_KEY, {"episode_id": "EP1", "podcast_id": "P", "rerun": None})
    rerun = evaluate(IDEMPOTENCY_KEY, {"episode_id": "EP1", "rerun": "20260101T000000Z-abc123"})
    assert first == duplicate == "EP1"
    assert rerun == "EP1/rerun/20260101T000000Z-abc123"
    assert evaluate(IDEMPOTENCY_KEY, {"episode_id": "EP2"}) != first


def test_concurrency_is_keyed_by_podcast() -> None:
    assert evaluate(PODCAST_KEY, {"episode_id": "EP1", "podcast_id": "POD1"}) == "POD1"
    assert evaluate(PODCAST_KEY, {"episode_id": "EP1"}) == evaluate(PODCAST_KEY, {"podcast_id": None}) == "~none"


def test_runs_of_one_episode_never_overlap_even_when_rerun() -> None:
    # Same concurrency key (limit 1) for a run and its deliberate rerun; different episodes do not wait.
    assert evaluate(EPISODE_KEY, {"episode_id": "EP1"}) == evaluate(EPISODE_KEY, {"episode_id": "EP1", "rerun": "r2"})
    assert evaluate(EPISODE_KEY, {"episode_id": "EP2"}) != evaluate(EPISODE_KEY, {"episode_id": "EP1"})


def test_the_throttle_applies_only_when_pyannoteai_may_be_called() -> None:
    throttle = pyannote_throttle(Settings.from_env({"DIARFLOW_DIARIZER": "pyannote"}))
    assert throttle is not None
    assert (throttle.limit, throttle.period) == (20, 60_000)
    assert pyannote_throttle(Settings.from_env({"DIARFLOW_DIARIZER": "deepgram"})) is None
    assert (
        pyannote_throttle(Settings.from_env({"DIARFLOW_DIARIZER": "pyannote", "DIARFLOW_THROTTLE_PER_MINUTE": "0"}))
        is None
    )
