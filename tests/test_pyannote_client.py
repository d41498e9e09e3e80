"""The pyannoteAI client over real HTTP against the fake API on loopback."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from diarflow.adapters.http import (
    RemoteAuthenticationFailed,
    RemotePaymentRequired,
    RemoteRateLimited,
    RemoteRequestRejected,
    RetryPolicy,
    Timeouts,
)
from diarflow.adapters.pyannote import (
    MAX_FILE_BYTES,
    Job,
    JobFailed,
    JobNotFound,
    JobOutputMissing,
    PyannoteClient,
    check_audio_limits,
    diarizer_output,
    identification_output,
    score_to_probability,
)
from diarflow.errors import InvalidInput, RemoteResponseInvalid, RemoteServiceError, RemoteServiceUnavailable
from tests.fakes.pyannote import API_KEY, UPLOAD_SIGNATURE, FakePyannote


class RecordedSleeps(list[float]):
    """Stands in for ``time.sleep``: records each requested delay without waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def fake() -> Iterator[FakePyannote]:
    with FakePyannote() as server:
        yield server


@pytest.fixture
def sleeps() -> RecordedSleeps:
    return RecordedSleeps()


def make_client(fake: FakePyannote, sleeps: RecordedSleeps, *, key: str = API_KEY, read: float = 2.0) -> PyannoteClient:
    retry = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, sleep=sleeps, rng=lambda: 0.5)
    return PyannoteClient(key, base_url=fake.url, timeouts=Timeouts(connect=1, read=read, write=2, pool=1), retry=retry)


def poll_to_end(client: PyannoteClient, job_id: str) -> list[str]:
    seen = []
    for _ in range(10):
        job = client.get_job(job_id)
        seen.append(job.status)
        if job.finished:
            break
    return seen


def test_diarize_job_goes_pending_running_succeeded_with_confidences_in_unit_range(fake, sleeps):
    with make_client(fake, sleeps) as client:
        created = client.diarize("https://example.com/episode.mp3", num_speakers=2)
        assert created.status == "created"
        assert poll_to_end(client, created.job_id) == ["pending", "running", "succeeded"]
        job = client.get_job(created.job_id)
    sent = fake.requests[0]
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert sent.json() == {
        "url": "https://example.com/episode.mp3",
        "model": "precision-2",
        "numSpeakers": 2,
        "turnLevelConfidence": True,
        "exclusive": True,
    }
    output = diarizer_output(job, model="precision-2")
    assert output.job_id == created.job_id
    assert output.turns.speaker_names == ("SPEAKER_00", "SPEAKER_01")
    assert output.turns.confidences.tolist() == [0.9, 0.89, 0.88]  # 90, 89, 88 on the API's 0–100 scale
    assert output.exclusive is not None
    assert output.exclusive.ends.tolist() == [3.5, 8.0, 12.0]  # no overlap: one speaker at a time


def test_sample_level_confidence_is_used_when_turn_level_is_absent(fake, sleeps):
    with make_client(fake, sleeps) as client:
        created = client.diarize("https://example.com/a.wav", turn_level_confidence=False, confidence=True)
        poll_to_end(client, created.job_id)
        output = diarizer_output(client.get_job(created.job_id))
    assert output.turns.confidences.tolist() == pytest.approx([0.8, 0.8, 0.8])


def test_scores_map_to_unit_interval():
    assert score_to_probability(0) == 0.0
    assert score_to_probability(100) == 1.0
    assert score_to_probability(93) == pytest.approx(0.93)
    assert score_to_probability(120) == 1.0  # clamped, never outside [0, 1]
    assert score_to_probability(None) is None
    assert score_to_probability(math.nan) is None


@pytest.mark.parametrize("outcome", ["failed", "canceled"])
def test_failed_and_canceled_jobs_raise_job_failed_with_reason(fake, sleeps, outcome):
    fake.job_statuses = ["pending", outcome]
    with make_client(fake, sleeps) as client:
        created = client.diarize("https://example.com/a.wav")
        assert poll_to_end(client, created.job_id) == ["pending", outcome]
        with pytest.raises(JobFailed) as caught:
            diarizer_output(client.get_job(created.job_id))
    assert caught.value.status == outcome
    assert outcome in str(caught.value)
    if outcome == "failed":
        assert "Could not load audio" in str(caught.value)


