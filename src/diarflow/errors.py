"""The one exception vocabulary of diarflow.

Every error a caller can see is a :class:`DiarflowError`. Adapters translate
their dependency's exceptions (boto3, httpx, pydantic, OS errors) into one of
these families at the edge, so the pipeline, the error artifact and the CLI
speak a single language and always know whether retrying can help.

Messages never contain secrets: callers build them from field names, keys and
status codes, never from request headers or URLs with credentials; and every
message passes through :func:`~diarflow.redaction.redact` here as well, for
text quoted from elsewhere (a remote API's answer, a URL).
"""

from __future__ import annotations

from typing import ClassVar

from diarflow.redaction import redact


class DiarflowError(Exception):
    """Base class of every error diarflow raises on purpose."""

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
    """An input (event, transcript, diarization, id, URL, config) is malformed."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}" if field else problem)
        self.field = field
        self.problem = redact(problem)


class InvalidId(InvalidInput):
    """An episode, podcast or voiceprint id does not match the id pattern."""


class InvalidTranscript(InvalidInput):
    """A transcript cannot be read; ``field`` is the JSON path of the defect."""


class InvalidDiarization(InvalidInput):
    """A diarization (from any source) cannot be read."""


class InvalidConfig(InvalidInput):
    """A configuration value (environment variable or option) is invalid."""


# --- Storage -----------------------------------------------------------------


class StorageError(DiarflowError):
    """The object store could not complete an operation."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class ArtifactNotFound(StorageError):
    """The requested key does not exist in the store."""


class AlreadyExists(StorageError):
    """A create-if-absent write lost the race: the key exists already."""


class ArtifactLost(StorageError):
    """An artifact this run wrote is gone or changed before the run ended (the store was removed or
    cleaned meanwhile); a rerun writes it again."""

    retryable = True


class StorageUnavailable(StorageError):
    """The store did not answer or failed transiently; retrying may help."""

    retryable = True


# --- Remote APIs (pyannoteAI, Deepgram) ----------------------------------------


class RemoteServiceError(DiarflowError):
    """A remote API refused or failed a request."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class RemoteServiceUnavailable(RemoteServiceError):
    """The API timed out, rate-limited us or failed with a 5xx; retry later."""

    retryable = True


# --- The HTTP service --------------------------------------------------------


class RequestRejected(DiarflowError):
    """``diarflow serve`` refuses a request before handling it; ``status`` is the HTTP answer (401, 413, …)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


# --- Pipeline ----------------------------------------------------------------


class DiarizerUnavailable(DiarflowError):
    """The chosen diarizer cannot run here (not installed, no key, no audio)."""


class StepFailed(DiarflowError):
    """A pipeline step failed after its retries; raised by the engines.

    Carries the original error's type and retryability so the pipeline can
    record it and choose a fallback without knowing which engine ran the step.
    """

    def __init__(self, step: str, error_type: str, message: str, *, retryable: bool, attempt: int) -> None:
        super().__init__(f"step {step} failed: {error_type}: {message}")
        self.step = step
        self.error_type = error_type
        self.cause_message = redact(message)
        self.cause_retryable = retryable
        self.attempt = attempt

    @property
    def is_invalid_input(self) -> bool:
        """True when the step failed because its input was malformed."""
        return self.error_type in _INVALID_INPUT_NAMES


_INVALID_INPUT_NAMES = frozenset(
    cls.__name__ for cls in (InvalidInput, InvalidId, InvalidTranscript, InvalidDiarization, InvalidConfig)
)
