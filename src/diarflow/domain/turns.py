"""Speaker turns: the diarization as columns, in the field's vocabulary.

A *turn* is a segment of time attributed to one diarization speaker
(pyannote's ``Annotation`` track). :class:`Turns` keeps them as numpy columns
so that stats, clustering and alignment stay vectorised at 10,000+ turns.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from diarflow.contracts._base import MAX_SECONDS
from diarflow.domain.json_values import TIME_RANGE, is_finite, is_time, shown
from diarflow.errors import InvalidDiarization


@dataclass(frozen=True, eq=False)
class Turns:
    """Turns sorted by start; ``speakers`` index into ``speaker_names``; NaN confidence = unknown."""

    starts: NDArray[np.float64]
    ends: NDArray[np.float64]
    speakers: NDArray[np.int64]
    confidences: NDArray[np.float64]
    speaker_names: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.starts.size)

    @property
    def durations(self) -> NDArray[np.float64]:
        return self.ends - self.starts

    @property
    def speech_time(self) -> float:
        """Sum of turn durations: the pipeline result's ``stats.duration`` (README, "What you get")."""
        return float(self.durations.sum())

    @property
    def num_speakers(self) -> int:
        # bincount, not np.unique: unique imports numpy.ma (~30 ms) on first use, on the CLI's hot path.
        return int(np.count_nonzero(np.bincount(self.speakers))) if self.speakers.size else 0

    @classmethod
    def empty(cls) -> Turns:
        return cls(np.empty(0), np.empty(0), np.empty(0, dtype=np.int64), np.empty(0), ())

    @classmethod
    def from_columns(
        cls,
        starts: Sequence[float] | NDArray[np.float64],
        ends: Sequence[float] | NDArray[np.float64],
        speakers: Sequence[str],
        confidences: Sequence[float | None] | NDArray[np.float64] | None = None,
    ) -> Turns:
        """Build from parallel columns; speaker names keep first-appearance order."""
        start_array = np.asarray(starts, dtype=np.float64)
        end_array = np.asarray(ends, dtype=np.float64)
        numbering: dict[str, int] = {}
        speaker_ids = np.fromiter(
            (numbering.setdefault(s, len(numbering)) for s in speakers), dtype=np.int64, count=len(speakers)
        )
        if confidences is None:
            confidence_array = np.full(start_array.size, np.nan)
        else:
            confidence_array = np.array([np.nan if c is None else c for c in confidences], dtype=np.float64)
        order = np.lexsort((end_array, start_array))
        return cls(start_array[order], end_array[order], speaker_ids[order], confidence_array[order], tuple(numbering))

    @classmethod
    def from_segments(cls, segments: Iterable[Mapping[str, Any]], *, path: str = "segments") -> Turns:
        """Read ``[{start, end, speaker, confidence?}]`` dicts, validating each one."""
        segments = list(segments)
        clean = _clean_columns(segments)
        if clean is not None:
            return cls.from_columns(*clean)
        # Something is off: the per-segment reading below names the first defect.
        starts: list[float] = []
        ends: list[float] = []
        speakers: list[str] = []
        confidences: list[float | None] = []
        for index, segment in enumerate(segments):
            where = f"{path}[{index}]"
            if not isinstance(segment, Mapping):
                raise InvalidDiarization(where, "must be an object")
            start = _time(segment, "start", where)
            end = _time(segment, "end", where)
            if end < start:
                raise InvalidDiarization(f"{where}.end", f"{end} is before start {start}")
            if "speaker" not in segment:
                raise InvalidDiarization(f"{where}.speaker", "is missing")
            speaker = segment.get("speaker")
            if not isinstance(speaker, str) or not speaker.strip():
                raise InvalidDiarization(f"{where}.speaker", "must be a non-empty string")
            confidence = segment.get("confidence")
            if confidence is not None and (
                type(confidence) not in (int, float) or not is_finite(confidence) or not 0 <= confidence <= 1
            ):
                raise InvalidDiarization(
                    f"{where}.confidence", f"must be null or between 0 and 1, got {shown(confidence)}"
                )
            starts.append(start)
            ends.append(end)
            speakers.append(speaker)
            confidences.append(None if confidence is None else float(confidence))
        return cls.from_columns(starts, ends, speakers, confidences)

    def to_segments(self) -> list[dict[str, Any]]:
        """The ``segments`` list of a raw diarization artifact."""
        names = self.speaker_names
        return [
            {"start": start, "end": end, "speaker": names[speaker], "confidence": None if conf != conf else conf}
            for start, end, speaker, conf in zip(
                self.starts.tolist(), self.ends.tolist(), self.speakers.tolist(), self.confidences.tolist(), strict=True
            )
        ]


_SEGMENT_FIELDS = operator.itemgetter("start"), operator.itemgetter("end"), operator.itemgetter("speaker")


def _clean_columns(
    segments: list[Any],
) -> tuple[NDArray[np.float64], NDArray[np.float64], list[str], list[Any]] | None:
    """Columns of segments that pass every check of ``from_segments``, read in C-level passes; else None."""
    if not segments or set(map(type, segments)) != {dict}:
        return None
    try:
        starts, ends, speakers = (list(map(field, segments)) for field in _SEGMENT_FIELDS)
    except KeyError:
        return None
    confidences = [segment.get("confidence") for segment in segments]
    if not set(map(type, starts)) | set(map(type, ends)) <= {int, float} or set(map(type, speakers)) != {str}:
        return None
    if not set(map(type, confidences)) <= {int, float, type(None)} or not all(s.strip() for s in set(speakers)):
        return None
    try:
        start_array = np.array(starts, dtype=np.float64)
        end_array = np.array(ends, dtype=np.float64)
        confidence_array = np.array(confidences, dtype=np.float64)  # None reads as NaN
    except OverflowError:
        return None
    given = np.array([c is not None for c in confidences])
    # start <= end <= MAX_SECONDS; NaN and infinity fail the comparisons.
    if not ((start_array >= 0).all() and (end_array >= start_array).all() and (end_array <= MAX_SECONDS).all()):
        return None
    if not ((confidence_array[given] >= 0) & (confidence_array[given] <= 1)).all():  # NaN, inf fail too
        return None
    return start_array, end_array, speakers, confidences


def _time(segment: Mapping[str, Any], name: str, where: str) -> float:
    if name not in segment:
        raise InvalidDiarization(f"{where}.{name}", "is missing")
    value = segment[name]
    if not is_time(value):
        raise InvalidDiarization(f"{where}.{name}", f"must be {TIME_RANGE}, got {shown(value)}")
    return float(value)