def test_429_honours_retry_after_then_succeeds(fake, sleeps):
    fake.rate_limit_next("^/v1/diarize$", retry_after=2)
    with make_client(fake, sleeps) as client:
        created = client.diarize("https://example.com/a.wav")
    assert created.job_id
    assert len(sleeps) == 1
    assert 2.0 <= sleeps[0] <= 2.2  # Retry-After plus at most 10% jitter
    assert [r.path for r in fake.requests] == ["/v1/diarize", "/v1/diarize"]


def test_429_without_retry_after_uses_rate_limit_reset(fake, sleeps):
    import time

    fake.fail_next("GET", "^/v1/jobs/", 429, headers={"X-RateLimit-Reset": str(int(time.time()) + 3)}, times=1)
    with make_client(fake, sleeps) as client:
        created = client.diarize("https://example.com/a.wav")
        assert client.get_job(created.job_id).status == "pending"
    assert 1.5 <= sleeps[0] <= 3.5


def test_429_longer_than_we_wait_in_a_step_is_handed_back(fake, sleeps):
    fake.rate_limit_next("^/v1/diarize$", retry_after=3600)
    with make_client(fake, sleeps) as client, pytest.raises(RemoteRateLimited) as caught:
        client.diarize("https://example.com/a.wav")
    assert caught.value.retryable
    assert caught.value.retry_after == pytest.approx(3600)
    assert sleeps == []


def test_500_then_success_is_retried_with_backoff(fake, sleeps):
    fake.fail_next("GET", "^/v1/jobs/", 500, times=2)
    with make_client(fake, sleeps) as client:
        created = client.diarize("https://example.com/a.wav")
        assert client.get_job(created.job_id).status == "pending"
    assert sleeps == [pytest.approx(0.005), pytest.approx(0.01)]  # 0.01·2^n·jitter(0.5): exponential


def test_5xx_exhausting_retries_is_retryable_and_says_so(fake, sleeps):
    fake.fail_next("GET", "^/v1/jobs/", 503, times=5)
    with make_client(fake, sleeps) as client, pytest.raises(RemoteServiceUnavailable) as caught:
        client.get_job("00000000-0000-0000-0000-000000000001")
    assert caught.value.retryable
    assert "503" in str(caught.value)
    assert "gave up after 3 attempts" in str(caught.value)


def test_a_hung_server_times_out(fake, sleeps):
    fake.fail_next("GET", "^/v1/jobs/", 200, hang=5.0, times=5)
    with make_client(fake, sleeps, read=0.2) as client, pytest.raises(RemoteServiceUnavailable) as caught:
        client.get_job("00000000-0000-0000-0000-000000000001")
    assert "did not answer within 0.2s" in str(caught.value)
    assert len(sleeps) == 2  # GET is idempotent: retried, then given up


def test_a_hung_job_submission_is_not_resent(fake, sleeps):
    fake.fail_next("POST", "^/v1/diarize$", 200, hang=5.0)
    with make_client(fake, sleeps, read=0.2) as client, pytest.raises(RemoteServiceUnavailable):
        client.diarize("https://example.com/a.wav")
    # The server may have accepted a paid job: the client must not submit it twice on its own.
    assert [r.path for r in fake.requests] == ["/v1/diarize"]


def test_401_is_a_clear_error_without_the_key(fake, sleeps, caplog):
    caplog.set_level(logging.DEBUG)
    with (
        make_client(fake, sleeps, key="pk-wrong-key-value-123456") as client,
        pytest.raises(RemoteAuthenticationFailed) as caught,
    ):
        client.diarize("https://example.com/a.wav")
    message = str(caught.value)
    assert message.startswith("pyannoteAI rejected the API key (PYANNOTEAI_API_KEY)")
    assert "pk-wrong-key-value-123456" not in message
    assert "pk-wrong-key-value-123456" not in caplog.text
    assert not caught.value.retryable
    assert len(fake.requests) == 1
    assert sleeps == []


