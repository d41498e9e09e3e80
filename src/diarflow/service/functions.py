"""The Inngest functions, built from the same flows the local runner drives.

``transcribe-episode``  ``episode.transcribe.requested`` → Deepgram → emits
                        ``episode.transcribed.deepgram.completed``
``diarize-episode``     ``episode.transcribed.deepgram.completed`` → the
                        diarization pipeline → emits ``episode.diarization.completed``
                        (or ``.failed``)

Both share the run controls that let the pipeline scale out safely:

* concurrency keyed by podcast, so one podcast's backfill cannot take every worker;
* a throttle on ``diarize-episode`` while pyannoteAI may be called, keeping
  its API under 100 requests/minute across all replicas;
* an idempotency key of episode id + optional rerun token: a duplicate event
  starts no second run within Inngest's 24 h window, an explicit rerun does;
* retries per step, and an ``on_failure`` handler that records the error
  artifact and emits ``episode.diarization.failed`` when a run fails outright.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import inngest

from diarflow.adapters.stores import ObjectStore
from diarflow.adapters.url_policy import UrlPolicy, check_audio_url
from diarflow.config import Settings
from diarflow.contracts import (
    DIARIZATION_FAILED,
    TRANSCRIBE_REQUESTED,
    TRANSCRIBED,
    DiarizationFailed,
    DiarizeRequested,
    ErrorLogInfo,
    ErrorRecord,
    ErrorSummary,
    TranscribeRequested,
    parse_event_data,
    utc_now,
    validate_id,
)
from diarflow.contracts._base import Contract
from diarflow.contracts.results import DiarizerChosen
from diarflow.contracts.step_args import ErrorLogArgs, NoArgs, RecordFailureArgs
from diarflow.errors import MAX_ERROR_MESSAGE, DiarflowError, InvalidId, StepFailed
from diarflow.orchestration import stages, transcription
from diarflow.orchestration.diarizers import resolve_diarizer
from diarflow.orchestration.inngest_engine import InngestSteps, non_retriable
from diarflow.orchestration.pipeline import EMIT_STEP, RunOptions, diarize_episode, refused_audio_url
from diarflow.orchestration.steps import Step
from diarflow.orchestration.workspace import Workspace
from diarflow.redaction import redact

log = logging.getLogger(__name__)

TRANSCRIBE_FUNCTION = "transcribe-episode"
DIARIZE_FUNCTION = "diarize-episode"
CHOOSE_DIARIZER_STEP = "choose-diarizer-v1"
RECORD_FAILURE_STEP = "record-failure-v1"

# Inngest expressions (CEL). ``has()`` guards optional fields: podcast_id and rerun may be absent or null.
PODCAST_KEY = 'has(event.data.podcast_id) && event.data.podcast_id != null ? event.data.podcast_id : "~none"'
"""Concurrency key: the podcast; episodes without one share the key ``~none`` (never a valid id)."""
EPISODE_KEY = "event.data.episode_id"
"""Second concurrency key: one run of an episode at a time, so deliberate reruns never overlap (the lease's job
in the local runner)."""
IDEMPOTENCY_KEY = (
    'event.data.episode_id + (has(event.data.rerun) && event.data.rerun != null ? "/rerun/" + event.data.rerun : "")'
)
"""One run per episode (and per rerun token) in Inngest's 24-hour idempotency window."""

_WRAPPED_ERROR = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*): (.*)$", re.DOTALL)
ModelT = TypeVar("ModelT", bound=Contract)


def build_functions(client: inngest.Inngest, settings: Settings, store: ObjectStore) -> list[inngest.Function[Any]]:
    """Both functions (with their ``on_failure`` handlers) for ``inngest.fast_api.serve``."""
    retries = settings.function_retries
    concurrency = [
        inngest.Concurrency(key=PODCAST_KEY, limit=settings.concurrency_per_podcast),
        inngest.Concurrency(key=EPISODE_KEY, limit=1),
    ]

    def engine(ctx: inngest.ContextSync) -> tuple[InngestSteps, Workspace]:
        # A workspace per invocation: its memo would otherwise grow with every episode this process serves.
        return InngestSteps(ctx.step, attempt=ctx.attempt, max_attempts=retries + 1), Workspace(store, settings)

    @client.create_function(
        fn_id=TRANSCRIBE_FUNCTION,
        name="Transcribe episode (Deepgram)",
        trigger=inngest.TriggerEvent(event=TRANSCRIBE_REQUESTED),
        concurrency=concurrency,
        idempotency=IDEMPOTENCY_KEY,
        retries=retries,
        on_failure=_failure_handler(TRANSCRIBE_FUNCTION, store, settings),
    )
    def transcribe_episode(ctx: inngest.ContextSync) -> dict[str, Any]:
        request = _parse(TranscribeRequested, ctx.event.data)
        _check_audio_url(request.audio_url, settings)  # before any step, as every input is
        steps, ws = engine(ctx)
        return transcription.transcribe_episode(steps, ws, request).to_json_dict()

    @client.create_function(
        fn_id=DIARIZE_FUNCTION,
        name="Diarize episode",
        trigger=inngest.TriggerEvent(event=TRANSCRIBED),
        concurrency=concurrency,
        throttle=pyannote_throttle(settings),
        idempotency=IDEMPOTENCY_KEY,
        retries=retries,
        on_failure=_failure_handler(DIARIZE_FUNCTION, store, settings),
    )
    def diarize(ctx: inngest.ContextSync) -> dict[str, Any]:
        request = _parse(DiarizeRequested, ctx.event.data)
        steps, ws = engine(ctx)
        options = RunOptions(diarizer=settings.diarizer)
        # A refused audio_url fails the run in the pipeline before any step (error artifact, failed event);
        # otherwise the diarizer is chosen once and memoised, so replicas that differ (a key, the [local]
        # extra) still replay the same steps.
        if refused_audio_url(request, settings) is None:
            options = RunOptions(diarizer=steps.run(CHOOSE_DIARIZER, ws, NoArgs()).diarizer)
        return diarize_episode(steps, ws, request, options).to_json_dict()

    return [transcribe_episode, diarize]


