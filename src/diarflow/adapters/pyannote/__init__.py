"""pyannoteAI: HTTP client, wire models, output mapping and webhook verification."""

from diarflow.adapters.pyannote._client import (
    DEFAULT_API_URL,
    KEY_ENV,
    MAX_DURATION_SECONDS,
    MAX_FILE_BYTES,
    PyannoteClient,
    check_audio_limits,
)
from diarflow.adapters.pyannote._models import (
    DEFAULT_MODEL,
    TERMINAL_STATUSES,
    DiarizeRequest,
    IdentifyRequest,
    Job,
    JobCreated,
    JobOutput,
    JobStatus,
    Segment,
    WebhookPayload,
)
from diarflow.adapters.pyannote._output import (
    diarizer_output,
    score_to_probability,
    segments_to_turns,
)
from diarflow.adapters.pyannote._webhook import (
    MAX_SKEW_SECONDS,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    ReplayGuard,
    WebhookResult,
    handle_webhook,
    job_completed_event,
    sign,
    verify_signature,
)
from diarflow.errors import JobFailed, JobNotFound, JobOutputMissing, WebhookRejected

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_MODEL",
    "KEY_ENV",
    "MAX_DURATION_SECONDS",
    "MAX_FILE_BYTES",
    "MAX_SKEW_SECONDS",
    "SIGNATURE_HEADER",
    "TERMINAL_STATUSES",
    "TIMESTAMP_HEADER",
    "DiarizeRequest",
    "IdentifyRequest",
    "Job",
    "JobCreated",
    "JobFailed",
    "JobNotFound",
    "JobOutput",
    "JobOutputMissing",
    "JobStatus",
    "PyannoteClient",
    "ReplayGuard",
    "Segment",
    "WebhookPayload",
    "WebhookRejected",
    "WebhookResult",
    "check_audio_limits",
    "diarizer_output",
    "handle_webhook",
    "job_completed_event",
    "score_to_probability",
    "segments_to_turns",
    "sign",
    "verify_signature",
]
