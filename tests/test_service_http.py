"""``diarflow serve`` over HTTP, driven the way Inngest's executor drives it.

Three servers, each a ``diarflow serve`` subprocess on loopback with a
SeaweedFS-backed store:

* ``deepgram``: dev mode (``INNGEST_DEV`` = a recording server), Deepgram-fallback diarizer;
* ``pyannote``: dev mode, pyannoteAI pointed at a server that always answers 503;
* ``cloud``: cloud mode with a signing key; requests must be signed.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from diarflow.adapters.pyannote import sign as sign_webhook
from diarflow.adapters.stores import ObjectStore, get_json
from diarflow.adapters.stores.s3 import S3Store
from diarflow.contracts import (
    DIARIZATION_COMPLETED,
    DIARIZATION_FAILED,
    MAX_RESULT_BYTES,
    PYANNOTE_JOB_COMPLETED,
    TRANSCRIBE_REQUESTED,
    TRANSCRIBED,
    ErrorArtifact,
    PipelineResult,
    RawDiarization,
    keys,
)
from diarflow.service.functions import (
    DIARIZE_FUNCTION,
    EPISODE_KEY,
    IDEMPOTENCY_KEY,
    PODCAST_KEY,
    TRANSCRIBE_FUNCTION,
)
from tests.episodes import SPEC_TURNS, ingest, transcript_from_turns
from tests.fakes.server import FakeServer, Request, Response
from tests.inngest_helpers import Executor, InngestRecorder, ServeProcess, failure_event, sign_request
from tests.seaweedfs import S3Endpoint

pytestmark = [pytest.mark.s3, pytest.mark.slow]

APP = "diarflow"
OP_DATA_LIMIT = 4096
PYANNOTE_KEY = "pyannote-test-key-0123456789abcdef"
WEBHOOK_SECRET = "whsec-test-0123456789abcdef"
SIGNING_KEY = "signkey-test-" + "ab12" * 16
EVENT_KEY = "event-key-test-0123456789"
RETRIES = 2
PUBLIC_ORIGIN = "https://diarflow.example.com"


@pytest.fixture(scope="module")
def recorder() -> Iterator[InngestRecorder]:
    with InngestRecorder() as server:
        yield server


@pytest.fixture(scope="module")
def store_url(s3_bucket: str) -> str:
    return f"s3://{s3_bucket}/http-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def store(seaweedfs: S3Endpoint, store_url: str) -> ObjectStore:
    bucket, _, prefix = store_url.removeprefix("s3://").partition("/")
    return S3Store(bucket, prefix, client=seaweedfs.client())


@pytest.fixture(scope="module")
def base_env(seaweedfs: S3Endpoint, store_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("aws")
    return {
        **seaweedfs.env(),
        "AWS_CONFIG_FILE": str(home / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
        "DIARFLOW_STORE": store_url,
        "DIARFLOW_FUNCTION_RETRIES": str(RETRIES),
    }


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serve-logs")


@pytest.fixture(scope="module")
def deepgram_server(base_env: dict[str, str], recorder: InngestRecorder, logs: Path) -> Iterator[ServeProcess]:
    env = {**base_env, "INNGEST_DEV": recorder.url, "DIARFLOW_DIARIZER": "deepgram"}
    with ServeProcess(env, logs) as server:
        yield server


class UnavailablePyannote:
    """A pyannoteAI that answers every request with 503, counting them."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.server = FakeServer(self.handle)
        self.url = ""

    def handle(self, request: Request) -> Response:
        self.requests.append(request)
        return Response.json({"message": "overloaded"}, 503)


@pytest.fixture(scope="module")
def unavailable_pyannote() -> Iterator[UnavailablePyannote]:
    fake = UnavailablePyannote()
    with fake.server:
        fake.url = fake.server.url
        yield fake


@pytest.fixture(scope="module")
def pyannote_server(
    base_env: dict[str, str], recorder: InngestRecorder, unavailable_pyannote: UnavailablePyannote, logs: Path
) -> Iterator[ServeProcess]:
    env = {
        **base_env,
        "INNGEST_DEV": recorder.url,
        "DIARFLOW_DIARIZER": "pyannote",
        "PYANNOTEAI_API_KEY": PYANNOTE_KEY,
        "PYANNOTEAI_API_URL": unavailable_pyannote.url,
        "PYANNOTEAI_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "DIARFLOW_HTTP_ATTEMPTS": "1",  # one request per step attempt: Inngest does the retrying here
        "DIARFLOW_CONCURRENCY_PER_PODCAST": "3",
        "DIARFLOW_THROTTLE_PER_MINUTE": "30",
    }
    with ServeProcess(env, logs) as server:
        yield server