def test_402_and_400_are_not_retried_and_name_the_fields(fake, sleeps):
    fake.fail_next("POST", "^/v1/diarize$", 402)
    with make_client(fake, sleeps) as client:
        with pytest.raises(RemotePaymentRequired, match="Subscription is required"):
            client.diarize("https://example.com/a.wav")
        with pytest.raises(RemoteRequestRejected) as caught:
            client.diarize("ftp://example.com/a.wav")
    assert caught.value.status_code == 400
    assert "url: url must be a URL address" in str(caught.value)
    assert sleeps == []


def test_speaker_counts_are_checked_before_any_request(fake, sleeps):
    with make_client(fake, sleeps) as client, pytest.raises(InvalidInput, match="min_speakers"):
        client.diarize("https://example.com/a.wav", min_speakers=4, max_speakers=2)
    assert fake.requests == []


def test_upload_flow_streams_a_local_file_and_never_sends_the_key_to_storage(fake, sleeps, tmp_path: Path):
    audio = tmp_path / "episode.wav"
    audio.write_bytes(b"RIFF" + bytes(range(256)) * 9000)  # ~2.3 MB: several upload chunks
    with make_client(fake, sleeps) as client:
        url = client.audio_url(str(audio), episode_id="EP1", duration=60.0)
        created = client.diarize(url)
    assert url == "media://diarflow/EP1/audio.wav"
    assert fake.uploads["diarflow/EP1/audio.wav"] == audio.read_bytes()
    media_input, put, diarize = fake.requests
    assert media_input.json() == {"url": "media://diarflow/EP1/audio.wav"}
    assert put.method == "PUT"
    assert "authorization" not in put.headers
    assert put.headers["content-length"] == str(audio.stat().st_size)
    assert diarize.json()["url"] == "media://diarflow/EP1/audio.wav"
    assert created.job_id


def test_upload_failure_message_hides_the_presigned_url(fake, sleeps, tmp_path: Path):
    audio = tmp_path / "a.mp3"
    audio.write_bytes(b"ID3" + b"\0" * 100)
    fake.fail_next("PUT", "^/storage/", 403, body=b"<Error><Code>AccessDenied</Code></Error>")
    with make_client(fake, sleeps) as client, pytest.raises(RemoteServiceError) as caught:
        client.audio_url(str(audio), episode_id="EP1")
    assert UPLOAD_SIGNATURE not in str(caught.value)
    assert "X-Amz" not in str(caught.value)


def test_limits_are_refused_before_any_upload(fake, sleeps, tmp_path: Path):
    with pytest.raises(InvalidInput, match="up to 24 h"):
        check_audio_limits(size_bytes=10, duration=24 * 3600 + 1)
    with pytest.raises(InvalidInput, match="up to 1 GiB"):
        check_audio_limits(size_bytes=MAX_FILE_BYTES + 1, duration=None)
    big = tmp_path / "big.wav"
    with big.open("wb") as handle:  # sparse: 1 GiB + 1 byte without writing it
        handle.truncate(MAX_FILE_BYTES + 1)
    with make_client(fake, sleeps) as client:
        with pytest.raises(InvalidInput, match="1 GiB"):
            client.audio_url(str(big), episode_id="EP1")
        with pytest.raises(InvalidInput, match="24 h"):
            client.audio_url("https://example.com/long.mp3", episode_id="EP1", duration=90_000)
    assert fake.requests == []


def test_expired_output_is_reported_as_gone(fake, sleeps):
    with make_client(fake, sleeps) as client:
        first = client.diarize("https://example.com/a.wav")
        poll_to_end(client, first.job_id)
        fake.expire(first.job_id, "404")
        with pytest.raises(JobNotFound, match="deleted 24 h after completion"):
            client.get_job(first.job_id)
        second = client.diarize("https://example.com/a.wav")
        poll_to_end(client, second.job_id)
        fake.expire(second.job_id, "no_output")
        with pytest.raises(JobOutputMissing, match="submit the job again"):
            diarizer_output(client.get_job(second.job_id))


