"""Transcription with Deepgram, S3-first: the raw response goes to the store, the step returns its key.

``transcribe-deepgram-v1`` writes ``transcripts/<episode_id>/deepgram.json``
and returns ``{episode_id, transcript_key, stats: {words, duration}}``; then
``episode.transcribed.deepgram.completed`` is emitted, which triggers the
diarization pipeline. A response that is not a transcript fails the step
before anything is written, so an earlier transcript is never replaced by a
broken one.
"""

from __future__ import annotations

from typing import Any

from diarflow.adapters.deepgram import DeepgramClient
from diarflow.adapters.http import RetryPolicy
from diarflow.adapters.url_policy import UrlPolicy, check_audio_url
from diarflow.config import Settings
from diarflow.contracts import TRANSCRIBED, TranscribeRequested, keys
from diarflow.contracts.results import TranscriptionInfo, TranscriptionStats
from diarflow.contracts.step_args import TranscribeArgs
from diarflow.errors import InvalidConfig
from diarflow.orchestration.steps import Step, Steps
from diarflow.orchestration.workspace import Workspace

TRANSCRIBE_STEP = "transcribe-deepgram-v1"
EMIT_TRANSCRIBED_STEP = "emit-transcribed-v1"


def transcribe_episode(steps: Steps, ws: Workspace, request: TranscribeRequested) -> TranscriptionInfo:
    """Transcribe, store, announce; returns the step's small result."""
    result = steps.run(TRANSCRIBE, ws, TranscribeArgs(episode_id=request.episode_id, audio=request.audio_url))
    data: dict[str, Any] = {
        "episode_id": request.episode_id,
        "audio_url": request.audio_url,
        "transcript_key": result.transcript_key,
        "duration": result.stats.duration,
        "word_count": result.stats.words,
    }
    if request.podcast_id is not None:
        data["podcast_id"] = request.podcast_id
    if request.rerun is not None:  # an explicit rerun must reach the diarization too (its idempotency key)
        data["rerun"] = request.rerun
    steps.send_event(EMIT_TRANSCRIBED_STEP, [{"name": TRANSCRIBED, "data": data}])
    return result


def transcribe(ws: Workspace, args: TranscribeArgs) -> TranscriptionInfo:
    """``transcribe-deepgram-v1``: call Deepgram, write its raw response, return key and stats."""
    key = keys.transcript_key(args.episode_id)
    # A path would upload this machine's own file: only local runs may (docs/reliability.md, audio_url policy).
    check_audio_url(args.audio, UrlPolicy.from_settings(ws.settings))
    with deepgram_client(ws.settings) as client:
        transcript = client.transcribe(args.audio)
    ws.store.put_bytes(key, transcript.body, content_type="application/json")
    ws.remember_transcript(key, transcript.body, transcript.transcript)
    return TranscriptionInfo(
        episode_id=args.episode_id,
        transcript_key=key,
        stats=TranscriptionStats(words=transcript.words, duration=round(transcript.duration, 3)),
    )


TRANSCRIBE = Step(TRANSCRIBE_STEP, TranscribeArgs, TranscriptionInfo, transcribe)


def deepgram_client(settings: Settings) -> DeepgramClient:
    """A client configured from settings; a clear error without a key."""
    if settings.deepgram_api_key is None:
        raise InvalidConfig("DEEPGRAM_API_KEY", "is not set: export it to transcribe, or give `transcript`")
    return DeepgramClient(
        settings.deepgram_api_key.reveal(),
        base_url=settings.deepgram_api_url,
        timeout=settings.deepgram_timeout,
        retry=RetryPolicy(attempts=settings.http_attempts, base_delay=settings.http_backoff),
    )
