"""The one exception vocabulary of diarflow.

Every error a caller can see is a :class:`DiarflowError`, defined here. Adapters
translate their dependency's exceptions (boto3, httpx, pydantic, OS errors) into
one of these families at the edge, so the pipeline, the error artifact, the CLI
and the Inngest functions speak a single language. What an error means for the
caller follows from its place in the tree, and :func:`classify` is the one place
that says it (for a class, an instance, or a type name recorded in an artifact)::

    DiarflowError
    ├── InvalidInput                 the caller must change what it sent: exit 2, never retried
    │   ├── InvalidId
    │   ├── InvalidTranscript
    │   ├── InvalidDiarization
    │   ├── InvalidCorrection
    │   ├── InvalidConfig
    │   ├── InvalidUrl
    │   ├── AudioError
    │   ├── VoiceprintNotFound
    │   └── VoiceprintExists
    ├── StorageError                 exit 1
    │   ├── ArtifactNotFound
    │   ├── AlreadyExists
    │   ├── InvalidVoiceprintEntry   (stored data, not the caller's input)
    │   ├── ArtifactLost             retryable
    │   └── StorageUnavailable       retryable
    ├── RemoteServiceError           exit 1
    │   ├── RemoteAuthenticationFailed
    │   ├── RemotePaymentRequired
    │   ├── RemoteRequestRejected
    │   │   └── JobNotFound
    │   ├── RemoteResponseInvalid
    │   ├── JobFailed
    │   ├── JobOutputMissing
    │   └── RemoteServiceUnavailable retryable
    │       └── RemoteRateLimited    retryable
    ├── RequestRejected              the HTTP service's refusals
    │   └── WebhookRejected
    ├── ClientGone
    ├── DiarizerUnavailable
    ├── EpisodeBusy                  retryable
    ├── LeaseLost                    retryable
    └── StepFailed

Messages never contain secrets: callers build them from field names, keys and
status codes, never from request headers or URLs with credentials; and every
message passes through :func:`~diarflow.redaction.redact` here as well, for
text quoted from elsewhere (a remote API's answer, a URL).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from diarflow.redaction import redact

__all__ = [
    "MAX_ERROR_MESSAGE",
    "AlreadyExists",
    "ArtifactLost",
    "ArtifactNotFound",
    "AudioError",
    "ClientGone",
    "DiarflowError",
    "DiarizerUnavailable",
    "EpisodeBusy",
    "ErrorClass",
    "InvalidConfig",
    "InvalidCorrection",
    "InvalidDiarization",
    "InvalidId",
    "InvalidInput",
    "InvalidTranscript",
    "InvalidUrl",
    "InvalidVoiceprintEntry",
    "JobFailed",
    "JobNotFound",
    "JobOutputMissing",
    "LeaseLost",
    "RemoteAuthenticationFailed",
    "RemotePaymentRequired",
    "RemoteRateLimited",
    "RemoteRequestRejected",
    "RemoteResponseInvalid",
    "RemoteServiceError",
    "RemoteServiceUnavailable",
    "RequestRejected",
    "StepFailed",
    "StorageError",
    "StorageUnavailable",
    "VoiceprintExists",
    "VoiceprintNotFound",
    "WebhookRejected",
    "classify",
    "request_id_in",
    "request_id_note",
]

MAX_ERROR_MESSAGE = 500
"""Characters of a message kept in error artifacts, failure events and Inngest step errors."""


class DiarflowError(Exception):
    """Base class of every error diarflow raises on purpose; catch it to handle them all."""

    #: Whether running the same operation again may succeed.
    retryable: ClassVar[bool] = False

    def __init__(self, message: str) -> None:
        # The last line of defence: whatever a message quotes (an API's answer, a URL), no secret survives it.
        message = redact(message)
        super().__init__(message)
        self.message = message

    @property
    def type_name(self) -> str:
        """The name recorded in error artifacts and failure events."""
        return type(self).__name__


# --- Invalid input: the caller must change what it sent ----------------------


class InvalidInput(DiarflowError):
    """An input (event, transcript, diarization, id, URL, config, audio) is malformed; fix it, do not retry.

    ``field`` names the input (``podcast_id``, ``event.data.audio_url``, a JSON
    path), never a CLI spelling: the CLI maps fields to its own option names.
    """

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}" if field else problem)
        self.field = field
        self.problem = redact(problem)


class InvalidId(InvalidInput):
    """An episode, podcast or voiceprint id does not match the id pattern; raised before any I/O."""


class InvalidTranscript(InvalidInput):
    """A transcript cannot be read; ``field`` is the JSON path of the defect."""


class InvalidDiarization(InvalidInput):
    """A diarization (from any source) cannot be read; ``field`` is the JSON path of the defect."""


class InvalidCorrection(InvalidInput):
    """A speaker correction does not fit the episode (an unknown speaker, a time range outside it)."""


class InvalidConfig(InvalidInput):
    """A configuration value (environment variable or option) is invalid; ``field`` names it."""


class InvalidUrl(InvalidInput):
    """An audio URL is not allowed by the URL policy; the message says which setting would allow it."""


class AudioError(InvalidInput):
    """The audio the caller named cannot be read: missing, not audio, or an unsupported location."""

    def __init__(self, problem: str) -> None:
        super().__init__("audio", problem)


class VoiceprintNotFound(InvalidInput):
    """No entry with that id in the podcast's registry; check the id (``diarflow voiceprints list``)."""


