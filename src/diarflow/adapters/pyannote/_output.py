"""From a finished pyannoteAI job to diarflow's turns.

pyannoteAI reports confidences on a 0–100 scale; diarflow stores [0, 1].
A turn's confidence is the turn-level score of its own speaker
(``turnLevelConfidence``); without it, the mean of the sample-level scores
over the turn's span (``confidence``); without either, unknown.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from diarflow.adapters.diarizers.base import DiarizerOutput
from diarflow.adapters.pyannote._models import Job, SampleConfidence, Segment
from diarflow.domain.turns import Turns
from diarflow.errors import InvalidDiarization, JobFailed, JobOutputMissing, RemoteResponseInvalid, RemoteServiceError

SERVICE = "pyannoteAI"


def score_to_probability(score: float | None) -> float | None:
    """A 0–100 pyannoteAI score as a probability in [0, 1] (clamped); None stays None."""
    if score is None or not isinstance(score, int | float) or not math.isfinite(score):
        return None
    return min(1.0, max(0.0, float(score) / 100.0))


def diarizer_output(job: Job, *, model: str | None = None) -> DiarizerOutput:
    """The turns of a succeeded job; raises :class:`JobFailed` / :class:`JobOutputMissing` otherwise."""
    if job.status in ("failed", "canceled"):
        reason = job.output.error if job.output and job.output.error else "no reason given"
        raise JobFailed(f"{SERVICE}: job {job.job_id} {job.status}: {reason}", job_id=job.job_id, status=job.status)
    if job.status != "succeeded":
        raise RemoteServiceError(f"{SERVICE}: job {job.job_id} is still {job.status}; collect it once it has finished")
    output = job.output
    if output is None or output.diarization is None:
        raise JobOutputMissing(
            f"{SERVICE}: job {job.job_id} succeeded but its output is no longer available "
            "(pyannoteAI deletes it 24 h after completion); submit the job again"
        )
    samples = output.confidence
    try:
        turns = segments_to_turns(output.diarization, samples, path="output.diarization")
        exclusive = (
            segments_to_turns(output.exclusive_diarization, samples, path="output.exclusiveDiarization")
            if output.exclusive_diarization
            else None
        )
    except InvalidDiarization as exc:
        raise RemoteResponseInvalid(f"{SERVICE}: job {job.job_id} returned an unreadable diarization: {exc}") from None
    warnings = tuple(w for w in (output.warning,) if w)
    return DiarizerOutput(turns=turns, exclusive=exclusive, model=model, job_id=job.job_id, warnings=warnings)


def segments_to_turns(segments: Sequence[Segment], samples: SampleConfidence | None, *, path: str) -> Turns:
    """Turns with confidences in [0, 1]; validation errors name ``path[i].field``."""
    rows: list[dict[str, Any]] = []
    missing: list[int] = []
    for index, segment in enumerate(segments):
        confidence = None
        if segment.confidence:
            confidence = score_to_probability(segment.confidence.get(segment.speaker))
        if confidence is None:
            missing.append(index)
        rows.append({"start": segment.start, "end": segment.end, "speaker": segment.speaker, "confidence": confidence})
    if missing and samples is not None and samples.score and samples.resolution > 0:
        means = _mean_sample_scores(samples, [rows[i]["start"] for i in missing], [rows[i]["end"] for i in missing])
        for index, mean in zip(missing, means, strict=True):
            rows[index]["confidence"] = score_to_probability(mean)
    return Turns.from_segments(rows, path=path)


def _mean_sample_scores(samples: SampleConfidence, starts: list[float], ends: list[float]) -> list[float | None]:
    """Mean sample-level score inside each [start, end), by prefix sums (turns can number in the thousands)."""
    scores = np.asarray(samples.score, dtype=np.float64)
    prefix = np.r_[0.0, np.cumsum(np.nan_to_num(scores))]
    # Clipped while still floats: a turn at 1e306 s, or a resolution of 1e-300 s, would overflow int64.
    with np.errstate(all="ignore"):
        first = np.floor(np.asarray(starts, dtype=np.float64) / samples.resolution)
        last = np.ceil(np.asarray(ends, dtype=np.float64) / samples.resolution)
    lo = np.clip(np.nan_to_num(first), 0, scores.size).astype(np.int64)
    hi = np.clip(np.nan_to_num(last), 0, scores.size).astype(np.int64)
    counts = hi - lo
    sums = prefix[hi] - prefix[lo]
    return [float(s / c) if c > 0 else None for s, c in zip(sums.tolist(), counts.tolist(), strict=True)]
