"""No secret ever reaches a log, an artifact, an event, a result or an exception text.

Recognisable fake keys are set for every credential diarflow knows
(``…-test-FAKE-…``), plus a pre-signed audio URL whose query carries a
credential and a signature. Then every path runs — success, and each kind
of failure: remote APIs refusing the key (and echoing it back), failing,
rate-limiting, failed jobs; invalid input; refused URLs; a busy episode; S3
with a wrong secret and S3 unreachable; webhooks and Inngest requests
forged — in process (logs at DEBUG through ``caplog``, tracebacks included)
and as CLI processes (stderr at DEBUG, stdout). Everything produced is
scanned: log records, stdout/stderr, the result, every event sent, every
exception's ``str``/``repr`` and chained causes, and every byte of every
object the store holds (for a local store, temp files included).
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest

from diarflow.adapters.pyannote import handle_webhook, sign
from diarflow.adapters.stores import LocalStore, ObjectStore, open_store
from diarflow.config import Settings
from diarflow.contracts import DiarizeRequested
from diarflow.contracts.step_args import TranscribeArgs
from diarflow.errors import DiarflowError
from diarflow.orchestration import RunOptions, Workspace, ingest_transcript, run_locally
from diarflow.orchestration.lease import RunLease
from diarflow.orchestration.transcription import transcribe
from diarflow.samples.synthetic import synthetic_deepgram
from tests.episodes import SPEC_TURNS, transcript_from_turns
from tests.fakes.deepgram import FakeDeepgram
from tests.fakes.pyannote import FakePyannote
from tests.fakes.server import Response
from tests.reliability import diarflow_cli, record
from tests.seaweedfs import S3Endpoint

FAKE_KEYS = {
    "PYANNOTEAI_API_KEY": "pk-test-FAKE-pyannote-7f3a91c2",
    "DEEPGRAM_API_KEY": "dg-test-FAKE-deepgram-52be07d4",
    "PYANNOTEAI_WEBHOOK_SECRET": "whs-test-FAKE-webhook-c0ffee11",
    "INNGEST_EVENT_KEY": "evt-test-FAKE-event-3b9d0a77",
    "INNGEST_SIGNING_KEY": "signkey-test-" + "fa4ec0de" * 8,
}
WRONG_AWS_SECRET = "aws-test-FAKE-wrong-secret-9d8c1e"
PRESIGNED_CREDENTIAL = "cred-test-FAKE-4455aa"
PRESIGNED_SIGNATURE = "sig-test-FAKE-presigned-aa11bb"
AUDIO_URL = (
    "https://cdn.example.com/episodes/ep.mp3?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    f"&X-Amz-Credential={PRESIGNED_CREDENTIAL}&X-Amz-Signature={PRESIGNED_SIGNATURE}"
)


def needles(extra: tuple[str, ...] = ()) -> list[str]:
    """Every secret value, and the forms it could take in text (URL-quoted; the signing key without prefix)."""
    values = [*FAKE_KEYS.values(), FAKE_KEYS["INNGEST_SIGNING_KEY"].split("-", 2)[2]]
    values += [WRONG_AWS_SECRET, PRESIGNED_CREDENTIAL, PRESIGNED_SIGNATURE, *extra]
    return sorted({form for value in values for form in (value, quote(value, safe=""))})


class Evidence:
    """Everything one scenario produced, to be scanned for secrets."""

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}

    def add(self, label: str, value: Any) -> None:
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif not isinstance(value, str):
            value = orjson.dumps(value, default=repr).decode()
        self.texts[f"{label}#{len(self.texts)}"] = value

    def add_exception(self, label: str, exc: BaseException) -> None:
        chain: BaseException | None = exc
        while chain is not None:
            self.add(label, f"{chain!s}\n{chain!r}\n{getattr(chain, 'message', '')}")
            chain = chain.__cause__ or chain.__context__
        self.add(label + " traceback", "".join(traceback.format_exception(exc)))

    def add_store(self, store: ObjectStore) -> None:
        if isinstance(store, LocalStore):  # raw files, temp files included
            for path in sorted(store.root.rglob("*")):
                if path.is_file():
                    self.add(f"file {path.relative_to(store.root)}", path.read_bytes())
        else:
            for key in store.list(""):
                self.add(f"object {key}", store.get_bytes(key))

    def add_logs(self, caplog: pytest.LogCaptureFixture) -> None:
        formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")
        for record_ in caplog.records:
            self.add("log", formatter.format(record_))
        caplog.clear()

    def scan(self, extra: tuple[str, ...] = ()) -> int:
        """Assert no secret appears anywhere; returns the number of bytes scanned."""
        found = [(label, secret) for label, text in self.texts.items() for secret in needles(extra) if secret in text]
        assert found == [], f"secrets leaked: {found[:5]}"
        return sum(len(text) for text in self.texts.values())


@pytest.fixture
def fake_keys(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in FAKE_KEYS.items():
        monkeypatch.setenv(name, value)
    return FAKE_KEYS


@pytest.fixture
def pyannote() -> Iterator[FakePyannote]:
    with FakePyannote(
        api_key=FAKE_KEYS["PYANNOTEAI_API_KEY"], webhook_secret=FAKE_KEYS["PYANNOTEAI_WEBHOOK_SECRET"]
    ) as fake:
        yield fake


@pytest.fixture
def deepgram() -> Iterator[FakeDeepgram]:
    with FakeDeepgram(api_key=FAKE_KEYS["DEEPGRAM_API_KEY"]) as fake:
        yield fake


def settings_for(pyannote: FakePyannote, deepgram: FakeDeepgram, **extra: str) -> Settings:
    environ = {
        **FAKE_KEYS,
        "PYANNOTEAI_API_URL": pyannote.url,
        "PYANNOTEAI_POLL_INTERVAL": "0.01",
        "DEEPGRAM_API_URL": deepgram.url,
        "DIARFLOW_HTTP_ATTEMPTS": "2",
        "DIARFLOW_HTTP_BACKOFF": "0.01",
        "DIARFLOW_STEP_ATTEMPTS": "2",
        **extra,
    }
    return Settings.from_env(environ)


def echo_key_body() -> dict[str, Any]:
    """A hostile or careless API answer that repeats our credentials back to us."""
    return {
        "message": f"invalid request: key {FAKE_KEYS['PYANNOTEAI_API_KEY']} may not read {AUDIO_URL}",
        "errors": [{"field": "url", "message": f"Authorization: Bearer {FAKE_KEYS['PYANNOTEAI_API_KEY']}"}],
    }


# name -> (diarizer, audio, how to script the fakes before the run)
Script = Callable[[FakePyannote, FakeDeepgram], None]
PIPELINE_PATHS: dict[str, tuple[str, str | None, Script]] = {
    "deepgram fallback, success": ("deepgram", None, lambda p, d: None),
    "pyannoteAI success (presigned audio URL)": ("pyannote", AUDIO_URL, lambda p, d: None),
    "pyannoteAI 401 echoing the key": (
        "pyannote",
        AUDIO_URL,
        lambda p, d: p.fail_next("POST", r"^/v1/diarize$", 401, body=echo_key_body()),
    ),
    "pyannoteAI 400 echoing key and URL": (
        "pyannote",
        AUDIO_URL,
        lambda p, d: p.fail_next("POST", r"^/v1/diarize$", 400, body=echo_key_body()),
    ),
    "pyannoteAI 503 until retries run out": (
        "pyannote",
        AUDIO_URL,
        lambda p, d: p.fail_next("POST", r"^/v1/diarize$", 503, times=10),
    ),
    "pyannoteAI 429 then success": (
        "pyannote",
        AUDIO_URL,
        lambda p, d: p.rate_limit_next(r"^/v1/diarize$", retry_after=0),
    ),
    "pyannoteAI job failed": ("pyannote", AUDIO_URL, lambda p, d: setattr(p, "job_statuses", ["running", "failed"])),
    "pyannoteAI poll 500s": (
        "pyannote",
        AUDIO_URL,
        lambda p, d: p.fail_next("GET", r"^/v1/jobs/", 500, body=echo_key_body(), times=10),
    ),
    "pyannoteAI malformed answer": (
        "pyannote",
        AUDIO_URL,
        lambda p, d: p.fail_next("POST", r"^/v1/diarize$", 200, body=b"{not json " + AUDIO_URL.encode()),
    ),
}


def test_every_pipeline_path_keeps_secrets_out(
    fake_keys: dict[str, str],
    pyannote: FakePyannote,
    deepgram: FakeDeepgram,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    scanned = 0
    for number, (name, (diarizer, audio, script)) in enumerate(PIPELINE_PATHS.items()):
        evidence = Evidence()
        store = LocalStore(tmp_path / f"store-{number}")
        settings = settings_for(pyannote, deepgram)
        ws = Workspace(store=store, settings=settings)
        key = ingest_transcript(ws, "SEC1", orjson.dumps(transcript_from_turns(SPEC_TURNS)))
        script(pyannote, deepgram)
        request = DiarizeRequested(episode_id="SEC1", transcript_key=key, audio_url=audio)
        events: list[Any] = []
        try:
            result, _ = run_locally(
                store, request, RunOptions(diarizer=diarizer), settings=settings, workspace=ws, event_sink=events.extend
            )
            evidence.add("result", result.to_json_dict())
        except DiarflowError as exc:
            evidence.add_exception(name, exc)
        evidence.add("events", events)
        evidence.add_logs(caplog)
        evidence.add_store(store)
        scanned += evidence.scan()
        pyannote.job_statuses = ["pending", "running", "succeeded"]
    assert len(pyannote.requests) > 10  # the paths really talked to the API
    record(
        "secrets: pipeline paths (in process)",
        scenarios=len(PIPELINE_PATHS),
        bytes_scanned=scanned,
        result="none found",
    )


def test_input_errors_busy_episodes_and_transcription_keep_secrets_out(
    fake_keys: dict[str, str],
    pyannote: FakePyannote,
    deepgram: FakeDeepgram,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = settings_for(pyannote, deepgram)
    store = LocalStore(tmp_path / "store")
    ws = Workspace(store=store, settings=settings)
    evidence = Evidence()
    scenarios = 0

    def expect_error(label: str, call: Callable[[], object]) -> None:
        nonlocal scenarios
        scenarios += 1
        with pytest.raises(DiarflowError) as caught:
            call()
        evidence.add_exception(label, caught.value)

    bad_transcript = (
        b'{"results": {"channels": [{"alternatives": [{"words": [{"word": "' + AUDIO_URL.encode() + b'"}]}]}]}}'
    )
    expect_error("invalid transcript", lambda: ingest_transcript(ws, "SEC2", bad_transcript))
    expect_error(
        "oversized transcript",
        lambda: ingest_transcript(
            Workspace(store, Settings.from_env({"DIARFLOW_MAX_TRANSCRIPT_BYTES": "10"})), "SEC2", b"{}" * 10
        ),
    )
    with RunLease(store, "SEC3"):
        key = ingest_transcript(ws, "SEC3", orjson.dumps(transcript_from_turns(SPEC_TURNS)))
        request = DiarizeRequested(episode_id="SEC3", transcript_key=key, audio_url=AUDIO_URL)
        expect_error("episode busy", lambda: run_locally(store, request, settings=settings, workspace=ws))

    # Deepgram: success, a wrong key (401), a server error; the audio URL is presigned.
    scenarios += 1
    evidence.add("transcribe ok", transcribe(ws, TranscribeArgs(episode_id="SEC4", audio=AUDIO_URL)).to_json_dict())
    wrong = Workspace(store, settings_for(pyannote, deepgram, DEEPGRAM_API_KEY="dg-test-FAKE-not-the-right-one"))
    expect_error("deepgram 401", lambda: transcribe(wrong, TranscribeArgs(episode_id="SEC5", audio=AUDIO_URL)))
    deepgram.fail_next(Response.json({"err_msg": f"boom {FAKE_KEYS['DEEPGRAM_API_KEY']}"}, 500), times=5)
    expect_error("deepgram 500", lambda: transcribe(ws, TranscribeArgs(episode_id="SEC6", audio=AUDIO_URL)))

    # Webhooks: forged, stale and valid deliveries; the answers and the event carry no secret.
    secret = FAKE_KEYS["PYANNOTEAI_WEBHOOK_SECRET"]
    body = b'{"jobId": "j1", "status": "succeeded"}'
    stamp = str(int(time.time()))
    for headers in (
        {},
        {"X-Request-Timestamp": stamp, "X-Signature": sign("whs-test-FAKE-other", stamp, body)},
        {"X-Request-Timestamp": "1", "X-Signature": sign(secret, "1", body)},
        {"X-Request-Timestamp": stamp, "X-Signature": sign(secret, stamp, body)},
    ):
        scenarios += 1
        result = handle_webhook(headers, body, secret=secret)
        evidence.add("webhook", {"status": result.status, "body": result.body, "event": result.event})

    evidence.add_logs(caplog)
    evidence.add_store(store)
    scanned = evidence.scan()
    record(
        "secrets: input errors, busy episode, Deepgram, webhooks",
        scenarios=scenarios,
        bytes_scanned=scanned,
        result="none found",
    )


@pytest.mark.s3
def test_s3_with_a_wrong_secret_or_unreachable_keeps_secrets_out(
    fake_keys: dict[str, str],
    seaweedfs: S3Endpoint,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("DIARFLOW_S3_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("DIARFLOW_S3_CONNECT_TIMEOUT", "1")
    evidence = Evidence()
    data = orjson.dumps(transcript_from_turns(SPEC_TURNS))
    endpoints = {
        "wrong secret": {**seaweedfs.env(), "AWS_SECRET_ACCESS_KEY": WRONG_AWS_SECRET},
        "unreachable": {**seaweedfs.env(), "AWS_ENDPOINT_URL": "http://127.0.0.1:9"},
    }
    for label, env in endpoints.items():
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        store = open_store("s3://diarflow-secrets/run")
        settings = Settings.from_env({"DIARFLOW_STEP_ATTEMPTS": "1"})
        with pytest.raises(DiarflowError) as caught:
            ingest_transcript(Workspace(store, settings), "SEC7", data)
        evidence.add_exception(label, caught.value)
        evidence.add("store repr", repr(store))
    evidence.add_logs(caplog)
    scanned = evidence.scan(extra=(seaweedfs.secret_key,))
    record(
        "secrets: S3 wrong secret / unreachable", scenarios=len(endpoints), bytes_scanned=scanned, result="none found"
    )


@pytest.mark.slow
def test_the_command_line_keeps_secrets_out_of_stdout_stderr_and_the_store(
    pyannote: FakePyannote, deepgram: FakeDeepgram, tmp_path: Path
) -> None:
    transcript = tmp_path / "episode.json"
    transcript.write_bytes(orjson.dumps(synthetic_deepgram(num_words=300, num_turns=20, num_speakers=2)))
    env = {
        **FAKE_KEYS,
        "PYANNOTEAI_API_URL": pyannote.url,
        "PYANNOTEAI_POLL_INTERVAL": "0.01",
        "DEEPGRAM_API_URL": deepgram.url,
        "DIARFLOW_HTTP_ATTEMPTS": "2",
        "DIARFLOW_HTTP_BACKOFF": "0.01",
        "DIARFLOW_LOG_LEVEL": "DEBUG",
    }
    store = tmp_path / "store"
    runs: list[tuple[str, list[str], Callable[[], None]]] = [
        (
            "run: pyannoteAI success",
            ["run", "--episode-id", "CLI1", "--transcript", str(transcript), "--audio", AUDIO_URL],
            lambda: None,
        ),
        (
            "run: pyannoteAI 401 echoing the key",
            ["run", "--episode-id", "CLI2", "--transcript", str(transcript), "--audio", AUDIO_URL],
            lambda: pyannote.fail_next("POST", r"^/v1/diarize$", 401, body=echo_key_body()),
        ),
        (
            "run: invalid id",
            ["run", "--episode-id", "../" + FAKE_KEYS["DEEPGRAM_API_KEY"], "--transcript", str(transcript)],
            lambda: None,
        ),
        ("transcribe: success", ["transcribe", "--episode-id", "CLI3", "--audio", AUDIO_URL], lambda: None),
        (
            "transcribe: Deepgram 500 echoing the key",
            ["transcribe", "--episode-id", "CLI4", "--audio", AUDIO_URL],
            lambda: deepgram.fail_next(
                Response.json({"err_msg": f"bad {FAKE_KEYS['DEEPGRAM_API_KEY']}"}, 500), times=5
            ),
        ),
        ("show", ["show", "CLI1"], lambda: None),
        ("export", ["export", "CLI1", "--format", "all"], lambda: None),
    ]
    evidence = Evidence()
    for label, args, script in runs:
        script()
        done = diarflow_cli(*args, "--store", str(store), env=env)
        evidence.add(f"{label} stdout", done.stdout)
        evidence.add(f"{label} stderr", done.stderr)
        assert "Traceback" not in done.stderr, done.stderr
    evidence.add_store(LocalStore(store))
    scanned = evidence.scan()
    assert any("pyannote" in text for text in evidence.texts.values())
    record("secrets: CLI processes at DEBUG", scenarios=len(runs), bytes_scanned=scanned, result="none found")


def test_the_secret_list_is_complete() -> None:
    """Every Secret setting is redacted by name, so a new key cannot be forgotten by the scan above."""
    from diarflow.redaction import SECRET_ENV_VARS

    secret_settings = [name for name, default in Settings.documented() if "KEY" in name or "SECRET" in name]
    assert set(secret_settings) <= set(SECRET_ENV_VARS) | {"AWS_SECRET_ACCESS_KEY"}
    assert set(FAKE_KEYS) <= set(SECRET_ENV_VARS)
    assert os.environ.get("PYANNOTEAI_API_KEY") != FAKE_KEYS["PYANNOTEAI_API_KEY"]  # the fixtures did not leak
