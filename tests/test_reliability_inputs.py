"""Hostile and malformed input: ids that try to escape their prefix, oversized inputs, the audio URL policy.

* Every entry point rejects a bad id before touching the store: a spy store
  records every call and must record none; CLI commands must not even
  create the store directory.
* A transcript over the limit is refused without being read (a 600 MB sparse
  file leaves the process at a few dozen MB); a stored one is refused after a
  HEAD/stat, never downloaded; a diarization over ``DIARFLOW_MAX_SEGMENTS``
  is refused when written and when read.
* ``audio_url``: http(s) and s3 by default; paths and ``file:`` only in local
  runs; loopback, link-local and private addresses refused, literally and
  after DNS, on every redirect too.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from diarflow.adapters import url_policy
from diarflow.adapters.stores import LocalStore, ObjectStore, dump_json
from diarflow.adapters.url_policy import InvalidUrl, UrlPolicy, check_audio_url, check_fetch_target, redirect_guard
from diarflow.config import Settings
from diarflow.contracts import DiarizeRequested, TranscribeRequested, keys, parse_event_data
from diarflow.contracts.results import StoredRef
from diarflow.contracts.step_args import (
    DiarizeArgs,
    EnrichArgs,
    ErrorLogArgs,
    IdentifyArgs,
    InspectArgs,
    TranscribeArgs,
)
from diarflow.errors import InvalidDiarization, InvalidId, InvalidInput, InvalidTranscript
from diarflow.orchestration import (
    LocalRunner,
    RunOptions,
    Workspace,
    diarize_episode,
    ingest_transcript,
    run_locally,
    stages,
)
from diarflow.orchestration.lease import RunLease
from diarflow.orchestration.workspace import digest
from tests.episodes import SPEC_TURNS, transcript_from_turns
from tests.reliability import diarflow_cli, record

HOSTILE_IDS = [
    "../x",
    "a/b",
    "",
    "x" * 1024,
    "Е1",  # Cyrillic capital E
    "ＥＰ1",  # fullwidth letters (NFKC-normalise to "EP1")
    "ep1\u200b",  # zero-width space
    "ep1\n",
    "ep1 ",
    ".",
    "..",
    "-lead",
    "a\\b",
    "%2e%2e",
    "ep1\x00",
    "/abs",
]


class SpyStore:
    """An ObjectStore that records every call (and performs none)."""

    url = "spy://"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            raise AssertionError(f"I/O before validation: {name}{args[:1]}")

        return call


SOME_REF = StoredRef(key="t/k", digest="0" * 24)


def entry_points(bad: str) -> dict[str, Callable[[ObjectStore], object]]:
    """Every way an id reaches the store, from the outside in."""
    request_data = {"episode_id": bad, "transcript_key": "transcripts/E1/deepgram.json"}
    return {
        "event (diarize)": lambda s: parse_event_data(DiarizeRequested, request_data),
        "event (transcribe)": lambda s: parse_event_data(
            TranscribeRequested, {"episode_id": bad, "audio_url": "https://a.example/x.mp3"}
        ),
        "event podcast_id": lambda s: parse_event_data(
            DiarizeRequested, {**request_data, "episode_id": "E1", "podcast_id": bad}
        ),
        "ingest_transcript": lambda s: ingest_transcript(Workspace(store=s), bad, b"{}"),
        "RunLease": lambda s: RunLease(s, bad),
        "LocalRunner": lambda s: LocalRunner(s, bad),
        "inspect-transcript step": lambda s: stages.inspect_transcript(
            Workspace(store=s), InspectArgs(episode_id=bad, transcript_key="transcripts/E1/x")
        ),
        "diarize step": lambda s: stages.diarize(
            "deepgram", Workspace(store=s), DiarizeArgs(episode_id=bad, transcript=SOME_REF)
        ),
        "identify step": lambda s: stages.identify_speakers(
            Workspace(store=s), IdentifyArgs(episode_id=bad, diarization=SOME_REF)
        ),
        "enrich step": lambda s: stages.enrich_transcript(
            Workspace(store=s), EnrichArgs(episode_id=bad, transcript=SOME_REF, diarization=SOME_REF, audit=SOME_REF)
        ),
        "error-log step": lambda s: stages.update_error_log(
            Workspace(store=s), ErrorLogArgs(episode_id=bad, status="failed", errors=[])
        ),
        "voiceprint key (podcast)": lambda s: keys.voiceprint_key(bad, "V1"),
        "voiceprint key (voiceprint)": lambda s: keys.voiceprint_key("P1", bad),
        "checkpoint key (step)": lambda s: keys.checkpoint_key("E1", bad),
    }


def test_hostile_ids_are_rejected_before_any_io() -> None:
    checked = 0
    for bad in HOSTILE_IDS:
        for name, call in entry_points(bad).items():
            spy = SpyStore()
            with pytest.raises(InvalidInput) as caught:
                call(spy)  # type: ignore[arg-type]
            assert spy.calls == [], (name, bad)
            field = caught.value.field
            assert field.endswith(("episode_id", "podcast_id", "voiceprint_id", "step")), (name, field)
            checked += 1
    record("ids rejected before any I/O (in process)", scenarios=checked, ids=len(HOSTILE_IDS), result="pass")


CLI_COMMANDS: list[Callable[[str, str], list[str]]] = [
    lambda bad, store: ["run", "--episode-id", bad, "--transcript", "/dev/null", "--store", store],
    lambda bad, store: ["show", bad, "--store", store],
    lambda bad, store: ["export", bad, "--format", "rttm", "--store", store],
    lambda bad, store: ["report", bad, "--store", store],
    lambda bad, store: ["transcribe", "--episode-id", bad, "--audio", "https://a.example/x.mp3", "--store", store],
]


@pytest.mark.slow
def test_cli_commands_reject_hostile_ids_without_creating_the_store(tmp_path: Path) -> None:
    store = tmp_path / "never-created"
    checked = 0
    for bad in ("../x", "a/b", "x" * 1024, "Е1", "ep1\u200b"):
        for command in CLI_COMMANDS:
            args = command(bad, str(store))
            done = diarflow_cli(*args, env={"DEEPGRAM_API_KEY": "dg-test-FAKE-unused"})
            assert done.returncode == 2, (args, done.stderr)
            assert "is not a valid id" in done.stderr, done.stderr
            assert "Traceback" not in done.stderr
            assert not store.exists()
            checked += 1
    record("ids rejected by every CLI command", scenarios=checked, result="exit 2, store never created")


# --- oversized inputs ---------------------------------------------------------------------------------------


def test_the_transcript_limit_defaults_to_512_mb() -> None:
    assert Settings().max_transcript_bytes == 512 * 1024 * 1024
    assert Settings.from_env({"DIARFLOW_MAX_TRANSCRIPT_BYTES": "1000"}).max_transcript_bytes == 1000


@pytest.mark.slow
def test_a_600_mb_transcript_is_refused_without_being_read(tmp_path: Path) -> None:
    huge = tmp_path / "huge.json"
    with huge.open("wb") as handle:  # sparse: takes no disk, but stat() says 600 MB
        handle.truncate(600 * 1024 * 1024)
    store = tmp_path / "store"
    probe = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "sys.stderr.write(done.stderr)\n"
    )
    args = [sys.executable, "-m", "diarflow", "run", "--episode-id", "BIG1", "--transcript", str(huge)]
    done = subprocess.run(
        [sys.executable, "-c", probe, *args, "--store", str(store), "--diarizer", "deepgram"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    code, max_rss_kb = (int(v) for v in done.stdout.split())
    assert code == 2, done.stderr
    assert "--transcript" in done.stderr
    assert "over the 536,870,912-byte limit" in done.stderr
    assert max_rss_kb < 200 * 1024, f"the run used {max_rss_kb} KB: it read the file"
    record("oversized transcript (600 MB, CLI)", scenarios=1, peak_rss_mb=round(max_rss_kb / 1024), result="exit 2")


class CountingStore:
    """Delegates to a real store and counts reads, to prove an oversized object is never downloaded."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner
        self.url = inner.url
        self.reads: list[str] = []

    def get_bytes(self, key: str) -> bytes:
        self.reads.append(key)
        return self.inner.get_bytes(key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_stored_transcript_over_the_limit_is_refused_without_downloading_it(store: ObjectStore) -> None:
    data = orjson.dumps(transcript_from_turns(SPEC_TURNS, words_per_turn=50))
    key = keys.transcript_key("BIG2")
    store.put_bytes(key, data)
    counting = CountingStore(store)
    ws = Workspace(store=counting, settings=Settings.from_env({"DIARFLOW_MAX_TRANSCRIPT_BYTES": str(len(data) - 1)}))  # type: ignore[arg-type]
    with pytest.raises(InvalidTranscript) as caught:
        stages.inspect_transcript(ws, InspectArgs(episode_id="BIG2", transcript_key=key))
    assert caught.value.field == "transcript"
    assert f"over the {len(data) - 1:,}-byte limit" in caught.value.message
    assert "DIARFLOW_MAX_TRANSCRIPT_BYTES" in caught.value.message
    assert counting.reads == []


def test_a_diarization_over_the_segment_limit_is_refused_when_written(store: ObjectStore) -> None:
    turns = [(float(i), i + 0.5, i % 2) for i in range(120)]
    ws = Workspace(store=store, settings=Settings.from_env({"DIARFLOW_MAX_SEGMENTS": "100"}))
    key = ingest_transcript(ws, "SEG1", orjson.dumps(transcript_from_turns(turns, words_per_turn=1)))
    request = DiarizeRequested(episode_id="SEG1", transcript_key=key)
    result, _ = run_locally(store, request, RunOptions(diarizer="deepgram"), settings=ws.settings, workspace=ws)
    assert result.status == "failed"
    assert result.error is not None
    assert result.error.type == "InvalidDiarization"
    assert "has 120 segments, over the 100-segment limit" in result.error.message
    assert not store.exists(keys.diarization_key("SEG1"))


def test_a_stored_diarization_over_the_limits_is_refused_when_read(store: ObjectStore) -> None:
    segments = [{"start": float(i), "end": i + 0.5, "speaker": "A", "confidence": None} for i in range(50)]
    document = {"episode_id": "SEG2", "source": "local", "created_at": "x", "segments": segments}
    key = keys.diarization_key("SEG2")
    data = dump_json(document)
    store.put_bytes(key, data)
    ws = Workspace(store=store, settings=Settings.from_env({"DIARFLOW_MAX_SEGMENTS": "40"}))
    with pytest.raises(InvalidDiarization, match="has 50 segments, over the 40-segment limit"):
        ws.read_turns(StoredRef(key=key, digest=digest(data)))

    # Far larger than the segment limit allows: refused from its size, before it is downloaded.
    store.put_bytes(key, b" " * (2 * 40 * 2048 + 1024 * 1024 + 1))
    counting = CountingStore(store)
    ws = Workspace(store=counting, settings=ws.settings)  # type: ignore[arg-type]
    with pytest.raises(InvalidDiarization, match="more than 40 segments can take"):
        ws.read_turns(StoredRef(key=key, digest=digest(b"other")))
    assert counting.reads == []


# --- the audio URL policy -----------------------------------------------------------------------------------

ACCEPTED = [
    ("https://cdn.example.com/ep1.mp3?X-Amz-Signature=abc", "remote"),
    ("http://media.example.org/a.wav", "remote"),
    ("HTTPS://CDN.EXAMPLE.COM/A.MP3", "remote"),
    ("https://8.8.8.8/a.mp3", "remote"),
    ("s3://bucket/audio/ep1.mp3", "s3"),
]
REFUSED = [
    ("file:///etc/passwd", "local paths and file: URLs are accepted only by local runs"),
    ("/etc/passwd", "local paths and file: URLs are accepted only by local runs"),
    ("../audio.wav", "local paths and file: URLs are accepted only by local runs"),
    ("http://127.0.0.1/a.mp3", "loopback"),
    ("http://127.1/a.mp3", "loopback"),
    ("http://2130706433/a.mp3", "loopback"),
    ("http://0x7f000001/a.mp3", "loopback"),
    ("http://[::1]/a.mp3", "loopback"),
    ("http://[::ffff:127.0.0.1]/a.mp3", "loopback"),
    ("http://localhost:8080/a.mp3", "loopback"),
    ("http://a.localhost/a.mp3", "loopback"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://[fe80::1]/a.mp3", "link-local"),
    ("http://10.0.0.5/a.mp3", "private"),
    ("http://192.168.1.10/a.mp3", "private"),
    ("http://172.16.3.4/a.mp3", "private"),
    ("http://[fd00::1]/a.mp3", "private"),
    ("http://100.64.0.1/a.mp3", "non-public"),
    ("http://0.0.0.0/a.mp3", "unspecified"),
    ("http://user:pass@cdn.example.com/a.mp3", "credentials"),
    ("ftp://cdn.example.com/a.mp3", "scheme 'ftp' is not supported"),
    ("gopher://cdn.example.com/", "scheme 'gopher' is not supported"),
    ("data:audio/wav;base64,AAAA", "scheme 'data' is not supported"),
    ("javascript:alert(1)", "scheme 'javascript' is not supported"),
    ("http:///a.mp3", "names no host"),
    ("http://./a.mp3", "names no host"),  # found by the URL fuzzer: "." is no host (nor is "..")
    ("https://../a.mp3", "names no host"),
    ("s3://bucket", "must name a bucket and a key"),
    ("https://cdn.example.com/a\r\nX-Injected: 1", "control characters"),
    ("https://cdn.example.com/" + "a" * 5000, "limit is 4,096"),
]


def test_audio_url_policy_table() -> None:
    policy = UrlPolicy()
    for url, kind in ACCEPTED:
        assert check_audio_url(url, policy) == kind, url
    for url, reason in REFUSED:
        with pytest.raises(InvalidUrl) as caught:
            check_audio_url(url, policy)
        assert caught.value.field == "audio_url"
        assert reason in caught.value.message, (url, caught.value.message)
    # Local runs may read local files; DIARFLOW_ALLOW_PRIVATE_URLS opens private addresses, nothing else.
    assert check_audio_url("/srv/audio/ep1.wav", UrlPolicy(allow_file=True)) == "file"
    assert check_audio_url("file:///srv/a.wav", UrlPolicy(allow_file=True)) == "file"
    assert check_audio_url("http://10.0.0.5/a.mp3", UrlPolicy(allow_private=True)) == "remote"
    with pytest.raises(InvalidUrl):
        check_audio_url("ftp://10.0.0.5/a.mp3", UrlPolicy(allow_private=True, allow_file=True))
    record("audio_url policy table", scenarios=len(ACCEPTED) + len(REFUSED) + 4, result="pass")


def test_settings_drive_the_policy() -> None:
    default = UrlPolicy.from_settings(Settings.from_env({}))
    assert default == UrlPolicy(allow_file=False, allow_private=False)
    assert UrlPolicy.from_settings(Settings.from_env({}), local_run=True).allow_file
    opened = Settings.from_env({"DIARFLOW_ALLOW_PRIVATE_URLS": "true", "DIARFLOW_ALLOW_FILE_URLS": "1"})
    assert UrlPolicy.from_settings(opened) == UrlPolicy(allow_file=True, allow_private=True)


def resolver(table: dict[str, list[str]]) -> Callable[[str, int], list[str]]:
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError(-2, "Name or service not known")
        return table[host]

    return resolve


DNS = {
    "cdn.example.com": ["93.184.216.34"],
    "rebind.example.com": ["93.184.216.34", "127.0.0.1"],
    "metadata.example.com": ["169.254.169.254"],
    "internal.example.com": ["10.1.2.3"],
    "v6.example.com": ["::1"],
}


def test_dns_names_that_resolve_to_private_addresses_are_refused_before_fetching() -> None:
    policy, resolve = UrlPolicy(), resolver(DNS)
    assert check_fetch_target("https://cdn.example.com/a.mp3", policy, resolve=resolve) == ["93.184.216.34"]
    for host, kind in [
        ("rebind.example.com", "loopback"),
        ("metadata.example.com", "link-local"),
        ("internal.example.com", "private"),
        ("v6.example.com", "loopback"),
    ]:
        with pytest.raises(InvalidUrl, match=rf"resolves to .*, a {kind} address"):
            check_fetch_target(f"https://{host}/a.mp3", policy, resolve=resolve)
    with pytest.raises(InvalidUrl, match="cannot be resolved"):
        check_fetch_target("https://nowhere.example.com/a.mp3", policy, resolve=resolve)
    allowed = check_fetch_target("https://internal.example.com/a", UrlPolicy(allow_private=True), resolve=resolve)
    assert allowed == ["10.1.2.3"]


def test_every_redirect_hop_is_checked() -> None:
    def upstream(request: httpx.Request) -> httpx.Response:
        if request.url.host == "cdn.example.com":
            return httpx.Response(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
        return httpx.Response(200, content=b"secret instance credentials")

    fetched: list[str] = []
    hooks = {"request": [redirect_guard(UrlPolicy()), lambda r: fetched.append(str(r.url))]}
    with (
        httpx.Client(transport=httpx.MockTransport(upstream), follow_redirects=True, event_hooks=hooks) as client,
        pytest.raises(InvalidUrl, match=r"169\.254\.169\.254"),
    ):
        client.get("https://cdn.example.com/ep1.mp3")
    assert fetched == ["https://cdn.example.com/ep1.mp3"]  # the metadata address was never requested


@pytest.fixture
def no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(url_policy, "_system_resolve", resolver({"audio.example.com": ["192.168.0.7"]}))


def test_the_local_diarizer_step_refuses_a_private_address_before_downloading(tmp_path: Path, no_dns: None) -> None:
    ws = Workspace(store=LocalStore(tmp_path), settings=Settings.from_env({}))
    with pytest.raises(InvalidUrl, match=r"192\.168\.0\.7, a private address"):
        stages.diarize(
            "local", ws, DiarizeArgs(episode_id="E1", transcript=SOME_REF, audio="https://audio.example.com/ep1.mp3")
        )


def test_an_event_with_a_local_path_fails_the_run_before_any_step(store: ObjectStore) -> None:
    """On Inngest (any engine but the local one) a path in audio_url would read the server's own disk."""
    ws = Workspace(store=store, settings=Settings.from_env({}))
    key = ingest_transcript(ws, "URL1", orjson.dumps(transcript_from_turns(SPEC_TURNS)))
    runner = LocalRunner(store, "URL1")
    events: list[Any] = []
    runner.event_sink = events.extend
    for audio in ("/etc/passwd", "file:///etc/shadow", "http://169.254.169.254/"):
        request = DiarizeRequested(episode_id="URL1", transcript_key=key, audio_url=audio)
        result = diarize_episode(runner, ws, request, RunOptions(diarizer="deepgram"))
        assert result.status == "failed"
        assert result.error is not None
        assert result.error.type == "InvalidUrl"
        assert "inspect-transcript-v1" not in runner.executed
        assert not store.exists(keys.diarization_key("URL1"))
    assert [e["name"] for e in events][-1] == "episode.diarization.failed"


def test_a_local_run_accepts_a_local_audio_path(store: ObjectStore) -> None:
    ws = Workspace(store=store, settings=Settings.from_env({}))
    key = ingest_transcript(ws, "URL2", orjson.dumps(transcript_from_turns(SPEC_TURNS)))
    request = DiarizeRequested(episode_id="URL2", transcript_key=key, audio_url="/srv/audio/url2.wav")
    result, _ = run_locally(store, request, RunOptions(diarizer="deepgram"), settings=ws.settings, workspace=ws)
    assert result.status == "completed"


def test_invalid_id_errors_are_invalid_input() -> None:
    assert issubclass(InvalidId, InvalidInput)


def test_the_transcription_step_refuses_a_local_path_outside_local_runs(tmp_path: Path) -> None:
    """On Inngest, ``episode.transcribe.requested`` with a path would upload the server's own file to Deepgram."""
    from diarflow.orchestration.transcription import transcribe

    settings = Settings.from_env({"DEEPGRAM_API_KEY": "dg-test-FAKE-unused", "DEEPGRAM_API_URL": "http://127.0.0.1:9"})
    ws = Workspace(store=LocalStore(tmp_path / "store"), settings=settings)
    for audio in ("/etc/passwd", "file:///etc/passwd", "http://169.254.169.254/latest/meta-data/"):
        with pytest.raises(InvalidUrl) as caught:
            transcribe(
                ws, TranscribeArgs(episode_id="TR1", audio=audio)
            )  # refused before any request (port 9 would refuse the connection)
        assert caught.value.field == "audio_url"
    assert not (tmp_path / "store").exists()
    record("audio_url policy: transcription step", scenarios=3, result="InvalidUrl before any request")