@pytest.fixture(scope="module")
def cloud_server(base_env: dict[str, str], recorder: InngestRecorder, logs: Path) -> Iterator[ServeProcess]:
    env = {
        **base_env,
        "INNGEST_SIGNING_KEY": SIGNING_KEY,
        "INNGEST_EVENT_KEY": EVENT_KEY,
        "INNGEST_BASE_URL": recorder.url,
        "INNGEST_SERVE_ORIGIN": PUBLIC_ORIGIN,
        "DIARFLOW_DIARIZER": "deepgram",
    }
    with ServeProcess(env, logs) as server:
        yield server


def diarize_event(episode_id: str, **data: Any) -> dict[str, Any]:
    return {
        "name": TRANSCRIBED,
        "data": {"episode_id": episode_id, "transcript_key": keys.transcript_key(episode_id), **data},
    }


# --- registration ---------------------------------------------------------------------------------


def test_registration_lists_both_functions_with_their_run_controls(
    pyannote_server: ServeProcess, recorder: InngestRecorder
) -> None:
    recorder.clear()
    # Whatever host the request names, the app registers where it listens (dev mode) or INNGEST_SERVE_ORIGIN.
    hostile = {"Host": "evil.example:8443", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}
    response = httpx.put(pyannote_server.url + "/api/inngest", headers=hostile, timeout=30)
    assert response.status_code == 200, response.text

    [registration] = recorder.registrations()
    assert registration["appname"] == APP
    assert registration["url"] == pyannote_server.url + "/api/inngest"
    functions = {fn["id"]: fn for fn in registration["functions"]}
    assert set(functions) == {
        f"{APP}-{TRANSCRIBE_FUNCTION}",
        f"{APP}-{DIARIZE_FUNCTION}",
        f"{APP}-{TRANSCRIBE_FUNCTION}-failure",
        f"{APP}-{DIARIZE_FUNCTION}-failure",
    }

    diarize = functions[f"{APP}-{DIARIZE_FUNCTION}"]
    assert diarize["triggers"] == [{"event": TRANSCRIBED}]
    assert diarize["concurrency"] == [{"key": PODCAST_KEY, "limit": 3}, {"key": EPISODE_KEY, "limit": 1}]
    assert diarize["throttle"] == {"limit": 30, "period": "1m", "burst": 1}
    assert diarize["idempotency"] == IDEMPOTENCY_KEY
    assert diarize["steps"]["step"]["retries"] == {"attempts": RETRIES}
    assert diarize["steps"]["step"]["runtime"]["url"].startswith(pyannote_server.url + "/api/inngest?fnId=")

    transcribe = functions[f"{APP}-{TRANSCRIBE_FUNCTION}"]
    assert transcribe["triggers"] == [{"event": TRANSCRIBE_REQUESTED}]
    assert transcribe["concurrency"] == [{"key": PODCAST_KEY, "limit": 3}, {"key": EPISODE_KEY, "limit": 1}]
    assert "throttle" not in transcribe  # Deepgram is not pyannoteAI
    assert transcribe["idempotency"] == IDEMPOTENCY_KEY
    assert transcribe["steps"]["step"]["retries"] == {"attempts": RETRIES}

    failure = functions[f"{APP}-{DIARIZE_FUNCTION}-failure"]
    assert failure["triggers"] == [
        {"event": "inngest/function.failed", "expression": f"event.data.function_id == '{APP}-{DIARIZE_FUNCTION}'"}
    ]


def test_without_pyannoteai_there_is_no_throttle(deepgram_server: ServeProcess, recorder: InngestRecorder) -> None:
    recorder.clear()
    assert httpx.put(deepgram_server.url + "/api/inngest", timeout=30).status_code == 200
    [registration] = recorder.registrations()
    diarize = next(fn for fn in registration["functions"] if fn["id"] == f"{APP}-{DIARIZE_FUNCTION}")
    assert "throttle" not in diarize
    assert diarize["concurrency"] == [{"key": PODCAST_KEY, "limit": 4}, {"key": EPISODE_KEY, "limit": 1}]


