"""Running the pipeline on this machine: ingest a transcript, then drive the steps locally."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from diarflow.adapters.stores import ObjectStore
from diarflow.config import Settings
from diarflow.contracts import DiarizeRequested, ErrorRecord, PipelineResult, keys, utc_now
from diarflow.contracts.step_args import ErrorLogArgs
from diarflow.domain.transcript import parse_transcript
from diarflow.errors import MAX_ERROR_MESSAGE, InvalidInput
from diarflow.orchestration import stages
from diarflow.orchestration.lease import LeasedSteps, RunLease, held
from diarflow.orchestration.limits import check_transcript_size
from diarflow.orchestration.local_runner import LocalRunner, StepObserver
from diarflow.orchestration.pipeline import INSPECT_STEP, RunOptions, diarize_episode
from diarflow.orchestration.steps import Event
from diarflow.orchestration.workspace import Workspace


def ingest_transcript(ws: Workspace, episode_id: str, data: bytes) -> str:
    """Validate a transcript and store it at its key; an invalid one changes nothing but the error log.

    Returns the transcript key. Raises :class:`InvalidTranscript` after writing
    the error artifact, so the failure is on record like any other.
    """
    key = keys.transcript_key(episode_id)
    try:
        check_transcript_size(len(data), ws.settings.max_transcript_bytes)
        transcript = parse_transcript(data)
    except InvalidInput as exc:
        error = ErrorRecord(
            step=INSPECT_STEP,
            type=exc.type_name,
            message=exc.message[:MAX_ERROR_MESSAGE],
            retryable=False,
            attempt=1,
            occurred_at=utc_now(),
        )
        stages.update_error_log(ws, ErrorLogArgs(episode_id=episode_id, status="failed", errors=[error]))
        raise
    if not _already_stored(ws.store, key, data):  # rewriting identical bytes would make every step look stale
        ws.store.put_bytes(key, data, content_type="application/json")
    ws.remember_transcript(key, data, transcript)
    return key


def _already_stored(store: ObjectStore, key: str, data: bytes) -> bool:
    return store.size(key) == len(data) and store.get_bytes(key) == data


def run_locally(
    store: ObjectStore,
    request: DiarizeRequested,
    options: RunOptions | None = None,
    *,
    settings: Settings | None = None,
    force: bool = False,
    observer: StepObserver | None = None,
    event_sink: Callable[[list[Event]], None] | None = None,
    workspace: Workspace | None = None,
    lease: RunLease | None = None,
) -> tuple[PipelineResult, LocalRunner]:
    """Run :func:`diarize_episode` with the local engine; returns the result and the runner (for its counts).

    The run holds the episode's lease (``runs/<id>/lease.json``, see :mod:`~diarflow.orchestration.lease`):
    pass ``lease`` when the caller holds it already (the CLI takes it before storing the transcript).
    """
    settings = settings or Settings.from_env()
    ws = workspace or Workspace(store=store, settings=settings)
    if not ws.settings.allow_file_urls:  # a local run may read audio from this machine's own disk
        ws = replace(ws, settings=replace(ws.settings, allow_file_urls=True))
    active = lease if lease is not None else episode_lease(store, request.episode_id, settings)
    runner = LocalRunner(
        store,
        request.episode_id,
        force=force,
        attempts=settings.step_attempts,
        observer=observer,
        event_sink=event_sink,
    )
    with held(None if lease is not None else active):
        return diarize_episode(LeasedSteps(runner, active), ws, request, options), runner


def episode_lease(store: ObjectStore, episode_id: str, settings: Settings) -> RunLease:
    """The lease a local run of ``episode_id`` holds, configured from settings (not yet taken)."""
    return RunLease(store, episode_id, ttl=settings.lease_seconds, wait=settings.lease_wait)
