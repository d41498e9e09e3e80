"""Voice activity with silero-vad's ONNX model, through onnxruntime, streaming.

The model ships in the ``silero-vad`` wheel; we locate its file without
importing ``silero_vad`` (whose ``__init__`` imports torch). We prefer the
wheel's *sequence* export (``silero_vad_16k_sequence.onnx``), which scores a
block of 32 ms frames in one call with results identical to the frame-by-frame
model; the classic ``silero_vad.onnx`` (one call per frame) is the fallback for
wheels that lack it. Either way the LSTM state and the 64-sample context carry
over between the decoder's blocks, so a 6.7-hour file is scored in constant
memory: one probability per 32 ms frame (~750,000 floats).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from diarflow.adapters.audio_format import SAMPLE_RATE
from diarflow.domain.frames import run_edges
from diarflow.errors import DiarizerUnavailable

FRAME = 512  # samples per VAD frame (32 ms)
CONTEXT = 64  # samples of the previous frame the model sees
FRAME_SECONDS = FRAME / SAMPLE_RATE
_SEQUENCE_MODEL = "silero_vad_16k_sequence.onnx"
_FRAME_MODEL = "silero_vad.onnx"
_MAX_FRAMES_PER_CALL = 512


def find_vad_model() -> Path | None:
    """The silero-vad ONNX file inside the installed wheel (sequence export first)."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        for name in (_SEQUENCE_MODEL, _FRAME_MODEL):
            candidate = Path(location) / "data" / name
            if candidate.is_file():
                return candidate
    return None


def vad_available() -> bool:
    """Whether PyAV, onnxruntime and silero-vad's model are installed (imports nothing heavy)."""
    if any(importlib.util.find_spec(name) is None for name in ("av", "onnxruntime")):
        return False
    return find_vad_model() is not None


@dataclass
class SileroVad:
    """Streaming speech probabilities; feed blocks with :meth:`push`, then call :meth:`finish`."""

    session: Any
    sequence: bool
    _pending: NDArray[np.float32] = field(default_factory=lambda: np.zeros(0, np.float32))
    _context: NDArray[np.float32] = field(default_factory=lambda: np.zeros(CONTEXT, np.float32))
    _state: list[NDArray[np.float32]] = field(default_factory=list)
    _probabilities: list[NDArray[np.float32]] = field(default_factory=list)

    @classmethod
    def load(cls, model: Path | None = None) -> SileroVad:
        path = model or find_vad_model()
        if path is None:
            raise DiarizerUnavailable("silero-vad's ONNX model was not found: pip install 'diarflow[local]'")
        try:
            import onnxruntime as ort
        except ImportError:
            raise DiarizerUnavailable("onnxruntime is not installed: pip install 'diarflow[local]'") from None
        options = ort.SessionOptions()
        # One thread: the model is tiny, and a fixed count keeps results reproducible.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        vad = cls(session=session, sequence=path.name == _SEQUENCE_MODEL)
        vad.reset()
        return vad

    def reset(self) -> None:
        self._pending = np.zeros(0, np.float32)
        self._context = np.zeros(CONTEXT, np.float32)
        if self.sequence:
            self._state = [np.zeros((1, 1, 128), np.float32), np.zeros((1, 1, 128), np.float32)]
        else:
            self._state = [np.zeros((2, 1, 128), np.float32)]
        self._probabilities = []

    def push(self, block: NDArray[np.float32]) -> None:
        """Score every whole 32 ms frame available; keep the remainder for the next block."""
        samples = np.concatenate((self._pending, block)) if self._pending.size else block
        whole = samples.size // FRAME * FRAME
        if whole:
            self._score(samples[:whole].reshape(-1, FRAME))
        self._pending = samples[whole:].astype(np.float32, copy=True)

    def finish(self) -> NDArray[np.float32]:
        """Score the zero-padded last frame and return one probability per frame."""
        if self._pending.size:
            last = np.zeros(FRAME, np.float32)
            last[: self._pending.size] = self._pending
            self._score(last.reshape(1, FRAME))
            self._pending = np.zeros(0, np.float32)
        if not self._probabilities:
            return np.zeros(0, np.float32)
        return np.concatenate(self._probabilities)

    def _score(self, frames: NDArray[np.float32]) -> None:
        for first in range(0, len(frames), _MAX_FRAMES_PER_CALL):
            chunk = frames[first : first + _MAX_FRAMES_PER_CALL]
            contexts = np.empty((len(chunk), CONTEXT), np.float32)
            contexts[0] = self._context
            contexts[1:] = chunk[:-1, -CONTEXT:]
            self._context = chunk[-1, -CONTEXT:].copy()
            inputs = np.ascontiguousarray(np.concatenate((contexts, chunk), axis=1), dtype=np.float32)
            if self.sequence:
                probs, h, c = self.session.run(
                    ["speech_probs", "hn", "cn"], {"input": inputs, "h": self._state[0], "c": self._state[1]}
                )
                self._state = [h, c]
                self._probabilities.append(np.asarray(probs, np.float32).reshape(-1))
            else:
                out = np.empty(len(inputs), np.float32)
                sr = np.array(SAMPLE_RATE, dtype=np.int64)
                state = self._state[0]
                for i in range(len(inputs)):
                    prob, state = self.session.run(None, {"input": inputs[i : i + 1], "state": state, "sr": sr})
                    out[i] = prob[0, 0]
                self._state = [state]
                self._probabilities.append(out)


