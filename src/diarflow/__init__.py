"""diarflow: speaker-attributed podcast transcripts, S3-first, durable on Inngest or local.

The Python API is what this module exports (``__all__``)::

    import diarflow

    store = diarflow.open_store("./diarflow-data")
    sample = diarflow.sample_episode()
    result = diarflow.run(store, sample.episode_id, sample.transcript, audio=sample.audio)
    transcript = diarflow.read_enriched_transcript(store, sample.episode_id)
    print(diarflow.export(store, sample.episode_id, "txt"))

Importing it is cheap: the functions and types load what they need on first
use (torch only when a diarizer that needs it runs). Every exception is a
:class:`DiarflowError`; the whole tree is in :mod:`diarflow.errors` (and each
class is reachable here too, as ``diarflow.EpisodeBusy``). The layers behind
it (``contracts``, ``domain``, ``adapters``, ``orchestration``, ``cli``,
``service``) are described in ``docs/architecture.md``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from diarflow import errors
from diarflow.errors import DiarflowError, InvalidInput, RemoteServiceError, StorageError

if TYPE_CHECKING:
    from diarflow.adapters.stores import ObjectStore
    from diarflow.api import export, open_store, read_enriched_transcript, run
    from diarflow.config import Settings
    from diarflow.contracts import EnrichedTranscript, EnrichedWord, PipelineResult, SpeakerEntry
    from diarflow.domain.exports import CaptionOptions
    from diarflow.samples import SampleEpisode, sample_episode

__version__ = "0.1.0"

__all__ = [
    "CaptionOptions",
    "DiarflowError",
    "EnrichedTranscript",
    "EnrichedWord",
    "InvalidInput",
    "ObjectStore",
    "PipelineResult",
    "RemoteServiceError",
    "SampleEpisode",
    "Settings",
    "SpeakerEntry",
    "StorageError",
    "__version__",
    "export",
    "open_store",
    "read_enriched_transcript",
    "run",
    "sample_episode",
]

_LAZY = {
    "CaptionOptions": "diarflow.domain.exports",
    "EnrichedTranscript": "diarflow.contracts",
    "EnrichedWord": "diarflow.contracts",
    "ObjectStore": "diarflow.adapters.stores",
    "PipelineResult": "diarflow.contracts",
    "SampleEpisode": "diarflow.samples",
    "Settings": "diarflow.config",
    "SpeakerEntry": "diarflow.contracts",
    "export": "diarflow.api",
    "open_store": "diarflow.api",
    "read_enriched_transcript": "diarflow.api",
    "run": "diarflow.api",
    "sample_episode": "diarflow.samples",
}
"""Where each exported name lives; imported on first use, since pydantic and numpy take a while to load."""


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # later lookups skip this function
        return value
    if name in errors.__all__:  # every exception class, not only the bases listed in __all__
        return getattr(errors, name)
    raise AttributeError(f"module 'diarflow' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