def test_identify_and_voiceprint_bodies(fake, sleeps):
    with make_client(fake, sleeps) as client:
        vp = client.voiceprint("https://example.com/host.wav")
        poll_to_end(client, vp.job_id)
        voiceprint = client.get_job(vp.job_id).output
        assert voiceprint is not None
        assert voiceprint.voiceprint
        ident = client.identify("https://example.com/a.wav", [("Host", voiceprint.voiceprint)], threshold=50)
        assert ident.job_id
        with pytest.raises(InvalidInput, match="SPEAKER_"):
            client.identify("https://example.com/a.wav", [("SPEAKER_00", "x")])
    assert fake.requests[0].json() == {"url": "https://example.com/host.wav", "model": "precision-2"}
    body = fake.requests[-1].json()
    assert body["voiceprints"] == [{"label": "Host", "voiceprint": voiceprint.voiceprint}]
    assert body["matching"] == {"exclusive": True, "threshold": 50.0}


def test_test_key(fake, sleeps):
    with make_client(fake, sleeps) as client:
        client.test_key()
    with make_client(fake, sleeps, key="nope-nope") as client, pytest.raises(RemoteAuthenticationFailed):
        client.test_key()


def test_connection_refused_is_retryable(sleeps):
    retry = RetryPolicy(attempts=2, base_delay=0.01, sleep=sleeps)
    with (
        PyannoteClient(API_KEY, base_url="http://127.0.0.1:9", retry=retry) as client,
        pytest.raises(RemoteServiceUnavailable, match="could not reach"),
    ):
        client.get_job("job-1")
    assert len(sleeps) == 1


# --- /v1/identify output, read as the OpenAPI documents it -------------------------------------

LABELS = {"vp1": "host-id", "vp2": "guest-id"}


def identify_to_end(fake: FakePyannote, sleeps: RecordedSleeps, **kwargs) -> Job:
    with make_client(fake, sleeps) as client:
        created = client.identify("https://example.com/a.wav", [("vp1", "VP-HOST"), ("vp2", "VP-GUEST")], **kwargs)
        poll_to_end(client, created.job_id)
        return client.get_job(created.job_id)


def test_identification_segments_are_read_with_their_confidences(fake, sleeps):
    job = identify_to_end(fake, sleeps, threshold=50)
    matches, segments = identification_output(job, LABELS)
    # voiceprints[]: per speaker, the matched voiceprint id and every score in [0, 1].
    assert matches == [
        {"speaker": "SPEAKER_00", "match": "host-id", "scores": {"host-id": 0.9, "guest-id": 0.2}},
        {"speaker": "SPEAKER_01", "match": "guest-id", "scores": {"host-id": 0.2, "guest-id": 0.9}},
    ]
    # identification[]: one per turn, its own turn-level confidence (0-100 on the wire) scaled to [0, 1].
    assert segments == [
        {"speaker": "SPEAKER_00", "start": 0.5, "end": 4.0, "match": "host-id", "confidence": 0.9},
        {"speaker": "SPEAKER_01", "start": 3.5, "end": 8.0, "match": "guest-id", "confidence": 0.89},
        {"speaker": "SPEAKER_00", "start": 8.2, "end": 12.0, "match": "host-id", "confidence": 0.88},
    ]
    wire = fake.jobs[job.job_id].output
    assert wire is not None
    assert wire["identification"][1]["confidence"] == {"SPEAKER_00": 10, "SPEAKER_01": 89}


def test_below_the_threshold_turns_match_nothing_but_voiceprints_still_name_the_best(fake, sleeps):
    fake.voiceprint_scores = {"SPEAKER_00": [40, 10], "SPEAKER_01": [12, 35]}
    job = identify_to_end(fake, sleeps, threshold=50)
    matches, segments = identification_output(job, LABELS)
    assert [m["match"] for m in matches] == ["host-id", "guest-id"]  # documented non-null
    assert {s["match"] for s in segments} == {None}
    assert all(s["confidence"] is not None for s in segments)