def pyannote_throttle(settings: Settings) -> inngest.Throttle | None:
    """Runs started per minute, when this deployment may call pyannoteAI (100 requests/minute per key).

    A run makes about four requests (submit, a status check or two, collect),
    so the default 20 runs/minute leaves headroom; the client also honours 429s.
    """
    if settings.throttle_per_minute <= 0 or resolve_diarizer(settings.diarizer, settings) != "pyannote":
        return None
    return inngest.Throttle(limit=settings.throttle_per_minute, period=60_000)


def choose_diarizer(ws: Workspace, args: NoArgs) -> DiarizerChosen:
    """``choose-diarizer-v1``: resolve ``auto`` on the worker that starts the run."""
    return DiarizerChosen(diarizer=resolve_diarizer(ws.settings.diarizer, ws.settings))


def _check_audio_url(audio_url: str, settings: Settings) -> None:
    try:
        check_audio_url(audio_url, UrlPolicy.from_settings(settings))
    except DiarflowError as exc:
        raise non_retriable(exc) from None


def _parse(model: type[ModelT], data: Mapping[str, Any]) -> ModelT:
    try:
        return parse_event_data(model, dict(data))
    except DiarflowError as exc:
        # The same event fails the same way on every retry.
        raise non_retriable(exc) from None


# --- on_failure ---------------------------------------------------------------------


def _failure_handler(
    function_id: str, store: ObjectStore, settings: Settings
) -> Callable[[inngest.ContextSync], dict[str, Any]]:
    """The ``on_failure`` handler: error artifact, then ``episode.diarization.failed``.

    It runs when a run failed outright (retries exhausted outside a handled
    step, an invalid event, a bug): failures the pipeline handles itself end
    in a ``failed`` result and their own event instead.
    """

    def on_failure(ctx: inngest.ContextSync) -> dict[str, Any]:
        failure = dict(ctx.event.data)
        original = _mapping(failure.get("event"))
        try:
            episode_id = validate_id(_mapping(original.get("data")).get("episode_id"))
        except InvalidId:
            log.error("%s failed for an event without a valid episode_id; nothing to record", function_id)
            return {"recorded": False}

        error_type, message = _describe(_mapping(failure.get("error")))
        steps = InngestSteps(ctx.step, attempt=ctx.attempt, max_attempts=1)
        summary = ErrorSummary(type=error_type, message=message)
        record = RecordFailureArgs(
            episode_id=episode_id, function_id=function_id, error=summary, attempts=settings.function_retries + 1
        )
        try:
            error_key = steps.run(RECORD_FAILURE, Workspace(store, settings), record).s3_error_key
        except StepFailed as exc:
            # Still tell downstream consumers: a missing error artifact must not also lose the event.
            log.error("could not write the error artifact of %s: %s", episode_id, exc.message)
            error_key = None
        event = DiarizationFailed(episode_id=episode_id, s3_error_key=error_key, error=summary)
        steps.send_event(EMIT_STEP, [{"name": DIARIZATION_FAILED, "data": event.to_json_dict()}])
        return {"recorded": True, "episode_id": episode_id, "s3_error_key": error_key}

    return on_failure


def record_failure(ws: Workspace, args: RecordFailureArgs) -> ErrorLogInfo:
    """``record-failure-v1``: the run's failure becomes the episode's error artifact (status ``failed``)."""
    error = ErrorRecord(
        step=args.function_id,
        type=args.error.type,
        message=args.error.message,
        retryable=False,  # the run is over: only a new event starts another
        attempt=args.attempts,
        occurred_at=utc_now(),
    )
    return stages.update_error_log(ws, ErrorLogArgs(episode_id=args.episode_id, status="failed", errors=[error]))


CHOOSE_DIARIZER = Step(CHOOSE_DIARIZER_STEP, NoArgs, DiarizerChosen, choose_diarizer)
RECORD_FAILURE = Step(RECORD_FAILURE_STEP, RecordFailureArgs, ErrorLogInfo, record_failure)


def _describe(error: Mapping[str, Any]) -> tuple[str, str]:
    """The failure's type and message; unwraps ``NonRetriableError("Type: message")`` from :func:`non_retriable`."""
    name = str(error.get("name") or "FunctionFailed")
    message = str(error.get("message") or "the function failed without a message")
    if name == "NonRetriableError" and (match := _WRAPPED_ERROR.match(message)):
        name, message = match.group(1), match.group(2)
    return name, redact(message)[:MAX_ERROR_MESSAGE]


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
