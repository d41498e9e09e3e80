"""The embedded offline diarizer (``--diarizer local``; extra ``diarflow[local]``).

Importing this package is cheap: torch, onnxruntime and PyAV load only when
:func:`load_local_diarizer` builds a diarizer.
"""

from diarflow.adapters.diarizers.local.diarizer import (
    LocalDiarizer,
    StderrProgress,
    load_local_diarizer,
    local_diarizer_available,
)

__all__ = ["LocalDiarizer", "StderrProgress", "load_local_diarizer", "local_diarizer_available"]