class VoiceprintExists(InvalidInput):
    """An entry with that id exists already (ids are never silently overwritten); choose another id."""


# --- Storage -----------------------------------------------------------------


class StorageError(DiarflowError):
    """The object store could not complete an operation; ``key`` names the object when there is one."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class ArtifactNotFound(StorageError):
    """The requested key does not exist in the store; run the step that writes it first."""


class AlreadyExists(StorageError):
    """A create-if-absent write lost the race: the key exists already."""


class InvalidVoiceprintEntry(StorageError):
    """A stored voiceprint entry cannot be read; its key is named so it can be removed or fixed.

    The registry's content is at fault, not what the caller passed: a storage
    problem (exit 1), despite the name kept for the error artifacts.
    """


class ArtifactLost(StorageError):
    """An artifact this run wrote is gone or changed before the run ended (the store was removed or
    cleaned meanwhile); a rerun writes it again."""

    retryable = True


class StorageUnavailable(StorageError):
    """The store did not answer or failed transiently; retrying may help."""

    retryable = True


# --- Remote APIs (pyannoteAI, Deepgram) ----------------------------------------


_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_REQUEST_ID_NOTE = re.compile(r"\[request id ([A-Za-z0-9][A-Za-z0-9._:-]{0,127})\]")


def request_id_note(request_id: str | None) -> str:
    """`` [request id X]``, the form a remote API's request id takes in a message (empty without one).

    Written into the message itself so the id survives wherever only a message
    travels (Inngest's step errors, failure events); :func:`request_id_in` reads it back.
    """
    return f" [request id {request_id}]" if _is_request_id(request_id) else ""


def _is_request_id(value: str | None) -> bool:
    return bool(value) and _REQUEST_ID.fullmatch(value or "") is not None and redact(value or "") == value


def request_id_in(message: str) -> str | None:
    """The request id a message quotes with :func:`request_id_note`, if any."""
    found = _REQUEST_ID_NOTE.search(message)
    return found.group(1) if found else None


class RemoteServiceError(DiarflowError):
    """A remote API refused or failed a request; ``status_code`` is its HTTP answer when it gave one.

    ``request_id`` is the id the API gave its answer (pyannoteAI's ``requestId``), kept
    so the provider's support can find the request; only an id of letters, digits and
    ``. _ : -`` is kept (it is not a secret, but it is quoted from a remote answer).
    """

    def __init__(self, message: str, *, status_code: int | None = None, request_id: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.request_id = request_id if _is_request_id(request_id) else None


class RemoteAuthenticationFailed(RemoteServiceError):
    """The API rejected our credentials (401/403): fix the key, retrying will not help."""


class RemotePaymentRequired(RemoteServiceError):
    """The account has no subscription or credit left (402): top it up or choose another diarizer."""


class RemoteRequestRejected(RemoteServiceError):
    """The API refused the request as invalid (400/404/413/422…); repeating it only burns rate limit."""


class JobNotFound(RemoteRequestRejected):
    """``GET /v1/jobs/{id}`` answered 404: the job is unknown, or its output was deleted (24 h after completion)."""


class RemoteResponseInvalid(RemoteServiceError):
    """The API answered 2xx with a body we cannot read; the raw body is not trusted."""


class JobFailed(RemoteServiceError):
    """The pyannoteAI job ended ``failed`` or ``canceled``; the message carries the API's reason."""

    def __init__(self, message: str, *, job_id: str, status: str) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.status = status


class JobOutputMissing(RemoteServiceError):
    """The job succeeded but its output is gone (deleted 24 h after completion): submit again."""


class RemoteServiceUnavailable(RemoteServiceError):
    """The API timed out, rate-limited us or failed with a 5xx; retry later."""

    retryable = True


class RemoteRateLimited(RemoteServiceUnavailable):
    """429: the service asked us to slow down, possibly saying for how long (``retry_after`` seconds)."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = 429,
        retry_after: float | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, request_id=request_id)
        self.retry_after = retry_after


# --- The HTTP service --------------------------------------------------------


class RequestRejected(DiarflowError):
    """``diarflow serve`` refuses a request before handling it; ``status`` is the HTTP answer (401, 413, …)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class WebhookRejected(RequestRejected):
    """The request is not a valid pyannoteAI webhook; answer with ``status`` and ``reason``."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(status, reason)
        self.reason = self.message


class ClientGone(DiarflowError):
    """The client closed the connection before sending its whole body; there is no one left to answer."""

    def __init__(self, received: int, declared: int | None) -> None:
        super().__init__(f"client went away after {received:,} of {declared if declared is not None else '?'} bytes")
        self.received = received
        self.declared = declared


# --- Pipeline ----------------------------------------------------------------


class DiarizerUnavailable(DiarflowError):
    """The chosen diarizer cannot run here (not installed, no key, no audio); the message says what is missing.

    ``install_command``: the command the message already gives to install what is missing, when its raiser
    records it (None otherwise), so that a caller adding its own install hint can tell whether it would repeat it.
    """

    def __init__(self, message: str, *, install_command: str | None = None) -> None:
        super().__init__(message)
        self.install_command = install_command


class EpisodeBusy(DiarflowError):
    """Another run holds the episode's lease; retry once it has finished."""

    retryable = True

    def __init__(self, episode_id: str, holder: str, until: str) -> None:
        from diarflow.contracts import keys  # here, not at the top: contracts import this module

        super().__init__(
            f"episode {episode_id} is being processed by {holder} (lease {keys.checkpoints_prefix(episode_id)}"
            f"lease.json) until {until}; wait for that run to finish, retry after {until}, "
            "or set DIARFLOW_LEASE_WAIT=<seconds> to wait for it"
        )
        self.episode_id = episode_id
        self.holder = holder
        self.until = until


class LeaseLost(DiarflowError):
    """This run's lease expired or was taken over; it stopped before writing anything more. Run it again."""

    retryable = True


class StepFailed(DiarflowError):
    """A pipeline step failed after its retries; raised by the engines.

    Carries the original error's type and retryability so the pipeline can
    record it and choose a fallback without knowing which engine ran the step;
    and the remote API's request id when the message quotes one
    (:func:`request_id_note`), whichever engine carried the message.
    """

    def __init__(self, step: str, error_type: str, message: str, *, retryable: bool, attempt: int) -> None:
        super().__init__(f"step {step} failed: {error_type}: {message}")
        self.step = step
        self.error_type = error_type
        self.cause_message = redact(message)
        self.cause_retryable = retryable
        self.attempt = attempt
        self.request_id = request_id_in(self.cause_message)


# --- What an error means for the caller ----------------------------------------


EXIT_FAILED = 1
EXIT_INVALID_INPUT = 2


@dataclass(frozen=True)
class ErrorClass:
    """How callers treat one kind of error: the CLI's exit code, Inngest's retry decision."""

    name: str
    invalid_input: bool
    """The caller's input is at fault: the CLI exits 2, Inngest never retries."""
    retryable: bool
    """Running the same operation again may succeed."""

    @property
    def exit_code(self) -> int:
        return EXIT_INVALID_INPUT if self.invalid_input else EXIT_FAILED


# Keyed by name because artifacts, events and Inngest's step errors carry only the type's name.
_BY_NAME: dict[str, type[DiarflowError]] = {
    value.__name__: value
    for value in list(globals().values())
    if isinstance(value, type) and issubclass(value, DiarflowError)
}


def classify(error: BaseException | type[BaseException] | str) -> ErrorClass:
    """What ``error`` (an exception, its class, or a recorded type name) means for the caller.

    Follows the tree: a subclass of :class:`InvalidInput` is invalid input, and
    a class's ``retryable`` says whether to retry. Anything else (another
    library's exception, a bug, a name no diarflow error has) is a failure
    that is not retried.
    """
    cls: type[BaseException] | None
    if isinstance(error, str):
        name, cls = error, _BY_NAME.get(error)
    else:
        cls = error if isinstance(error, type) else type(error)
        name = cls.__name__
    if cls is None or not issubclass(cls, DiarflowError):
        return ErrorClass(name, invalid_input=False, retryable=False)
    invalid = issubclass(cls, InvalidInput)
    return ErrorClass(name, invalid_input=invalid, retryable=cls.retryable and not invalid)