# --- runs -----------------------------------------------------------------------------------------


def test_a_run_of_ten_thousand_segments_keeps_every_step_output_small(
    deepgram_server: ServeProcess, recorder: InngestRecorder, store: ObjectStore
) -> None:
    turns = [(i * 1.0, i * 1.0 + 0.9, i % 3) for i in range(10_000)]
    ingest(store, "BIG1", transcript_from_turns(turns, words_per_turn=2))
    recorder.clear()

    run = Executor(deepgram_server.url).run(
        DIARIZE_FUNCTION, diarize_event("BIG1", podcast_id="POD1"), max_attempts=RETRIES + 1
    )

    assert run.status == "completed", run.output
    names = run.op_names()
    core = ["choose-diarizer-v1", "inspect-transcript-v1", "deepgram-fallback-v1", "identify-speakers-v1"]
    assert [n for n in names if n in core] == core
    assert names[-1] == "emit-result-v1"
    assert run.op_names("StepRun") == names  # nothing failed, nothing retried
    assert all(call.status in (200, 206) for call in run.calls)
    largest = run.largest_op_data()
    assert largest < OP_DATA_LIMIT, [(o["displayName"], len(orjson.dumps(o.get("data")))) for o in run.ops]
    result = PipelineResult.model_validate(run.output)
    assert result.status == "completed"
    assert result.stats.num_segments == 10_000
    assert result.stats.num_words == 20_000
    assert len(orjson.dumps(run.output)) < MAX_RESULT_BYTES
    assert len(RawDiarization.model_validate(get_json(store, keys.diarization_key("BIG1"))).segments) == 10_000
    [completed] = recorder.events(DIARIZATION_COMPLETED)
    assert completed["data"] == run.output
    assert run.seconds < 30
    print(f"\n10,000-segment run over HTTP: {len(run.calls)} calls, {run.seconds:.2f} s, largest op data {largest} B")


def test_an_invalid_transcript_fails_the_step_at_once_and_the_run_records_it(
    deepgram_server: ServeProcess, recorder: InngestRecorder, store: ObjectStore
) -> None:
    store.put_bytes(keys.transcript_key("BAD2"), b'{"results": {"channels": []}}')
    recorder.clear()

    run = Executor(deepgram_server.url).run(DIARIZE_FUNCTION, diarize_event("BAD2"), max_attempts=RETRIES + 1)

    # One attempt only: the 206 carrying the step error tells the executor not to retry.
    failed_call = next(c for c in run.calls if c.status == 206 and c.body[0]["op"] == "StepError")
    assert failed_call.headers["x-inngest-no-retry"] == "true"
    assert failed_call.body[0]["error"]["name"] == "InvalidTranscript"
    assert run.op_names("StepError") == ["inspect-transcript-v1"]
    assert run.status == "completed"  # the pipeline handled the failure: a failed result, not a crashed run
    assert run.output["status"] == "failed"
    assert run.output["error"]["type"] == "InvalidTranscript"
    artifact = ErrorArtifact.model_validate(get_json(store, keys.error_key("BAD2")))
    assert [(e.step, e.type, e.retryable) for e in artifact.errors] == [
        ("inspect-transcript-v1", "InvalidTranscript", False)
    ]
    [failed] = recorder.events(DIARIZATION_FAILED)
    assert failed["data"]["status"] == "failed"
    assert failed["data"]["s3_error_key"] == keys.error_key("BAD2")


def test_a_non_retryable_diarizer_failure_falls_back_without_retrying(
    pyannote_server: ServeProcess, unavailable_pyannote: UnavailablePyannote, store: ObjectStore
) -> None:
    ingest(store, "NOAUDIO1", transcript_from_turns(SPEC_TURNS))

    # No audio_url: pyannoteAI cannot run (DiarizerUnavailable), so the Deepgram fallback takes over at once.
    run = Executor(pyannote_server.url).run(DIARIZE_FUNCTION, diarize_event("NOAUDIO1"), max_attempts=RETRIES + 1)

    assert run.status == "completed", run.output
    assert run.op_names("StepError") == ["pyannote-submit-v1"]
    assert "deepgram-fallback-v1" in run.op_names("StepRun")
    assert run.output["status"] == "partial"
    assert run.output["source"] == "deepgram_fallback"
    [error] = ErrorArtifact.model_validate(get_json(store, keys.error_key("NOAUDIO1"))).errors
    assert (error.step, error.type, error.retryable, error.attempt) == (
        "pyannote-submit-v1",
        "DiarizerUnavailable",
        False,
        1,
    )


