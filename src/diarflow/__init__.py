"""diarflow: speaker-attributed podcast transcripts, S3-first, durable on Inngest or local.

The public API is what this module exports; submodules are organised by layer
(``contracts``, ``domain``, ``adapters``, ``orchestration``, ``cli``,
``service``) as described in ``docs/architecture.md``.
"""

from diarflow import errors
from diarflow.errors import *  # noqa: F403  (the whole exception tree is public API; errors.__all__ curates it)

__version__ = "0.1.0"

__all__ = [*errors.__all__, "__version__"]
