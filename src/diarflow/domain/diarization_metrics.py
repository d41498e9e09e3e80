"""How good is a diarization? DER, JER, the word-level speaker error rate, and how right each turn is.

DER (with its false alarm, missed speech and confusion) and JER come from
pyannote.metrics, the field's reference implementation, so numbers compare
with published ones. The word-level speaker error rate is diarflow's own:
what a reader of the transcript sees — the share of reference words whose
speaker is wrong after the one-to-one speaker mapping that gets the most words
right (the Hungarian algorithm on the word confusion matrix).

Pure functions on parsed data; reading files and the store is the CLI's job.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from diarflow.contracts import MAX_SECONDS
from diarflow.domain.json_values import TIME_RANGE, is_time, shown
from diarflow.errors import DiarizerUnavailable, InvalidInput

Turn = tuple[float, float, str]
"""(start, end, speaker) in seconds."""


@dataclass(frozen=True)
class DiarizationScores:
    """DER and its parts (as shares of the reference speech time), and JER; collar in seconds."""

    der: float
    false_alarm: float
    missed: float
    confusion: float
    jer: float
    reference_speech: float
    """Seconds of reference speech (overlap counted once per speaker), DER's denominator."""
    collar: float
    reference_speakers: int
    hypothesis_speakers: int


@dataclass(frozen=True)
class WordScores:
    """Word-level speaker error rate after the best one-to-one speaker mapping."""

    error_rate: float
    words: int
    errors: int
    unattributed: int
    """Reference words the hypothesis gave no speaker (or no matching word)."""
    mapping: dict[str, str] = field(default_factory=dict)
    """Hypothesis speaker -> reference speaker."""


def parse_rttm(text: str, *, path: str = "rttm") -> list[Turn]:
    """``SPEAKER <uri> <channel> <start> <duration> <NA> <NA> <speaker> …`` lines; other lines are skipped."""
    turns: list[Turn] = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0] != "SPEAKER":
            continue
        if len(fields) < 8:
            raise InvalidInput(f"{path}:{number}", "a SPEAKER line needs at least 8 fields")
        try:
            start, duration = float(fields[3]), float(fields[4])
        except ValueError:
            raise InvalidInput(
                f"{path}:{number}", f"start and duration must be numbers, got {fields[3]!r} {fields[4]!r}"
            ) from None
        if not (math.isfinite(start) and math.isfinite(duration)) or start < 0 or duration < 0:
            raise InvalidInput(f"{path}:{number}", "start and duration must be finite and non-negative")
        if start + duration > MAX_SECONDS:
            raise InvalidInput(f"{path}:{number}", f"the turn ends at {start + duration:g} s, after {TIME_RANGE}")
        turns.append((start, start + duration, fields[7]))
    return turns


def turns_from_segments(segments: Iterable[Mapping[str, Any]]) -> list[Turn]:
    """Turns from a raw diarization's ``segments`` (already validated by its reader)."""
    return [(float(s["start"]), float(s["end"]), str(s["speaker"])) for s in segments]


Span = tuple[float, float]
"""(start, end) in seconds: one region of a UEM (the parts of a file that are scored)."""


def diarization_scores(
    reference: Sequence[Turn], hypothesis: Sequence[Turn], *, collar: float = 0.0, uem: Sequence[Span] | None = None
) -> DiarizationScores:
    """DER (false alarm, missed, confusion) and JER with pyannote.metrics; overlap is scored, not skipped.

    ``collar`` is the total width of the no-score zone around each reference boundary
    (pyannote's convention: 0.25 means ±0.125 s). ``uem``: the regions to score; without
    one, the whole extent of both, so speech outside the reference counts as false alarm.
    """
    return DiarizationScorer(collar=collar).score(reference, hypothesis, uem=uem)


