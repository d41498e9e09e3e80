"""Running the pipeline on this machine: ingest a transcript, then drive the steps locally."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from diarflow.adapters.stores import ObjectStore, get_json, put_json
from diarflow.config import Settings
from diarflow.contracts import (
    DiarizeRequested,
    ErrorRecord,
    PipelineResult,
    TranscribeRequested,
    keys,
    parse_contract,
    parse_event_data,
    utc_now,
)
from diarflow.contracts.results import ResolvedDiarizer
from diarflow.contracts.run_record import RunRecord
from diarflow.contracts.step_args import ErrorLogArgs
from diarflow.domain.transcript import parse_transcript
from diarflow.errors import MAX_ERROR_MESSAGE, ArtifactNotFound, DiarflowError, InvalidInput
from diarflow.orchestration import stages
from diarflow.orchestration.corrections import (
    CorrectionT,
    append_corrections,
    check_corrections,
    forget_corrections,
    read_corrections,
)
from diarflow.orchestration.lease import LeasedSteps, RunLease, held
from diarflow.orchestration.limits import check_transcript_size
from diarflow.orchestration.local_runner import LocalRunner, StepObserver
from diarflow.orchestration.pipeline import INSPECT_STEP, RunOptions, diarize_episode
from diarflow.orchestration.steps import Event
from diarflow.orchestration.workspace import Workspace

log = logging.getLogger(__name__)


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
        result = diarize_episode(LeasedSteps(runner, active), ws, request, options)
        remember_run(store, request, options or RunOptions(), result)
        return result, runner


SOURCE_DIARIZERS: dict[str, ResolvedDiarizer] = {
    "pyannote": "pyannote",
    "local": "local",
    "channels": "channels",
    "deepgram_fallback": "deepgram",
}
"""The diarizer that writes each source: the one a rerun asks for, so it reuses that diarization's checkpoint."""


def remember_run(store: ObjectStore, request: DiarizeRequested, options: RunOptions, result: PipelineResult) -> None:
    """Keep what this run was given (``runs/<id>/request.json``) so ``diarflow speakers`` can run it again.

    Only a run that diarized is worth repeating; a record that cannot be written is logged, never fatal.
    An audio URL that carries credentials (a pre-signed query string, user info) is not kept: secrets never
    reach the store, and such a URL expires anyway.
    """
    if result.source is None:
        return
    kept = request.model_copy(update={"audio_url": storable_location(request.audio_url)})
    record = RunRecord(request=kept, diarizer=SOURCE_DIARIZERS[result.source], hints=options.hints)
    try:
        put_json(store, keys.run_request_key(request.episode_id), record.to_json_dict())
    except DiarflowError as exc:
        log.warning("could not record the run of %s for later corrections: %s", request.episode_id, exc.message)


def storable_location(url: str | None) -> str | None:
    """``url`` when it is safe to store, else None: a query string or user info may hold credentials."""
    if url is None:
        return None
    parts = urlsplit(url)
    return None if parts.query or parts.username or parts.password else url


def last_run(ws: Workspace, episode_id: str) -> tuple[DiarizeRequested, RunOptions]:
    """What the episode's last local run was given; without a record (an Inngest run, an older version), what
    the stored artifacts say: the stored transcript, and the diarizer that wrote the stored diarization."""
    key = keys.run_request_key(episode_id)
    if ws.store.exists(key):
        record = parse_contract(RunRecord, get_json(ws.store, key), where=key)
        hints = record.hints
        options = RunOptions(record.diarizer, hints.num_speakers, hints.min_speakers, hints.max_speakers)
        return record.request, options
    diarization = keys.diarization_key(episode_id)
    try:
        document = get_json(ws.store, diarization)
    except ArtifactNotFound:
        raise ArtifactNotFound(
            f"episode {episode_id} has no diarization in {ws.store.url} ({diarization}): run `diarflow run` first",
            key=diarization,
        ) from None
    source = document.get("source") if isinstance(document, dict) else None
    request = DiarizeRequested(episode_id=episode_id, transcript_key=keys.transcript_key(episode_id))
    return request, RunOptions(
        diarizer=SOURCE_DIARIZERS.get(source, "deepgram") if isinstance(source, str) else "deepgram"
    )


def episode_lease(store: ObjectStore, episode_id: str, settings: Settings) -> RunLease:
    """The lease a local run of ``episode_id`` holds, configured from settings (not yet taken)."""
    return RunLease(store, episode_id, ttl=settings.lease_seconds, wait=settings.lease_wait)


