"""The Deepgram client over real HTTP against the fake ``/v1/listen`` on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from diarflow.adapters.deepgram import DEFAULT_PARAMS, DeepgramClient, audio_content_type
from diarflow.adapters.http import RemoteAuthenticationFailed, RemoteResponseInvalid, RetryPolicy
from diarflow.errors import InvalidInput, RemoteServiceUnavailable
from tests.fakes.deepgram import API_KEY, FakeDeepgram
from tests.fakes.server import Response


class RecordedSleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def fake() -> Iterator[FakeDeepgram]:
    with FakeDeepgram() as server:
        yield server


@pytest.fixture
def sleeps() -> RecordedSleeps:
    return RecordedSleeps()


def make_client(fake: FakeDeepgram, sleeps: RecordedSleeps, *, key: str = API_KEY, timeout: float = 5.0):
    retry = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, sleep=sleeps, rng=lambda: 0.5)
    return DeepgramClient(key, base_url=fake.url, timeout=timeout, connect_timeout=1.0, retry=retry)


def test_remote_url_is_sent_as_json_with_the_documented_query(fake, sleeps):
    with make_client(fake, sleeps) as client:
        result = client.transcribe("https://example.com/episode.mp3")
    request = fake.requests[0]
    assert request.path == "/v1/listen"
    assert {k: v[0] for k, v in request.query.items()} == dict(DEFAULT_PARAMS)
    assert request.headers["authorization"] == f"Token {API_KEY}"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {"url": "https://example.com/episode.mp3"}
    # The raw response is kept byte for byte; the stats come from it.
    assert orjson.loads(result.body)["metadata"]["request_id"] == result.request_id
    words = orjson.loads(result.body)["results"]["channels"][0]["alternatives"][0]["words"]
    assert result.words == len(words) > 0
    assert result.duration > 0


def test_local_file_is_streamed_with_its_content_type(fake, sleeps, tmp_path: Path):
    audio = tmp_path / "episode.mp3"
    audio.write_bytes(b"ID3" + bytes(range(256)) * 5000)
    with make_client(fake, sleeps) as client:
        result = client.transcribe(audio)
    request = fake.requests[0]
    assert request.headers["content-type"] == "audio/mpeg"
    assert request.headers["content-length"] == str(audio.stat().st_size)
    assert request.body == audio.read_bytes()
    assert result.words > 0


def test_content_types():
    assert audio_content_type(Path("a.m4a")) == "audio/mp4"
    assert audio_content_type(Path("a.WAV")) == "audio/wav"
    assert audio_content_type(Path("a.opus")) == "audio/ogg"
    assert audio_content_type(Path("a.bin")) == "application/octet-stream"


def test_429_then_success(fake, sleeps):
    fake.rate_limit_next(times=2)
    with make_client(fake, sleeps) as client:
        result = client.transcribe("https://example.com/a.mp3")
    assert result.words > 0
    assert len(fake.requests) == 3
    assert len(sleeps) == 2


def test_429_exhausted_is_retryable(fake, sleeps):
    fake.rate_limit_next(times=5)
    with make_client(fake, sleeps) as client, pytest.raises(RemoteServiceUnavailable, match="rate limited") as caught:
        client.transcribe("https://example.com/a.mp3")
    assert caught.value.retryable
    assert "Too many requests" in str(caught.value)


def test_500_then_success_streams_the_file_again(fake, sleeps, tmp_path: Path):
    audio = tmp_path / "a.wav"
    audio.write_bytes(b"RIFF" + b"\1" * 5000)
    fake.fail_next(Response.json({"err_code": "INTERNAL_SERVER_ERROR", "err_msg": "oops", "request_id": "r"}, 500))
    with make_client(fake, sleeps) as client:
        client.transcribe(audio)
    assert [len(r.body) for r in fake.requests] == [5004, 5004]


def test_a_hang_times_out_without_resending(fake, sleeps):
    fake.fail_next(Response(200, b"{}", hang=5.0))
    with (
        make_client(fake, sleeps, timeout=0.3) as client,
        pytest.raises(RemoteServiceUnavailable, match=r"did not answer within 0\.3s"),
    ):
        client.transcribe("https://example.com/a.mp3")
    # Deepgram may still be transcribing (and billing) the first request: the engine's step retry decides.
    assert len(fake.requests) == 1


def test_401_is_clear_and_hides_the_key(fake, sleeps):
    with (
        make_client(fake, sleeps, key="dg-wrong-key-0000000000") as client,
        pytest.raises(RemoteAuthenticationFailed) as caught,
    ):
        client.transcribe("https://example.com/a.mp3")
    assert str(caught.value).startswith("Deepgram rejected the API key (DEEPGRAM_API_KEY)")
    assert "dg-wrong-key" not in str(caught.value)
    assert sleeps == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"metadata": {"request_id": "abc"}, "results": {"chan', "not JSON"),
        (b'{"metadata": {"request_id": "abc"}}', "without results.channels"),
        (
            orjson.dumps(
                {
                    "metadata": {"request_id": "abc", "duration": 3},
                    "results": {"channels": [{"alternatives": [{"words": [{"word": "hi", "start": 2, "end": 1}]}]}]},
                }
            ),
            "is before start",
        ),
    ],
)
def test_malformed_response_is_a_clear_error(fake, sleeps, body, expected):
    fake.fail_next(Response(200, body, {"Content-Type": "application/json"}))
    with make_client(fake, sleeps) as client, pytest.raises(RemoteResponseInvalid, match=expected) as caught:
        client.transcribe("https://example.com/a.mp3")
    assert "nothing was stored" in str(caught.value)
    assert not caught.value.retryable


def test_silent_audio_is_a_transcript_with_no_words(fake, sleeps):
    fake.transcript = {
        "metadata": {"request_id": "x", "duration": 12.5},
        "results": {"channels": [{"alternatives": [{"transcript": "", "words": []}]}]},
    }
    with make_client(fake, sleeps) as client:
        result = client.transcribe("https://example.com/silence.mp3")
    assert (result.words, result.duration) == (0, 12.5)


def test_missing_file_and_key_are_input_errors(fake, sleeps, tmp_path: Path):
    with make_client(fake, sleeps) as client, pytest.raises(InvalidInput, match="not a readable file"):
        client.transcribe(tmp_path / "nope.mp3")
    with pytest.raises(InvalidInput, match="DEEPGRAM_API_KEY"):
        DeepgramClient("")
    assert fake.requests == []
