"""End to end against the fake pyannoteAI and Deepgram servers: the CLI as a user runs it, and the webhook path.

Each CLI run is a real process talking real HTTP to the fakes on loopback.
The last test gathers every log line and artifact of these flows and checks
that no API key, webhook secret or pre-signed URL credential is in them.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
import pytest

from diarflow.adapters.stores import LocalStore, get_json
from diarflow.config import Settings
from diarflow.contracts import DiarizeRequested, ErrorArtifact, PipelineResult, RawDiarization, keys
from diarflow.orchestration import RunOptions, Workspace, diarize_episode, ingest_transcript
from diarflow.orchestration.pyannote_flow import WEBHOOK_PATH
from diarflow.orchestration.steps import ArgsT, ResultT, Step
from tests.fakes.deepgram import API_KEY as DEEPGRAM_KEY
from tests.fakes.deepgram import FakeDeepgram
from tests.fakes.pyannote import API_KEY as PYANNOTE_KEY
from tests.fakes.pyannote import UPLOAD_SIGNATURE, WEBHOOK_SECRET, FakePyannote
from tests.fakes.server import FakeServer, Request, Response

SECRETS = (PYANNOTE_KEY, DEEPGRAM_KEY, WEBHOOK_SECRET, UPLOAD_SIGNATURE)
SAMPLES = resources.files("diarflow") / "samples"


@pytest.fixture(scope="module")
def sample_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("sample")
    transcript = folder / "sample.deepgram.json"
    audio = folder / "sample.wav"
    transcript.write_bytes((SAMPLES / "sample.deepgram.json").read_bytes())
    audio.write_bytes((SAMPLES / "sample.wav").read_bytes())
    return transcript, audio


def sample_turns() -> list[dict[str, Any]]:
    """The sample's reference turns (RTTM), labelled as pyannoteAI labels speakers."""
    names: dict[str, str] = {}
    turns = []
    for line in (SAMPLES / "sample.rttm").read_text().splitlines():
        fields = line.split()
        start, length, who = float(fields[3]), float(fields[4]), fields[7]
        speaker = names.setdefault(who, f"SPEAKER_{len(names):02d}")
        turns.append({"speaker": speaker, "start": start, "end": round(start + length, 3)})
    return turns


@pytest.fixture
def pyannote() -> Iterator[FakePyannote]:
    with FakePyannote(segments=sample_turns()) as fake:
        yield fake


@pytest.fixture
def deepgram() -> Iterator[FakeDeepgram]:
    with FakeDeepgram() as fake:
        yield fake


class Collected:
    """Everything a flow printed; the secrets test scans it."""

    texts: list[str] = []  # noqa: RUF012 (shared on purpose across this module's tests)


