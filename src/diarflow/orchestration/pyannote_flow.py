"""The pyannoteAI job as durable steps: submit, wait (webhook or polls), collect.

Written against :class:`~diarflow.orchestration.steps.Steps` only, so Inngest
and the local runner drive the same code:

``pyannote-submit-v1``
    uploads local audio if needed and starts the job; returns the job id.
waiting
    each status check is a step (``pyannote-poll-v1.<n>``). With
    ``DIARFLOW_PUBLIC_URL`` set, the job carries our webhook and the run waits
    for ``pyannote/job.completed`` between checks (``pyannote-wait-v1.<n>``);
    an engine that cannot wait for events (the local runner) sleeps between
    checks instead (``pyannote-sleep-v1.<n>``), the interval growing 1.5x per
    poll up to 5 minutes so long jobs stay far below Inngest's step limit.
    A check also runs after every webhook wait that times out, so a webhook
    that arrived before the wait began is never missed.
``pyannote-collect-v1``
    fetches the output at once (pyannoteAI deletes it 24 h after completion),
    writes ``diarization/<id>.json`` and returns its key and stats. If the
    output is already gone, the job is submitted once more.

Every failure leaves as :class:`~diarflow.errors.StepFailed`, which the
pipeline records before falling back to the Deepgram diarization.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from diarflow.adapters.http import RetryPolicy, Timeouts
from diarflow.adapters.pyannote import (
    TERMINAL_STATUSES,
    PyannoteClient,
    check_audio_limits,
    diarizer_output,
    identification_output,
)
from diarflow.adapters.registry import VoiceprintRegistry
from diarflow.config import Settings
from diarflow.contracts import (
    PYANNOTE_JOB_COMPLETED,
    PYANNOTE_VOICEPRINT_MODEL,
    DiarizationInfo,
    DiarizeRequested,
    TranscriptInfo,
)
from diarflow.contracts.results import JobStatus, SubmittedJob
from diarflow.contracts.step_args import CollectJobArgs, PollJobArgs, SubmitJobArgs
from diarflow.errors import DiarflowError, DiarizerUnavailable, StepFailed
from diarflow.orchestration.stages import write_diarization
from diarflow.orchestration.steps import Step, Steps
from diarflow.orchestration.workspace import Workspace

if TYPE_CHECKING:
    from diarflow.orchestration.pipeline import RunOptions

log = logging.getLogger(__name__)

SUBMIT_STEP = "pyannote-submit-v1"
POLL_STEP = "pyannote-poll-v1"
WAIT_STEP = "pyannote-wait-v1"
SLEEP_STEP = "pyannote-sleep-v1"
COLLECT_STEP = "pyannote-collect-v1"
WEBHOOK_PATH = "/webhooks/pyannote"

MAX_POLL_INTERVAL = 300.0
POLL_GROWTH = 1.5
WEBHOOK_RECHECK = 900.0
"""With a webhook, check the job anyway every 15 minutes (a lost webhook must not stall the run)."""
SUBMISSIONS = 2
"""The first job, and one resubmission when its output was deleted before we collected it."""
_OUTPUT_GONE = frozenset({"JobOutputMissing", "JobNotFound"})
MAX_IDENTIFY_VOICEPRINTS = 50
"""``/v1/identify`` accepts 1 to 50 voiceprints."""


def diarize_with_pyannote(
    steps: Steps, ws: Workspace, request: DiarizeRequested, options: RunOptions, transcript: TranscriptInfo
) -> DiarizationInfo:
    """Diarize with a pyannoteAI job: submit, wait, collect (once more if the output was gone)."""
    submit_args = SubmitJobArgs(
        episode_id=request.episode_id,
        audio=request.audio_url,
        # The transcript's duration stands in for the audio's: it is checked against the 24 h limit up front.
        duration=max(transcript.duration, request.duration or 0.0) or None,
        hints=options.hints,
        webhook=webhook_url(ws.settings),
        podcast_id=request.podcast_id,
    )
    for submission in range(1, SUBMISSIONS + 1):
        tag = "" if submission == 1 else f".r{submission}"
        submitted = steps.run(SUBMIT.named(SUBMIT_STEP + tag), ws, submit_args)
        wait_for_job(steps, ws, submitted.job_id, use_webhook=submit_args.webhook is not None, tag=tag)
        collect_args = CollectJobArgs(
            episode_id=request.episode_id,
            job_id=submitted.job_id,
            model=submitted.model,
            voiceprint_labels=submitted.voiceprint_labels,
        )
        try:
            return steps.run(COLLECT.named(COLLECT_STEP + tag), ws, collect_args)
        except StepFailed as failure:
            if failure.error_type in _OUTPUT_GONE and submission < SUBMISSIONS:
                log.warning("pyannoteAI job %s: output gone before collection; submitting again", submitted.job_id)
                continue
            raise
    raise AssertionError("unreachable: the last submission returns or raises")


def wait_for_job(steps: Steps, ws: Workspace, job_id: str, *, use_webhook: bool, tag: str = "") -> str:
    """Wait until the job is terminal; return its status. Raises :class:`StepFailed` after the max wait.

    Deterministic in its step names and durations (Inngest replays it): the
    waited time is the sum of the sleeps and event timeouts, not a clock.
    """
    settings = ws.settings
    waited = 0.0
    interval = settings.pyannote_poll_interval
    poll = 0
    while True:
        poll += 1
        status = steps.run(POLL.named(f"{POLL_STEP}{tag}.{poll}"), ws, PollJobArgs(job_id=job_id)).status
        if status in TERMINAL_STATUSES:
            return status
        remaining = settings.pyannote_max_wait - waited
        if remaining <= 0:
            raise StepFailed(
                f"{POLL_STEP}{tag}.{poll}",
                "PyannoteJobTimeout",
                f"pyannoteAI job {job_id} was still {status} after {settings.pyannote_max_wait:g} s "
                "(PYANNOTEAI_MAX_WAIT)",
                retryable=True,
                attempt=poll,
            )
        if use_webhook:
            timeout = min(WEBHOOK_RECHECK, remaining)
            try:
                event = steps.wait_for_event(
                    f"{WAIT_STEP}{tag}.{poll}",
                    event=PYANNOTE_JOB_COMPLETED,
                    if_expression=f"async.data.job_id == {_quoted(job_id)}",
                    timeout_seconds=timeout,
                )
            except NotImplementedError:
                use_webhook = False  # this engine cannot be woken by events: poll instead
            else:
                if event is None:
                    waited += timeout
                continue  # on the event (or a timeout) check the job: the poll is the source of truth
        delay = min(interval, remaining)
        steps.sleep(f"{SLEEP_STEP}{tag}.{poll}", delay)
        waited += delay
        interval = min(interval * POLL_GROWTH, MAX_POLL_INTERVAL)


# --- step bodies ------------------------------------------------------------------------


def submit_job(ws: Workspace, args: SubmitJobArgs) -> SubmittedJob:
    """``pyannote-submit-v1``: upload the audio when it is a local file, start the job.

    When the podcast has pyannoteAI voiceprints the job is ``/v1/identify`` (diarization
    and matching in one job); the result then maps the labels sent to voiceprint ids.
    """
    audio, duration, hints, webhook = args.audio, args.duration, args.hints, args.webhook
    if not audio:
        raise DiarizerUnavailable("pyannoteAI needs the episode audio: give `audio` (an `audio_url` in the event)")
    if audio.startswith("s3://"):
        raise DiarizerUnavailable(
            "pyannoteAI cannot read s3:// URLs: pass an https:// (pre-signed) URL or a local file"
        )
    check_audio_limits(size_bytes=None, duration=duration)
    settings = ws.settings
    with pyannote_client(settings) as client:
        url = client.audio_url(audio, episode_id=args.episode_id, duration=duration)
        voiceprints = registry_voiceprints(ws, args.podcast_id)
        if voiceprints:
            created = client.identify(
                url,
                [(label, voiceprint) for label, _, voiceprint in voiceprints],
                threshold=round(settings.pyannote_match_threshold * 100, 2),
                num_speakers=hints.num_speakers,
                min_speakers=hints.min_speakers,
                max_speakers=hints.max_speakers,
                webhook=webhook,
            )
        else:
            created = client.diarize(
                url,
                model=settings.pyannote_model,
                num_speakers=hints.num_speakers,
                min_speakers=hints.min_speakers,
                max_speakers=hints.max_speakers,
                webhook=webhook,
            )
    # Never the audio URL: a pre-signed URL carries credentials and step results are logged and stored.
    labels = [(label, voiceprint_id) for label, voiceprint_id, _ in voiceprints] if voiceprints else None
    return SubmittedJob(
        job_id=created.job_id, status=created.status, model=settings.pyannote_model, voiceprint_labels=labels
    )


def registry_voiceprints(ws: Workspace, podcast_id: str | None) -> list[tuple[str, str, str]]:
    """``(label, voiceprint_id, voiceprint)`` of the podcast's pyannoteAI voiceprints (at most 50).

    A registry that cannot be read is not a reason to lose the diarization: the job is
    then a plain ``/v1/diarize`` and ``identify-speakers-v1`` reports the registry problem.
    """
    if podcast_id is None:
        return []
    try:
        entries = [e for e in VoiceprintRegistry(ws.store).entries(podcast_id) if e.model == PYANNOTE_VOICEPRINT_MODEL]
    except DiarflowError as exc:
        log.warning("voiceprints of %s unreadable (%s): diarizing without identification", podcast_id, exc.message)
        return []
    if len(entries) > MAX_IDENTIFY_VOICEPRINTS:
        log.warning(
            "podcast %s has %d pyannoteAI voiceprints; /v1/identify takes %d: using the first by id",
            podcast_id,
            len(entries),
            MAX_IDENTIFY_VOICEPRINTS,
        )
    # Labels are positional: a voiceprint id may be too long for pyannoteAI or start with SPEAKER_.
    return [
        (f"vp{index}", entry.voiceprint_id, entry.voiceprint or "")
        for index, entry in enumerate(entries[:MAX_IDENTIFY_VOICEPRINTS], 1)
    ]


def poll_job(ws: Workspace, args: PollJobArgs) -> JobStatus:
    """``pyannote-poll-v1.<n>``: the job's status, nothing more (the output can be megabytes)."""
    with pyannote_client(ws.settings) as client:
        job = client.get_job(args.job_id)
    return JobStatus(job_id=args.job_id, status=job.status)


