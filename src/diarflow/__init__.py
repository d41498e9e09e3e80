"""diarflow: speaker-attributed podcast transcripts, S3-first, durable on Inngest or local.

The public API is what this module exports; submodules are organised by layer
(``contracts``, ``domain``, ``adapters``, ``orchestration``, ``cli``,
``service``) as described in ``docs/architecture.md``.
"""

from diarflow.errors import (
    AlreadyExists,
    ArtifactNotFound,
    DiarflowError,
    DiarizerUnavailable,
    InvalidConfig,
    InvalidDiarization,
    InvalidId,
    InvalidInput,
    InvalidTranscript,
    RemoteServiceError,
    RemoteServiceUnavailable,
    StepFailed,
    StorageError,
    StorageUnavailable,
)

__version__ = "0.1.0"

__all__ = [
    "AlreadyExists",
    "ArtifactNotFound",
    "DiarflowError",
    "DiarizerUnavailable",
    "InvalidConfig",
    "InvalidDiarization",
    "InvalidId",
    "InvalidInput",
    "InvalidTranscript",
    "RemoteServiceError",
    "RemoteServiceUnavailable",
    "StepFailed",
    "StorageError",
    "StorageUnavailable",
    "__version__",
]