def diarflow(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DIARFLOW_", "PYANNOTEAI_", "DEEPGRAM_"))}
    environment.update({"DIARFLOW_LOG_LEVEL": "DEBUG", "DIARFLOW_HTTP_BACKOFF": "0.01"})
    environment.update(env)
    done = subprocess.run(
        [sys.executable, "-m", "diarflow", *args], capture_output=True, text=True, env=environment, timeout=120
    )
    Collected.texts += [done.stdout, done.stderr]
    return done


def pyannote_env(fake: FakePyannote, **extra: str) -> dict[str, str]:
    return {
        "PYANNOTEAI_API_KEY": fake.api_key,
        "PYANNOTEAI_API_URL": fake.url,
        "PYANNOTEAI_POLL_INTERVAL": "0.01",
        **extra,
    }


def run_pyannote(store: Path, files: tuple[Path, Path], env: dict[str, str], diarizer: str = "pyannote"):
    transcript, audio = files
    args = ["run", "--episode-id", "E1", "--transcript", str(transcript), "--audio", str(audio)]
    return diarflow(*args, "--store", str(store), "--diarizer", diarizer, env=env)


def test_run_with_pyannote_produces_pyannote_artifacts(tmp_path, sample_files, pyannote):
    store = tmp_path / "store"
    done = run_pyannote(store, sample_files, pyannote_env(pyannote))
    assert done.returncode == 0, done.stderr
    result = PipelineResult.model_validate_json(done.stdout)
    assert (result.status, result.source) == ("completed", "pyannote")
    assert result.stats.num_speakers == 2
    raw = RawDiarization.model_validate(get_json(LocalStore(store), keys.diarization_key("E1")))
    assert raw.source == "pyannote"
    assert raw.model == "precision-2"
    assert raw.job_id == pyannote.job_id(1)
    assert len(raw.segments) == 10
    assert all(s.confidence is not None and 0 <= s.confidence <= 1 for s in raw.segments)
    assert raw.exclusive_segments  # asked for, and used for alignment
    enriched = get_json(LocalStore(store), keys.enriched_key("E1"))
    assert {w["source"] for w in enriched["words"]} == {"pyannote"}
    # The local audio went up through the media API, and the job read it from there.
    assert pyannote.uploads["diarflow/E1/audio.wav"] == sample_files[1].read_bytes()
    assert pyannote.jobs[pyannote.job_id(1)].request["url"] == "media://diarflow/E1/audio.wav"
    # Waiting is shown: polls and the sleeps between them are steps.
    for step in ("pyannote-submit-v1", "pyannote-poll-v1.3", "pyannote-sleep-v1.2", "pyannote-collect-v1"):
        assert step in done.stderr
    # A rerun reuses every checkpoint: no second job.
    again = run_pyannote(store, sample_files, pyannote_env(pyannote))
    assert again.returncode == 0, again.stderr
    assert len(pyannote.jobs) == 1


def test_a_real_response_without_speaker_labels_is_diarized_by_pyannote(tmp_path, sample_files, pyannote):
    """pyannoteAI listens to the audio: a Deepgram response without speaker labels (a real one) is enough."""
    unlabelled = tmp_path / "no-speakers.json"
    unlabelled.write_bytes(
        (Path(__file__).parent / "data" / "deepgram" / "captions-nova2-no-speakers.json").read_bytes()
    )
    store = tmp_path / "store"
    done = run_pyannote(store, (unlabelled, sample_files[1]), pyannote_env(pyannote))
    assert done.returncode == 0, done.stderr
    result = PipelineResult.model_validate_json(done.stdout)
    assert (result.status, result.source) == ("completed", "pyannote")
    assert result.stats.num_words == 62
    enriched = get_json(LocalStore(store), keys.enriched_key("E1"))
    attributed = sum(w["speaker"] is not None for w in enriched["words"])
    assert attributed >= 50  # 51: the words inside the sample's turns (the response is another recording)


def test_auto_picks_pyannote_when_its_key_is_set(tmp_path, sample_files, pyannote):
    done = run_pyannote(tmp_path / "store", sample_files, pyannote_env(pyannote), diarizer="auto")
    assert done.returncode == 0, done.stderr
    assert PipelineResult.model_validate_json(done.stdout).source == "pyannote"


@pytest.mark.parametrize("outcome", ["failed", "canceled"])
def test_failed_or_canceled_job_falls_back_and_records_why(tmp_path, sample_files, pyannote, outcome):
    pyannote.job_statuses = ["pending", outcome]
    store = tmp_path / "store"
    done = run_pyannote(store, sample_files, pyannote_env(pyannote))
    assert done.returncode == 0, done.stderr
    result = PipelineResult.model_validate_json(done.stdout)
    assert (result.status, result.source) == ("partial", "deepgram_fallback")
    assert result.s3_enriched_key is not None
    errors = get_json(LocalStore(store), keys.error_key("E1"))["errors"]
    assert [e["step"] for e in errors] == ["pyannote-collect-v1"]
    assert errors[0]["type"] == "JobFailed"
    assert f"job {pyannote.job_id(1)} {outcome}" in errors[0]["message"]
    if outcome == "failed":
        assert "Could not load audio" in errors[0]["message"]


def test_failing_server_falls_back(tmp_path, sample_files, pyannote):
    pyannote.fail_next("POST", "^/v1/media/input$", 500, times=100)
    env = pyannote_env(pyannote, DIARFLOW_STEP_ATTEMPTS="1", DIARFLOW_HTTP_ATTEMPTS="2")
    done = run_pyannote(tmp_path / "store", sample_files, env)
    assert done.returncode == 0, done.stderr
    result = PipelineResult.model_validate_json(done.stdout)
    assert (result.status, result.source) == ("partial", "deepgram_fallback")
    errors = get_json(LocalStore(tmp_path / "store"), keys.error_key("E1"))["errors"]
    assert errors[0]["step"] == "pyannote-submit-v1"
    assert "server error (500)" in errors[0]["message"]
    assert errors[0]["retryable"] is True


def test_wrong_key_falls_back_with_a_clear_message(tmp_path, sample_files, pyannote):
    env = pyannote_env(pyannote, PYANNOTEAI_API_KEY="pk-wrong-but-long-enough-0001")
    done = run_pyannote(tmp_path / "store", sample_files, env)
    assert done.returncode == 0, done.stderr
    errors = get_json(LocalStore(tmp_path / "store"), keys.error_key("E1"))["errors"]
    assert errors[0]["message"].startswith("pyannoteAI rejected the API key (PYANNOTEAI_API_KEY)")
    assert "pk-wrong-but-long-enough-0001" not in done.stderr + done.stdout + str(errors)


def test_an_api_error_keeps_its_request_id_in_the_error_record_and_artifact(tmp_path, sample_files, pyannote):
    # 402 answers the OpenAPI's ApiError {requestId, message}; the key echoed in the message must not survive.
    body = {"requestId": "37a4c3a0-b034-4e8c-9ed9-76da6645544a", "message": f"No credit left for {pyannote.api_key}"}
    pyannote.fail_next("POST", "^/v1/diarize$", 402, body=body)
    done = run_pyannote(tmp_path / "store", sample_files, pyannote_env(pyannote))
    assert done.returncode == 0, done.stderr
    assert PipelineResult.model_validate_json(done.stdout).source == "deepgram_fallback"
    stored = (tmp_path / "store" / keys.error_key("E1")).read_text()
    [record] = ErrorArtifact.model_validate_json(stored).errors
    assert (record.step, record.type, record.retryable) == ("pyannote-submit-v1", "RemotePaymentRequired", False)
    assert record.request_id == "37a4c3a0-b034-4e8c-9ed9-76da6645544a"
    assert "payment required (402) [request id 37a4c3a0-b034-4e8c-9ed9-76da6645544a]: No credit left for ***" in (
        record.message
    )
    assert pyannote.api_key not in stored + done.stdout + done.stderr


def test_a_job_that_never_finishes_times_out_and_falls_back(tmp_path, sample_files, pyannote):
    pyannote.job_statuses = ["running"]
    done = run_pyannote(tmp_path / "store", sample_files, pyannote_env(pyannote, PYANNOTEAI_MAX_WAIT="0.05"))
    assert done.returncode == 0, done.stderr
    assert PipelineResult.model_validate_json(done.stdout).source == "deepgram_fallback"
    errors = get_json(LocalStore(tmp_path / "store"), keys.error_key("E1"))["errors"]
    assert errors[0]["type"] == "PyannoteJobTimeout"
    assert "PYANNOTEAI_MAX_WAIT" in errors[0]["message"]


def test_output_deleted_before_collection_resubmits(tmp_path, sample_files, pyannote):
    pyannote.expire_after_polls[pyannote.job_id(1)] = 3  # gone right after the third poll said succeeded
    done = run_pyannote(tmp_path / "store", sample_files, pyannote_env(pyannote))
    assert done.returncode == 0, done.stderr
    result = PipelineResult.model_validate_json(done.stdout)
    assert (result.status, result.source) == ("completed", "pyannote")
    assert len(pyannote.jobs) == 2
    raw = get_json(LocalStore(tmp_path / "store"), keys.diarization_key("E1"))
    assert raw["job_id"] == pyannote.job_id(2)
    assert "pyannote-submit-v1.r2" in done.stderr


# --- the webhook path: an engine that can wait for events -----------------------------------------


class EventSteps:
    """A minimal event-capable engine: runs steps inline; waits see events the webhook endpoint emitted."""

    def __init__(self, inbox: list[dict[str, Any]]) -> None:
        self.inbox = inbox
        self.calls: list[tuple[str, str]] = []
        self.sent: list[dict[str, Any]] = []

    def run(self, step: Step[ArgsT, ResultT], ws: Workspace, args: ArgsT) -> ResultT:
        self.calls.append(("run", step.name))
        from diarflow.errors import DiarflowError, StepFailed

        try:
            return step.call(ws, args.model_dump(mode="json"))
        except DiarflowError as exc:
            raise StepFailed(step.name, exc.type_name, exc.message, retryable=exc.retryable, attempt=1) from None

    def sleep(self, name: str, seconds: float) -> None:
        self.calls.append(("sleep", name))

    def send_event(self, name: str, events: list[dict[str, Any]]) -> None:
        self.sent += events

    def wait_for_event(
        self, name: str, *, event: str, if_expression: str, timeout_seconds: float
    ) -> dict[str, Any] | None:
        self.calls.append(("wait", name))
        deadline = time.monotonic() + min(timeout_seconds, 5.0)
        while time.monotonic() < deadline:
            for candidate in self.inbox:
                if candidate["name"] == event and f'"{candidate["data"]["job_id"]}"' in if_expression:
                    return candidate
            time.sleep(0.01)
        return None


@pytest.fixture
def webhook_service() -> Iterator[tuple[FakeServer, list[dict[str, Any]]]]:
    """Our HTTP service's webhook route, run by the real handler."""
    from diarflow.adapters.pyannote import ReplayGuard, handle_webhook

    inbox: list[dict[str, Any]] = []
    guard = ReplayGuard()

    def endpoint(request: Request) -> Response:
        if request.path != WEBHOOK_PATH:
            return Response(404)
        result = handle_webhook(request.headers, request.body, secret=WEBHOOK_SECRET, guard=guard)
        if result.event is not None:
            inbox.append(result.event)
        return Response.json(result.body, result.status)

    with FakeServer(endpoint) as server:
        yield server, inbox


def test_webhook_flow_waits_for_the_event_instead_of_sleeping(
    tmp_path, sample_files, pyannote, webhook_service, caplog
):
    caplog.set_level(logging.DEBUG)
    server, inbox = webhook_service
    pyannote.job_statuses = ["pending", "succeeded"]  # the webhook thread finishes the job…
    pyannote.webhook_delay = 0.4  # …after the first poll has seen it pending
    settings = Settings.from_env(
        {
            "PYANNOTEAI_API_KEY": PYANNOTE_KEY,
            "PYANNOTEAI_API_URL": pyannote.url,
            "DIARFLOW_PUBLIC_URL": server.url,
            "PYANNOTEAI_WEBHOOK_SECRET": WEBHOOK_SECRET,
        }
    )
    ws = Workspace(store=LocalStore(tmp_path / "store"), settings=settings)
    transcript_key = ingest_transcript(ws, "E1", sample_files[0].read_bytes())
    request = DiarizeRequested(episode_id="E1", transcript_key=transcript_key, audio_url="https://cdn.example/e1.wav")
    steps = EventSteps(inbox)
    result = diarize_episode(steps, ws, request, RunOptions(diarizer="pyannote"))
    assert (result.status, result.source) == ("completed", "pyannote")
    sent = pyannote.jobs[pyannote.job_id(1)].request
    assert sent["webhook"] == server.url + WEBHOOK_PATH
    assert sent["webhookStatusOnly"] is True
    assert inbox[0]["data"] == {"job_id": pyannote.job_id(1), "status": "succeeded"}
    flow = [c for c in steps.calls if "pyannote" in c[1]]
    assert flow == [
        ("run", "pyannote-submit-v1"),
        ("run", "pyannote-poll-v1.1"),
        ("wait", "pyannote-wait-v1.1"),
        ("run", "pyannote-poll-v1.2"),
        ("run", "pyannote-collect-v1"),
    ]
    Collected.texts.append(caplog.text)
    Collected.texts += [p.read_text() for p in (tmp_path / "store").rglob("*") if p.is_file()]


# --- Deepgram transcription -----------------------------------------------------------------------


def deepgram_env(fake: FakeDeepgram, **extra: str) -> dict[str, str]:
    return {"DEEPGRAM_API_KEY": fake.api_key, "DEEPGRAM_API_URL": fake.url, **extra}


def test_transcribe_command_stores_the_raw_response_and_reports_stats(tmp_path, sample_files, deepgram):
    store = tmp_path / "store"
    args = ["transcribe", "--episode-id", "E2", "--audio", str(sample_files[1]), "--store", str(store)]
    done = diarflow(*args, env=deepgram_env(deepgram))
    assert done.returncode == 0, done.stderr
    result = orjson.loads(done.stdout)
    assert result == {
        "episode_id": "E2",
        "transcript_key": "transcripts/E2/deepgram.json",
        "stats": {"words": 81, "duration": 30.0},
    }
    stored = LocalStore(store).get_bytes("transcripts/E2/deepgram.json")
    assert orjson.loads(stored)["results"] == deepgram.transcript["results"]
    assert deepgram.requests[0].headers["content-type"] == "audio/wav"
    assert deepgram.requests[0].body == sample_files[1].read_bytes()
    assert "episode.transcribed.deepgram.completed" in done.stderr


def test_malformed_deepgram_response_fails_clearly_and_keeps_the_old_transcript(tmp_path, sample_files, deepgram):
    store = tmp_path / "store"
    LocalStore(store).put_bytes("transcripts/E2/deepgram.json", b'{"previous": true}')
    deepgram.fail_next(Response(200, b'{"metadata": {"request_id": "r-1"}}', {"Content-Type": "application/json"}))
    args = ["transcribe", "--episode-id", "E2", "--audio", "https://cdn.example/e2.mp3", "--store", str(store)]
    done = diarflow(*args, env=deepgram_env(deepgram, DIARFLOW_STEP_ATTEMPTS="1"))
    assert done.returncode == 1
    assert "without results.channels" in done.stderr
    assert "request_id r-1" in done.stderr
    assert "Traceback" not in done.stderr
    assert LocalStore(store).get_bytes("transcripts/E2/deepgram.json") == b'{"previous": true}'


def test_transcribe_without_a_key_says_which_variable(tmp_path, sample_files):
    done = diarflow("transcribe", "--episode-id", "E2", "--audio", str(sample_files[1]), env={})
    assert done.returncode == 2
    assert "DEEPGRAM_API_KEY" in done.stderr


def test_run_without_transcript_transcribes_then_diarizes(tmp_path, sample_files, deepgram, pyannote):
    store = tmp_path / "store"
    args = ["run", "--episode-id", "E3", "--audio", str(sample_files[1]), "--store", str(store)]
    done = diarflow(*args, "--diarizer", "pyannote", env={**deepgram_env(deepgram), **pyannote_env(pyannote)})
    assert done.returncode == 0, done.stderr
    result = PipelineResult.model_validate_json(done.stdout)
    assert (result.status, result.source) == ("completed", "pyannote")
    assert result.stats.num_words == 81
    assert "transcribe-deepgram-v1" in done.stderr
    assert LocalStore(store).exists("transcripts/E3/deepgram.json")


# --- secrets ----------------------------------------------------------------------------------------


def test_no_secret_appears_in_any_log_or_artifact(tmp_path, sample_files, pyannote, deepgram):
    """Runs a success and a failure of every flow, then scans all output and every stored file."""
    store = tmp_path / "store"
    env = {**deepgram_env(deepgram), **pyannote_env(pyannote), "PYANNOTEAI_WEBHOOK_SECRET": WEBHOOK_SECRET}
    run_args = ["run", "--episode-id", "S1", "--audio", str(sample_files[1]), "--store", str(store)]
    assert diarflow(*run_args, "--diarizer", "pyannote", env=env).returncode == 0
    pyannote.fail_next("PUT", "^/storage/", 403, body=b"<Error>AccessDenied</Error>", times=10)
    deepgram.fail_next(Response.json({"err_code": "INVALID_AUTH", "err_msg": "Invalid credentials."}, 401))
    failing = ["run", "--episode-id", "S2", "--audio", str(sample_files[1]), "--store", str(store), "--force"]
    diarflow(*failing, "--diarizer", "pyannote", env=env)
    diarflow(*failing[:5], "--transcript", str(sample_files[0]), *failing[5:], "--diarizer", "pyannote", env=env)
    scanned = list(Collected.texts)
    scanned += [p.read_bytes().decode("utf-8", "replace") for p in store.rglob("*") if p.is_file()]
    assert len(scanned) > 20
    assert any("pyannote-collect-v1" in text for text in scanned)  # the scan saw real flows
    for secret in SECRETS:
        leaks = [text[max(0, text.find(secret) - 80) : text.find(secret) + 80] for text in scanned if secret in text]
        assert not leaks, f"secret leaked: {leaks[:2]}"


def test_polling_a_long_job_stays_far_below_inngest_step_limit(tmp_path):
    """Four hours of polling (the default max wait) from a 10 s interval: the interval grows, steps stay few."""
    from diarflow.errors import StepFailed
    from diarflow.orchestration.pyannote_flow import wait_for_job

    class Counting:
        def __init__(self) -> None:
            self.steps = 0
            self.slept = 0.0

        def run(self, step: Step[ArgsT, ResultT], ws: Workspace, args: ArgsT) -> ResultT:
            self.steps += 1
            return step.result.model_validate({"job_id": "job-1", "status": "running"})

        def sleep(self, name: str, seconds: float) -> None:
            self.steps += 1
            self.slept += seconds

    ws = Workspace(store=LocalStore(tmp_path), settings=Settings.from_env({}))
    steps = Counting()
    with pytest.raises(StepFailed) as caught:
        wait_for_job(steps, ws, "job-1", use_webhook=False)  # type: ignore[arg-type]
    assert caught.value.error_type == "PyannoteJobTimeout"
    assert steps.slept == pytest.approx(4 * 3600)
    assert steps.steps < 150  # Inngest allows 1000 per function, and the rest of the pipeline needs a few