def collect_job(ws: Workspace, args: CollectJobArgs) -> DiarizationInfo:
    """``pyannote-collect-v1``: fetch the output, write the raw diarization, return its key and stats.

    For an identification job, pyannoteAI's per-speaker voiceprint scores and its per-turn
    identification go into the diarization as ``voiceprint_matches`` and
    ``identification_segments`` (labels turned back into voiceprint ids).
    """
    with pyannote_client(ws.settings) as client:
        job = client.get_job(args.job_id)
    output = diarizer_output(job, model=args.model)
    extra = None
    if args.voiceprint_labels and job.output is not None:
        labels = dict(args.voiceprint_labels)
        matches, segments = identification_output(job, labels)
        extra = {"voiceprint_matches": matches, "identification_segments": segments}
    return write_diarization(ws, args.episode_id, "pyannote", output, extra)


SUBMIT = Step(SUBMIT_STEP, SubmitJobArgs, SubmittedJob, submit_job)
POLL = Step(POLL_STEP, PollJobArgs, JobStatus, poll_job)
COLLECT = Step(COLLECT_STEP, CollectJobArgs, DiarizationInfo, collect_job)


# --- configuration -------------------------------------------------------------------------


def pyannote_client(settings: Settings) -> PyannoteClient:
    """A client configured from settings; :class:`DiarizerUnavailable` without a key."""
    if settings.pyannote_api_key is None:
        raise DiarizerUnavailable(
            "PYANNOTEAI_API_KEY is not set: export it, or choose another `diarizer` (local, deepgram)"
        )
    read = settings.pyannote_timeout
    return PyannoteClient(
        settings.pyannote_api_key.reveal(),
        base_url=settings.pyannote_api_url,
        timeouts=Timeouts(connect=min(10.0, read), read=read, write=read, pool=min(10.0, read)),
        upload_timeouts=Timeouts(connect=min(10.0, read), read=read * 10, write=read * 10, pool=min(10.0, read)),
        retry=RetryPolicy(attempts=settings.http_attempts, base_delay=settings.http_backoff),
    )


def webhook_url(settings: Settings) -> str | None:
    """Our webhook endpoint when the service is publicly reachable, else None (poll instead)."""
    return f"{settings.public_url.rstrip('/')}{WEBHOOK_PATH}" if settings.public_url else None


def _quoted(value: str) -> str:
    """A string literal for an Inngest (CEL) expression."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