def speech_regions(
    probabilities: NDArray[np.float32],
    *,
    threshold: float = 0.5,
    min_speech: float = 0.25,
    min_silence: float = 0.1,
    pad: float = 0.03,
    duration: float | None = None,
) -> NDArray[np.float64]:
    """(n, 2) speech [start, end] seconds from frame probabilities, with hysteresis.

    A frame above ``threshold`` starts speech; speech ends when probability drops
    below ``threshold - 0.15`` for ``min_silence``; shorter-than-``min_speech``
    regions are dropped and the rest padded by ``pad`` (silero's defaults).
    With ``duration`` (seconds of audio), no region ends after it: the last frame
    is zero-padded, so without it the last region may run past the audio's end.
    """
    if probabilities.size == 0:
        return np.zeros((0, 2))
    negative = max(threshold - 0.15, 0.01)
    # Hysteresis as a vectorised two-threshold state machine: state flips on at >= threshold
    # and off at < negative; in between it keeps its previous value (forward fill).
    on = probabilities >= threshold
    off = probabilities < negative
    marks = np.where(on, 1, np.where(off, 0, -1))
    last_mark = np.where(marks >= 0, np.arange(marks.size), -1)
    np.maximum.accumulate(last_mark, out=last_mark)
    state = (last_mark >= 0) & (marks[np.maximum(last_mark, 0)] == 1)
    first, after = run_edges(state)
    starts = first * FRAME_SECONDS
    ends = after * FRAME_SECONDS
    if starts.size == 0:
        return np.zeros((0, 2))
    # Close short silences, then drop short speech, then pad.
    keep = np.concatenate(([True], starts[1:] - ends[:-1] >= min_silence))
    merged_starts = starts[keep]
    merged_ends = np.maximum.reduceat(ends, np.flatnonzero(keep))
    long_enough = merged_ends - merged_starts >= min_speech
    regions = np.stack((merged_starts[long_enough], merged_ends[long_enough]), axis=1)
    total = probabilities.size * FRAME_SECONDS
    regions[:, 0] = np.maximum(regions[:, 0] - pad, 0.0)
    regions[:, 1] = np.minimum(regions[:, 1] + pad, total)
    if duration is not None:
        regions[:, 1] = np.minimum(regions[:, 1], duration)
    return regions