class DiarizationScorer:
    """Scores files one by one and keeps pyannote.metrics' running totals over all of them.

    :meth:`total` is what pyannote.metrics reports for a set: DER = the sum of every file's
    errors over the sum of their reference speech; JER = the mean over every (file, reference
    speaker) pair. Its speaker counts are sums over the files.
    """

    def __init__(self, *, collar: float = 0.0) -> None:
        try:
            from pyannote.metrics.diarization import DiarizationErrorRate, JaccardErrorRate
        except ImportError:
            raise DiarizerUnavailable("scoring needs pyannote.metrics: pip install 'diarflow[eval]'") from None
        self.collar = collar
        self._der = DiarizationErrorRate(collar=collar, skip_overlap=False)
        self._jer = JaccardErrorRate(collar=collar, skip_overlap=False)  # type: ignore[no-untyped-call]
        self._reference_speakers = 0
        self._hypothesis_speakers = 0

    def score(
        self, reference: Sequence[Turn], hypothesis: Sequence[Turn], *, uem: Sequence[Span] | None = None
    ) -> DiarizationScores:
        """One file's scores (and add them to the totals)."""
        from pyannote.core import Segment, Timeline

        ref, hyp = _annotation(reference), _annotation(hypothesis)
        if not len(ref):
            raise InvalidInput("reference", "has no speech turns: there is nothing to score against")
        if uem is None:
            scored = Timeline([ref.get_timeline().union(hyp.get_timeline()).extent()])
        else:
            for start, end in uem:
                if not 0 <= start <= end:
                    raise InvalidInput("uem", f"a scored region needs 0 <= start <= end, got {start} {end}")
            scored = Timeline([Segment(start, end) for start, end in uem])
        detail = self._der(ref, hyp, uem=scored, detailed=True)
        jer = float(self._jer(ref, hyp, uem=scored))
        reference_speakers, hypothesis_speakers = len(ref.labels()), len(hyp.labels())
        self._reference_speakers += reference_speakers
        self._hypothesis_speakers += hypothesis_speakers
        return self._scores(detail, jer, reference_speakers, hypothesis_speakers)

    def total(self) -> DiarizationScores:
        """Scores over every file scored so far, accumulated as pyannote.metrics does."""
        detail = self._der.accumulated_
        jer = abs(self._jer) if self._jer.accumulated_["speaker count"] else 0.0
        return self._scores(
            {**detail, "diarization error rate": abs(self._der) if detail["total"] else 0.0},
            float(jer),
            self._reference_speakers,
            self._hypothesis_speakers,
        )

    def _scores(
        self, detail: Mapping[str, float], jer: float, reference_speakers: int, hypothesis_speakers: int
    ) -> DiarizationScores:
        total = float(detail["total"])
        return DiarizationScores(
            der=float(detail["diarization error rate"]),
            false_alarm=float(detail["false alarm"]) / total if total else 0.0,
            missed=float(detail["missed detection"]) / total if total else 0.0,
            confusion=float(detail["confusion"]) / total if total else 0.0,
            jer=jer,
            reference_speech=total,
            collar=self.collar,
            reference_speakers=reference_speakers,
            hypothesis_speakers=hypothesis_speakers,
        )


def _annotation(turns: Sequence[Turn]) -> Any:
    from pyannote.core import Annotation, Segment

    result = Annotation()
    for index, (start, end, speaker) in enumerate(turns):
        if end > start:
            result[Segment(start, end), index] = speaker
    return result


def parse_word_reference(document: Any, *, path: str = "words") -> list[tuple[float, float, str]]:
    """Reference words ``[{start, end, speaker, word?}]``, bare or under ``"words"``."""
    words = document.get("words") if isinstance(document, dict) else document
    if not isinstance(words, list):
        raise InvalidInput(path, 'must be a list of words or an object with a "words" list')
    parsed: list[tuple[float, float, str]] = []
    for index, word in enumerate(words):
        where = f"{path}[{index}]"
        if not isinstance(word, dict):
            raise InvalidInput(where, "must be an object with start, end and speaker")
        start, end, speaker = word.get("start"), word.get("end"), word.get("speaker")
        if not is_time(start):
            raise InvalidInput(f"{where}.start", f"must be {TIME_RANGE}, got {shown(start)}")
        if not is_time(end):
            raise InvalidInput(f"{where}.end", f"must be {TIME_RANGE}, got {shown(end)}")
        if end < start:
            raise InvalidInput(f"{where}.end", f"{end} is before start {start}")
        if speaker is None or (isinstance(speaker, str) and not speaker.strip()):
            raise InvalidInput(f"{where}.speaker", "is missing: every reference word needs its speaker")
        if not isinstance(speaker, str) and not (type(speaker) is int and abs(speaker) < 10**18):
            raise InvalidInput(f"{where}.speaker", f"must be a string (or an integer), got {shown(speaker)}")
        parsed.append((float(start), float(end), str(speaker)))
    return parsed