def test_a_step_that_exhausts_its_retries_hands_the_error_to_the_function_for_the_fallback(
    pyannote_server: ServeProcess, unavailable_pyannote: UnavailablePyannote, store: ObjectStore
) -> None:
    ingest(store, "DOWN1", transcript_from_turns(SPEC_TURNS))
    before = len(unavailable_pyannote.requests)

    run = Executor(pyannote_server.url).run(
        DIARIZE_FUNCTION, diarize_event("DOWN1", audio_url="https://media.example/down1.mp3"), max_attempts=RETRIES + 1
    )

    assert run.status == "completed", run.output
    # Retried by the executor (StepError), then given up (StepFailed on the last attempt).
    assert [o["op"] for o in run.ops if o["displayName"] == "pyannote-submit-v1"] == [
        "StepError",
        "StepError",
        "StepFailed",
    ]
    assert len(unavailable_pyannote.requests) - before == RETRIES + 1
    assert run.output["status"] == "partial"
    assert run.output["source"] == "deepgram_fallback"
    [error] = ErrorArtifact.model_validate(get_json(store, keys.error_key("DOWN1"))).errors
    assert error.step == "pyannote-submit-v1"
    assert error.retryable is True
    assert error.attempt == RETRIES + 1
    assert PYANNOTE_KEY not in orjson.dumps([o.get("error") for o in run.ops]).decode()


def test_on_failure_writes_the_error_artifact_and_emits_the_failed_event(
    deepgram_server: ServeProcess, recorder: InngestRecorder, store: ObjectStore
) -> None:
    recorder.clear()
    original = diarize_event("CRASH1", podcast_id="POD1")
    error = {"name": "StepFailed", "message": "step emit-result-v1 failed: SendEventsError: 502", "stack": None}

    run = Executor(deepgram_server.url).run(
        f"{DIARIZE_FUNCTION}-failure", failure_event(APP, DIARIZE_FUNCTION, original, error), max_attempts=1
    )

    assert run.status == "completed", run.output
    assert run.op_names() == ["record-failure-v1", "emit-result-v1"]
    assert run.output == {"recorded": True, "episode_id": "CRASH1", "s3_error_key": keys.error_key("CRASH1")}
    artifact = ErrorArtifact.model_validate(get_json(store, keys.error_key("CRASH1")))
    assert artifact.status == "failed"
    assert [(e.step, e.type) for e in artifact.errors] == [(DIARIZE_FUNCTION, "StepFailed")]
    [failed] = recorder.events(DIARIZATION_FAILED)
    assert failed["data"] == {
        "episode_id": "CRASH1",
        "status": "failed",
        "s3_error_key": keys.error_key("CRASH1"),
        "error": {"type": "StepFailed", "message": error["message"]},
    }


def test_a_malformed_event_fails_the_function_without_retries(deepgram_server: ServeProcess) -> None:
    call = Executor(deepgram_server.url).post(
        DIARIZE_FUNCTION,
        {
            "event": {"name": TRANSCRIBED, "data": {"episode_id": "../../etc", "transcript_key": "k"}},
            "events": [],
            "steps": {},
            "ctx": {"run_id": "01RUN", "attempt": 0, "disable_immediate_execution": False, "stack": {"stack": []}},
            "use_api": False,
        },
    )
    assert call.status == 500
    assert call.headers["x-inngest-no-retry"] == "true"
    assert "episode_id" in call.body["message"]


# --- health and webhook ---------------------------------------------------------------------------


def test_health_reports_store_and_configuration_without_secrets(pyannote_server: ServeProcess) -> None:
    response = httpx.get(pyannote_server.url + "/healthz", timeout=30)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["store"]["reachable"] is True
    assert body["inngest"]["mode"] == "dev"
    assert body["config"]["throttle_per_minute"] == 30
    assert body["config"]["pyannote_webhook"] is True
    for secret in (PYANNOTE_KEY, WEBHOOK_SECRET, pyannote_server.env["AWS_SECRET_ACCESS_KEY"]):
        assert secret not in response.text