def run_episode(
    ws: Workspace,
    episode_id: str,
    *,
    transcript: bytes | None = None,
    audio: str | None = None,
    podcast_id: str | None = None,
    options: RunOptions | None = None,
    force: bool = False,
    drop_corrections: bool = False,
    observer: StepObserver | None = None,
) -> PipelineResult:
    """Run one episode from its inputs, as ``diarflow run`` and :func:`diarflow.run` do, under the episode's lease.

    The episode's speaker corrections are an input, kept by every run (``force`` too) unless
    ``drop_corrections`` says to forget them first.

    ``transcript`` (the bytes of a Deepgram response or a plain transcript) is
    validated and stored first; without it, the transcript already stored is
    used, or, when there is none, ``audio`` is transcribed with Deepgram (if
    ``DEEPGRAM_API_KEY`` is set). The lease covers storing the transcript too:
    a second run must not replace the input of a running one.
    """
    store = ws.store
    with episode_lease(store, episode_id, ws.settings) as lease:
        if drop_corrections:
            forget_corrections(store, episode_id)
        if transcript is not None:
            transcript_key = ingest_transcript(ws, episode_id, transcript)
        else:
            transcript_key = keys.transcript_key(episode_id)
            if not store.exists(transcript_key):
                if not audio or ws.settings.deepgram_api_key is None:
                    raise InvalidInput(
                        "",
                        f"`transcript` is required: no transcript stored at {transcript_key} in {store.url} "
                        "(or set DEEPGRAM_API_KEY and pass `audio` to transcribe first)",
                    )
                transcribe_locally(ws, episode_id, audio, podcast_id, lease=lease, force=force, observer=observer)
        request = parse_event_data(
            DiarizeRequested,
            {"episode_id": episode_id, "transcript_key": transcript_key, "audio_url": audio, "podcast_id": podcast_id},
            where="options",
        )
        result, _ = run_locally(
            store, request, options, settings=ws.settings, force=force, observer=observer, workspace=ws, lease=lease
        )
        return result


def transcribe_locally(
    ws: Workspace,
    episode_id: str,
    audio: str,
    podcast_id: str | None = None,
    *,
    lease: RunLease,
    force: bool = False,
    observer: StepObserver | None = None,
) -> dict[str, Any]:
    """Run ``transcribe-deepgram-v1`` with the local engine (checkpointed like every step) under ``lease``.

    The caller has checked the ids and that ``DEEPGRAM_API_KEY`` is set, and holds the episode's lease.
    """
    from diarflow.orchestration.transcription import transcribe_episode

    request = parse_event_data(
        TranscribeRequested,
        {"episode_id": episode_id, "audio_url": audio, "podcast_id": podcast_id},
        where="options",
    )
    if not ws.settings.allow_file_urls:  # a local run may send this machine's own audio file
        ws = replace(ws, settings=replace(ws.settings, allow_file_urls=True))
    runner = LocalRunner(ws.store, episode_id, force=force, attempts=ws.settings.step_attempts, observer=observer)
    return transcribe_episode(LeasedSteps(runner, lease), ws, request).to_json_dict()


def record_corrections(
    ws: Workspace,
    episode_id: str,
    added: Sequence[CorrectionT],
    *,
    where: str = "corrections",
    observer: StepObserver | None = None,
) -> PipelineResult:
    """Append ``added`` to the episode's corrections and derive its artifacts again, under the episode's lease.

    The corrections are checked against the diarization first (an error names ``where[i].field`` and
    nothing is recorded); renames that ask for it enrol their speaker's voice next (the same rule: a
    refusal records nothing). Then the episode's last run is repeated (:func:`last_run`): every step up
    to the diarizer is answered from its checkpoint, so only ``apply-corrections-v1`` and what follows run.
    """
    from diarflow.orchestration.correction_enrollment import enrol_renamed_speakers

    store = ws.store
    with episode_lease(store, episode_id, ws.settings) as lease:
        request, options = last_run(ws, episode_id)
        existing = read_corrections(store, episode_id)
        corrected, document = check_corrections(ws, episode_id, request.transcript_key, existing, added, where=where)
        added = enrol_renamed_speakers(
            ws,
            request,
            corrected,
            document,
            [*existing, *added],
            first_new=len(existing),
            field_of=lambda index: f"{where}[{index - len(existing)}]",
        )
        append_corrections(store, episode_id, added)
        result, _ = run_locally(
            store, request, options, settings=ws.settings, observer=observer, workspace=ws, lease=lease
        )
        return result


def rerun_episode(ws: Workspace, episode_id: str, *, observer: StepObserver | None = None) -> PipelineResult:
    """Run the episode again as its last run was given it, under its lease: checkpoints answer what is unchanged.

    After a voiceprint is enrolled this reruns identification and what follows, never the diarizer.
    """
    with episode_lease(ws.store, episode_id, ws.settings) as lease:
        request, options = last_run(ws, episode_id)
        result, _ = run_locally(
            ws.store, request, options, settings=ws.settings, observer=observer, workspace=ws, lease=lease
        )
        return result