def test_a_null_match_in_voiceprints_is_refused_naming_the_field(fake, sleeps):
    job = identify_to_end(fake, sleeps)
    output = fake.jobs[job.job_id].output
    assert output is not None
    output["voiceprints"][1]["match"] = None
    with make_client(fake, sleeps) as client, pytest.raises(RemoteResponseInvalid) as caught:
        client.get_job(job.job_id)
    assert "output.voiceprints[1].match" in str(caught.value)


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda o: o["identification"][0].pop("diarizationSpeaker"), "output.identification[0].diarizationSpeaker"),
        (lambda o: o["identification"][2].pop("match"), "output.identification[2].match"),
        (lambda o: o["voiceprints"][0].pop("confidence"), "output.voiceprints[0].confidence"),
        (lambda o: o["identification"][1].update(start="soon"), "output.identification[1].start"),
    ],
)
def test_a_malformed_identification_names_the_field(fake, sleeps, edit, field):
    job = identify_to_end(fake, sleeps)
    edit(fake.jobs[job.job_id].output)
    with make_client(fake, sleeps) as client, pytest.raises(RemoteResponseInvalid) as caught:
        client.get_job(job.job_id)
    assert field in str(caught.value)
    assert API_KEY not in str(caught.value)


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda o: o["voiceprints"][0].update(match="vp9"), "output.voiceprints[0].match"),
        (lambda o: o["voiceprints"][1].update(speaker="SPEAKER_07"), "output.voiceprints[1].speaker"),
        (lambda o: o["identification"][2].update(match="vp2"), "output.identification[2].match"),
        (
            lambda o: o["identification"][0].update(diarizationSpeaker="X"),
            "output.identification[0].diarizationSpeaker",
        ),
        (lambda o: o["identification"][0].update(start=5.0, end=1.0), "output.identification[0].end"),
    ],
)
def test_an_identification_contradicting_the_request_or_itself_names_the_field(fake, sleeps, edit, field):
    job = identify_to_end(fake, sleeps)
    edit(fake.jobs[job.job_id].output)
    with make_client(fake, sleeps) as client:
        job = client.get_job(job.job_id)
    with pytest.raises(RemoteResponseInvalid) as caught:
        identification_output(job, LABELS)
    assert field in str(caught.value)


# --- request ids of error answers ---------------------------------------------------------------


def test_the_request_id_of_an_api_error_is_kept(fake, sleeps):
    fake.fail_next("POST", "^/v1/identify$", 402, body={"requestId": "37a4c3a0-b034-4e8c", "message": "No credit"})
    with make_client(fake, sleeps) as client, pytest.raises(RemotePaymentRequired) as caught:
        client.identify("https://example.com/a.wav", [("vp1", "VP")])
    assert caught.value.request_id == "37a4c3a0-b034-4e8c"
    assert "payment required (402) [request id 37a4c3a0-b034-4e8c]: No credit" in str(caught.value)


def test_a_rate_limit_that_outlasts_the_retries_keeps_the_last_request_id(fake, sleeps):
    for n in range(3):
        fake.fail_next(
            "GET", "^/v1/jobs/", 429, headers={"Retry-After": "1"}, body={"requestId": f"r-{n}", "message": "Slow"}
        )
    with make_client(fake, sleeps) as client, pytest.raises(RemoteRateLimited) as caught:
        client.get_job("job-1")
    assert caught.value.request_id == "r-2"
    assert "[request id r-2]" in str(caught.value)
    assert "gave up after 3 attempts" in str(caught.value)


def test_a_validation_error_has_no_request_id(fake, sleeps):
    with make_client(fake, sleeps) as client, pytest.raises(RemoteRequestRejected) as caught:
        client.diarize("ftp://example.com/a.wav")
    assert caught.value.request_id is None
    assert "request id" not in str(caught.value)


@pytest.mark.parametrize("request_id", [API_KEY, f"x-{API_KEY}", "a b", "<script>", "x" * 200, 42])
def test_a_request_id_holding_the_key_or_odd_text_is_dropped(fake, sleeps, request_id):
    fake.fail_next("POST", "^/v1/diarize$", 402, body={"requestId": request_id, "message": "No credit"})
    with make_client(fake, sleeps) as client, pytest.raises(RemotePaymentRequired) as caught:
        client.diarize("https://example.com/a.wav")
    assert caught.value.request_id is None
    assert API_KEY not in str(caught.value)
    assert "request id" not in str(caught.value)