def word_speaker_error_rate(
    reference: Sequence[tuple[float, float, str]],
    hypothesis: Sequence[tuple[float, float, str | None]],
    *,
    tolerance: float = 0.5,
) -> WordScores:
    """Share of reference words attributed to the wrong speaker, after the best speaker mapping.

    Each reference word is matched to the hypothesis word that contains its midpoint, else the
    one whose midpoint is nearest within ``tolerance`` seconds; a word with no match, or whose
    match has no speaker, is an error. The mapping (hypothesis -> reference speaker, one to one)
    maximises the number of correctly attributed words.
    """
    if not reference:
        raise InvalidInput("words reference", "has no words")
    ref_mid = np.array([(s + e) / 2 for s, e, _ in reference])
    matched: list[str | None] = [None] * len(reference)
    if hypothesis:
        order = np.argsort([s for s, _, _ in hypothesis], kind="stable")
        hyp_start = np.array([hypothesis[i][0] for i in order])
        hyp_end = np.array([hypothesis[i][1] for i in order])
        hyp_mid = (hyp_start + hyp_end) / 2
        for r, mid in enumerate(ref_mid.tolist()):
            position = int(np.searchsorted(hyp_start, mid, side="right")) - 1
            candidates = [c for c in (position - 1, position, position + 1) if 0 <= c < len(order)]
            containing = [c for c in candidates if hyp_start[c] - 1e-6 <= mid <= hyp_end[c] + 1e-6]
            if containing:
                choice = containing[-1]
            else:
                near = [c for c in candidates if abs(hyp_mid[c] - mid) <= tolerance]
                if not near:
                    continue
                choice = min(near, key=lambda c: abs(hyp_mid[c] - mid))
            matched[r] = hypothesis[int(order[choice])][2]

    ref_names = sorted({speaker for _, _, speaker in reference})
    hyp_names = sorted({name for name in matched if name is not None})
    counts = np.zeros((len(hyp_names), len(ref_names)), dtype=np.int64)
    ref_index = {name: i for i, name in enumerate(ref_names)}
    hyp_index = {name: i for i, name in enumerate(hyp_names)}
    for (_, _, speaker), name in zip(reference, matched, strict=True):
        if name is not None:
            counts[hyp_index[name], ref_index[speaker]] += 1
    mapping: dict[str, str] = {}
    correct = 0
    if counts.size:
        from scipy.optimize import linear_sum_assignment

        rows, cols = linear_sum_assignment(-counts)
        for row, col in zip(rows.tolist(), cols.tolist(), strict=True):
            if counts[row, col] > 0:
                mapping[hyp_names[row]] = ref_names[col]
                correct += int(counts[row, col])
    unattributed = sum(name is None for name in matched)
    errors = len(reference) - correct
    return WordScores(errors / len(reference), len(reference), errors, unattributed, mapping)


def turn_accuracy(
    reference: Sequence[Turn], hypothesis: Sequence[Turn], *, uem: Sequence[Span] | None = None
) -> list[tuple[float, float]]:
    """Per hypothesis turn: its seconds (inside ``uem``) and how many of them its speaker is right.

    Right means the reference speaker its speaker maps to is speaking there, under the one-to-one
    mapping DER's confusion uses at collar 0 (pyannote.metrics' optimal mapping). What a turn's confidence
    should foretell: ``benchmarks/bench_diarization.py`` bands turn time by confidence.
    """
    try:
        from pyannote.core import Segment, Timeline
        from pyannote.metrics.diarization import DiarizationErrorRate
    except ImportError:
        raise DiarizerUnavailable("scoring needs pyannote.metrics: pip install 'diarflow[eval]'") from None

    ref, hyp = _annotation(reference), _annotation(hypothesis)
    scored = Timeline([Segment(start, end) for start, end in uem]).support() if uem is not None else None
    mapping = DiarizationErrorRate().optimal_mapping(ref, hyp, uem=scored)
    spoken = {label: ref.label_timeline(label).support() for label in ref.labels()}
    out = []
    for start, end, speaker in hypothesis:
        turn = Timeline([Segment(start, end)]) if end > start else Timeline()
        if scored is not None:
            turn = turn.crop(scored, mode="intersection")
        theirs = spoken.get(mapping.get(speaker))
        right = turn.crop(theirs, mode="intersection").duration() if theirs else 0.0
        out.append((float(turn.duration()), float(right)))
    return out


def scores_as_dict(scores: DiarizationScores | WordScores) -> dict[str, Any]:
    return asdict(scores)
