"""From a finished pyannoteAI job to diarflow's turns.

pyannoteAI reports confidences on a 0–100 scale; diarflow stores [0, 1].
A turn's confidence is the turn-level score of its own speaker
(``turnLevelConfidence``); without it, the mean of the sample-level scores
over the turn's span (``confidence``); without either, unknown.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import ValidationError

from diarflow.adapters.diarizers.base import DiarizerOutput
from diarflow.adapters.pyannote._models import Job, SampleConfidence, Segment
from diarflow.contracts.voiceprints import IdentifiedSegment, VoiceprintMatch
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


def identification_output(job: Job, labels: Mapping[str, str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``/v1/identify``'s ``voiceprints[]`` and ``identification[]``, labels turned back into voiceprint ids.

    ``labels`` maps each label sent to its voiceprint id. Returns
    (:class:`~diarflow.contracts.VoiceprintMatch` dicts, :class:`~diarflow.contracts.IdentifiedSegment`
    dicts), scores scaled to [0, 1]. What contradicts the request or itself is refused with
    :class:`RemoteResponseInvalid` naming the field (``output.voiceprints[1].match``): a label
    never sent, a speaker the diarization does not have, a turn matched to another voiceprint
    than its speaker's.
    """
    output = job.output
    if output is None:
        return [], []
    speakers = {segment.speaker for segment in output.diarization or ()}

    def refuse(path: str, problem: str) -> RemoteResponseInvalid:
        return RemoteResponseInvalid(
            f"{SERVICE}: job {job.job_id} returned an unreadable identification: {path}: {problem}"
        )

    def known(label: str, path: str) -> str:
        if label not in labels:
            raise refuse(path, f"{_shown(label)} is not a voiceprint label this job was sent")
        return labels[label]

    matches: list[dict[str, Any]] = []
    matched: dict[str, str] = {}
    for index, item in enumerate(output.voiceprints or ()):
        path = f"output.voiceprints[{index}]"
        if speakers and item.speaker not in speakers:
            raise refuse(f"{path}.speaker", f"{_shown(item.speaker)} is not a speaker of output.diarization")
        if item.speaker in matched:
            raise refuse(f"{path}.speaker", f"{_shown(item.speaker)} is listed twice")
        matched[item.speaker] = known(item.match, f"{path}.match")
        scores = {}
        for label, score in item.confidence.items():
            probability = score_to_probability(score)
            if probability is None:
                raise refuse(f"{path}.confidence.{label}", "must be a finite score from 0 to 100")
            scores[known(label, f"{path}.confidence")] = probability
        matches.append(VoiceprintMatch(speaker=item.speaker, match=matched[item.speaker], scores=scores).to_json_dict())

    segments: list[dict[str, Any]] = []
    for index, segment in enumerate(output.identification or ()):
        path = f"output.identification[{index}]"
        speaker = segment.diarization_speaker
        if speakers and speaker not in speakers:
            raise refuse(f"{path}.diarizationSpeaker", f"{_shown(speaker)} is not a speaker of output.diarization")
        match = None
        if segment.match is not None:
            match = known(segment.match, f"{path}.match")
            if speaker in matched and match != matched[speaker]:
                raise refuse(
                    f"{path}.match",
                    f"{_shown(segment.match)} contradicts output.voiceprints (another match for {_shown(speaker)})",
                )
        scores = segment.confidence or {}
        raw = scores.get(speaker, scores.get(segment.speaker or speaker))
        confidence = score_to_probability(raw)
        if raw is not None and confidence is None:
            raise refuse(f"{path}.confidence.{speaker}", "must be a finite score from 0 to 100")
        row = {"speaker": speaker, "start": segment.start, "end": segment.end, "match": match, "confidence": confidence}
        try:
            segments.append(IdentifiedSegment.model_validate(row).to_json_dict())
        except ValidationError as exc:
            first = exc.errors()[0]
            raise refuse(f"{path}.{first['loc'][0] if first['loc'] else 'end'}", first["msg"]) from None
    return matches, segments


def _shown(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:57] + "...")