def test_health_is_unavailable_when_the_store_is_not(
    base_env: dict[str, str], recorder: InngestRecorder, logs: Path
) -> None:
    env = {
        **base_env,
        "INNGEST_DEV": recorder.url,
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "DIARFLOW_S3_MAX_ATTEMPTS": "1",
    }
    with ServeProcess(env, logs) as server:
        response = httpx.get(server.url + "/healthz", timeout=60)
    assert response.status_code == 503
    assert response.json()["store"]["reachable"] is False


def test_a_signed_pyannoteai_webhook_becomes_an_inngest_event(
    pyannote_server: ServeProcess, recorder: InngestRecorder
) -> None:
    recorder.clear()
    body = orjson.dumps({"jobId": "job-123", "status": "succeeded"})
    timestamp = str(int(time.time()))
    headers = {"X-Request-Timestamp": timestamp, "X-Signature": sign_webhook(WEBHOOK_SECRET, timestamp, body)}

    response = httpx.post(pyannote_server.url + "/webhooks/pyannote", content=body, headers=headers, timeout=30)

    assert response.status_code == 200, response.text
    [event] = recorder.events(PYANNOTE_JOB_COMPLETED)
    assert event["data"] == {"job_id": "job-123", "status": "succeeded"}
    assert event["id"]  # deterministic, so Inngest drops redeliveries


def test_the_webhook_refuses_unsigned_and_oversized_bodies(pyannote_server: ServeProcess) -> None:
    url = pyannote_server.url + "/webhooks/pyannote"
    unsigned = httpx.post(url, content=b'{"jobId": "j", "status": "succeeded"}', timeout=30)
    assert unsigned.status_code == 401
    oversized = httpx.post(url, content=b"x" * (1024 * 1024 + 1), timeout=30)
    assert oversized.status_code == 413


# --- cloud mode: signatures -----------------------------------------------------------------------


def test_cloud_mode_refuses_unsigned_requests_and_serves_signed_ones(
    cloud_server: ServeProcess, recorder: InngestRecorder, store: ObjectStore
) -> None:
    ingest(store, "SIGNED1", transcript_from_turns(SPEC_TURNS))
    recorder.clear()
    event = diarize_event("SIGNED1")
    payload = {
        "event": event,
        "events": [event],
        "steps": {},
        "ctx": {"run_id": "01RUN", "attempt": 0, "disable_immediate_execution": False, "stack": {"stack": []}},
        "use_api": False,
    }

    executor = Executor(cloud_server.url, signing_key=SIGNING_KEY)
    assert executor.post(DIARIZE_FUNCTION, payload, signed=False).status == 401
    forged = Executor(cloud_server.url, signing_key="signkey-test-" + "00" * 32)
    assert forged.post(DIARIZE_FUNCTION, payload).status == 401

    first = executor.post(DIARIZE_FUNCTION, payload)
    assert first.status == 206
    assert "x-inngest-signature" in first.headers  # responses are signed too

    run = executor.run(DIARIZE_FUNCTION, event, max_attempts=RETRIES + 1)
    assert run.status == "completed", run.output
    assert run.output["status"] == "completed"
    # Completion events go to the event API with the event key, never the signing key.
    [request] = recorder.event_requests()
    assert request.path == f"/e/{EVENT_KEY}"
    assert SIGNING_KEY.split("-", 2)[2] not in orjson.dumps(dict(request.headers)).decode()


def test_cloud_mode_registration_authenticates_with_the_hashed_signing_key(
    cloud_server: ServeProcess, recorder: InngestRecorder
) -> None:
    recorder.clear()
    assert httpx.put(cloud_server.url + "/api/inngest", timeout=30).status_code == 401  # unsigned: refused
    assert recorder.registrations() == []
    signed = {"x-inngest-signature": sign_request(b"", SIGNING_KEY), "Host": "evil.example"}
    assert httpx.put(cloud_server.url + "/api/inngest", headers=signed, timeout=30).status_code == 200
    [request] = [r for r in recorder.requests if r.path == "/fn/register"]
    assert request.json()["url"] == PUBLIC_ORIGIN + "/api/inngest"
    authorization = request.headers["authorization"]
    assert re.fullmatch(r"Bearer [0-9a-f]{64}", authorization)
    assert SIGNING_KEY.split("-", 2)[2] not in authorization  # a hash of the key travels, never the key
