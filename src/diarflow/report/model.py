"""What the report shows, computed from the artifacts: pure functions on plain data.

The artifacts arrive as parsed JSON (dicts). The large ones (the enriched
transcript, the raw diarization) are read leniently into columns so that one
odd value degrades a word or a turn, not the whole page (the words by
:func:`~diarflow.domain.enriched_words.read_enriched_words`, as exports and
``diarflow show`` read them); the small ones (audit, error) are validated with
their contract models, and a problem with any of them becomes a note on the
page instead of an exception.

Times in the columns are integer milliseconds, confidences integer percent:
compact to embed and exact enough to display.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import numpy as np

from diarflow.contracts import MAX_CHANNELS, AuditArtifact, ErrorArtifact, RunStatus, parse_contract
from diarflow.domain.alignment import DEFAULT_GAP_TOLERANCE
from diarflow.domain.enriched_words import EnrichedColumns, lenient_probability, milliseconds, read_enriched_words
from diarflow.domain.exports.episode import strip_controls
from diarflow.domain.json_values import is_time, shown
from diarflow.domain.text import ends_sentence, word_spacing
from diarflow.errors import InvalidInput

LOW_CONFIDENCE_BELOW = 0.6
"""A word whose ``speaker_confidence`` is below this is marked as low confidence."""

PARAGRAPH_SOFT_WORDS = 90
"""A paragraph of one speaker is split at the next sentence end after this many words…"""
PARAGRAPH_HARD_WORDS = 220
"""…and unconditionally at this many, so that every paragraph renders quickly."""
PARAGRAPH_PAUSE_SECONDS = 4.0
"""A pause this long within one speaker's speech starts a new paragraph."""

UNATTRIBUTED = -1
"""Speaker index of a word (or a turn) that no speaker covers."""

WORD_LOW_CONFIDENCE = 1
"""Flag bit: ``speaker_confidence`` is below the low-confidence threshold."""
WORD_HAS_ALTERNATIVES = 2
"""Flag bit: the word lists alternative speakers."""
WORD_JOINS_PREVIOUS = 4
"""Flag bit: no space before this word, as in ``這不雞配`` (see :func:`~diarflow.domain.text.word_spacing`).

A bit rather than a column: an English transcript, which never sets it,
embeds exactly as before, and a Chinese one costs no extra byte per word.
"""

PALETTE = (
    "#2563eb",  # blue
    "#ea580c",  # orange
    "#059669",  # green
    "#db2777",  # pink
    "#7c3aed",  # violet
    "#0891b2",  # cyan
    "#ca8a04",  # amber
    "#dc2626",  # red
    "#4d7c0f",  # olive
    "#9333ea",  # purple
)
"""Speaker colours, distinguishable from each other and legible on white."""

ContractT = TypeVar("ContractT", AuditArtifact, ErrorArtifact)


@dataclass(frozen=True, slots=True)
class Speaker:
    """One lane of the timeline: a speaker as the editor knows them."""

    name: str
    labels: tuple[str, ...]
    """Canonical cluster labels (``A``, ``B``…) shown under this name."""
    diar_speakers: tuple[str, ...]
    """The diarizer's own keys for those clusters."""
    identified: bool
    color: str
    talk_seconds: float
    """Speaking time: the union of this speaker's turns (overlapping turns count once)."""
    share: float
    """``talk_seconds`` over the sum of every speaker's talk time (shares add up to 1)."""
    word_count: int
    turn_count: int
    channels: tuple[int, ...] = ()
    """The tracks (0-based channels) of a multichannel recording this speaker's clusters were recorded on."""
    named_by: str | None = None
    """Who gave this speaker its name in a correction (the audit's ``namedBy``); ``None``: not named by hand."""


@dataclass(frozen=True, slots=True)
class TurnColumns:
    """Timeline bars sorted by start; ``speaker`` indexes :attr:`ReportModel.speakers` (-1: unattributed)."""

    start_ms: list[int] = field(default_factory=list)
    end_ms: list[int] = field(default_factory=list)
    speaker: list[int] = field(default_factory=list)
    confidence_pct: list[int] = field(default_factory=list)
    """-1 when the turn has no confidence."""

    def __len__(self) -> int:
        return len(self.start_ms)


@dataclass(frozen=True, slots=True)
class WordColumns:
    """The transcript in reading order, one entry per word in every column."""

    text: list[str] = field(default_factory=list)
    start_ms: list[int] = field(default_factory=list)
    end_ms: list[int] = field(default_factory=list)
    speaker: list[int] = field(default_factory=list)
    confidence_pct: list[int] = field(default_factory=list)
    flags: list[int] = field(default_factory=list)
    """Bits :data:`WORD_LOW_CONFIDENCE`, :data:`WORD_HAS_ALTERNATIVES` and :data:`WORD_JOINS_PREVIOUS`."""
    alternatives: dict[int, list[tuple[str, int]]] = field(default_factory=dict)
    """Word index → [(speaker as written in the artifact, confidence percent)]."""
    paragraph_starts: list[int] = field(default_factory=list)
    """Index of the first word of each paragraph; the transcript renders paragraph by paragraph."""

    def __len__(self) -> int:
        return len(self.text)


@dataclass(frozen=True, slots=True)
class ReportModel:
    """Everything the page shows, independent of how it is drawn."""

    episode_id: str
    source: str | None
    status: RunStatus
    created_at: str | None
    duration_seconds: float
    speakers: list[Speaker]
    turns: TurnColumns
    turns_from: Literal["diarization", "transcript", "none"]
    """Where the timeline's bars come from: the raw diarization, or runs of words when it is absent."""
    words: WordColumns
    unattributed_words: int
    low_confidence_words: int
    low_confidence_below: float
    diarization_model: str | None
    diarization_job_id: str | None
    diarization_warnings: list[str]
    audit: AuditArtifact | None
    error: ErrorArtifact | None
    error_raw: Any
    """The error artifact as stored, shown verbatim when it does not match the contract."""
    notes: list[str]
    """Problems met while reading the artifacts (shown at the top of the page)."""

    @property
    def has_transcript(self) -> bool:
        return len(self.words) > 0


def build_report_model(
    episode_id: str,
    enriched: Mapping[str, Any] | None,
    diarization: Mapping[str, Any] | None,
    audit: Mapping[str, Any] | None,
    error: Any,
    *,
    low_confidence_below: float = LOW_CONFIDENCE_BELOW,
    notes: Sequence[str] = (),
) -> ReportModel:
    """Read the artifacts of one run into a :class:`ReportModel`.

    Any artifact may be missing (``None``): a failed run may have only its
    error artifact, and the page still shows what there is. ``notes`` are
    problems the caller met while reading them, shown at the top of the page.
    """
    notes = list(notes)
    audit_model = _validated(AuditArtifact, audit, "audit", notes)
    error_model = _validated(ErrorArtifact, error, "error", notes)

    directory = _SpeakerDirectory(enriched, audit_model)
    words = _read_words(enriched, directory, low_confidence_below, notes)
    segments = _segments_of(diarization, notes)
    turns_from: Literal["diarization", "transcript", "none"]
    if segments:
        turns = _turns_from_segments(segments, directory)
        turns_from = "diarization"
    elif len(words):
        turns = _turns_from_words(words, _gap_tolerance(audit_model))
        turns_from = "transcript"
    else:
        turns, turns_from = TurnColumns(), "none"
    if len(words) and segments:
        # Words no turn covers still deserve a bar, in the unattributed lane.
        unattributed_only = _turns_from_words(words, _gap_tolerance(audit_model), only_speaker=UNATTRIBUTED)
        turns = _merge_turns(turns, unattributed_only)

    speakers = directory.summarise(turns, words)
    duration = max(
        [0.0] + ([max(turns.end_ms) / 1000] if len(turns) else []) + ([max(words.end_ms) / 1000] if len(words) else [])
    )
    return ReportModel(
        episode_id=episode_id,
        source=_first_text(enriched, diarization, audit, key="source"),
        status=run_status(error),
        created_at=_first_text(enriched, diarization, audit, key="created_at"),
        duration_seconds=duration,
        speakers=speakers,
        turns=turns,
        turns_from=turns_from,
        words=words,
        unattributed_words=sum(1 for s in words.speaker if s == UNATTRIBUTED),
        low_confidence_words=sum(1 for f in words.flags if f & WORD_LOW_CONFIDENCE),
        low_confidence_below=low_confidence_below,
        diarization_model=_text_field(diarization, "model"),
        diarization_job_id=_text_field(diarization, "job_id"),
        diarization_warnings=[w if isinstance(w, str) else shown(w) for w in _list_field(diarization, "warnings")],
        audit=audit_model,
        error=error_model,
        error_raw=error,
        notes=notes,
    )


def run_status(error: Any) -> RunStatus:
    """The run's status: the error artifact's ``status`` when there is one, else ``completed``."""
    if isinstance(error, Mapping) and error.get("status") in ("failed", "partial"):
        return "failed" if error["status"] == "failed" else "partial"
    return "completed"


def speech_time(intervals: Sequence[tuple[float, float]]) -> float:
    """Length of the union of ``[start, end]`` intervals: overlapping speech counts once."""
    total = 0.0
    run_start = run_end = -math.inf
    for start, end in sorted(intervals):
        if start > run_end:  # a new run begins: bank the previous one
            total += run_end - run_start if run_end > -math.inf else 0.0
            run_start, run_end = start, end
        else:
            run_end = max(run_end, end)
    return total + (run_end - run_start if run_end > -math.inf else 0.0)


def speaker_color(index: int) -> str:
    """The colour of the ``index``-th speaker: the palette, then evenly spread hues."""
    if index < len(PALETTE):
        return PALETTE[index]
    hue = (index * 137.508) % 360  # golden angle: successive hues stay far apart
    return f"hsl({hue:.0f} 62% 42%)"


# --- speakers --------------------------------------------------------------------------


class _SpeakerDirectory:
    """Display names by diarization speaker, in first-appearance order; grows as names turn up."""

    def __init__(self, enriched: Mapping[str, Any] | None, audit: AuditArtifact | None) -> None:
        self.names: list[str] = []
        self._index: dict[str, int] = {}
        self._labels: dict[int, list[str]] = {}
        self._diar_keys: dict[int, list[str]] = {}
        self._identified: dict[int, bool] = {}
        self._channels: dict[int, list[int]] = {}
        self._by_diar_speaker: dict[str, int] = {}
        self._named_by: dict[int, str] = {}
        for entry in _list_field(enriched, "speakers"):
            if not isinstance(entry, Mapping) or not isinstance(entry.get("speaker"), str):
                continue
            index = self.index_of(entry["speaker"])
            self._add_cluster(
                index,
                entry.get("diar_speaker"),
                entry.get("label"),
                bool(entry.get("identified")),
                entry.get("channel"),
            )
        for cluster in audit.clusters if audit else []:
            if cluster.speaker_key in self._by_diar_speaker:
                index = self._by_diar_speaker[cluster.speaker_key]
            else:
                index = self.index_of(cluster.mapped_to or cluster.label)
                self._add_cluster(
                    index, cluster.speaker_key, cluster.label, cluster.mapped_to is not None, cluster.channel
                )
            if cluster.named_by is not None:
                self._named_by.setdefault(index, cluster.named_by.author)

    def _add_cluster(self, index: int, diar_speaker: Any, label: Any, identified: bool, channel: Any = None) -> None:
        if isinstance(diar_speaker, str):
            self._by_diar_speaker.setdefault(diar_speaker, index)
            _append_new(self._diar_keys.setdefault(index, []), diar_speaker)
        if isinstance(label, str) and label:
            _append_new(self._labels.setdefault(index, []), label)
        if type(channel) is int and 0 <= channel < MAX_CHANNELS:  # read leniently: an odd value shows no track
            _append_new(self._channels.setdefault(index, []), channel)
        self._identified[index] = self._identified.get(index, False) or identified

    def index_of(self, name: str) -> int:
        """The index of a display name, adding it when new."""
        index = self._index.get(name)
        if index is None:
            index = self._index[name] = len(self.names)
            self.names.append(name)
        return index

    def index_of_diar_speaker(self, diar_speaker: str) -> int:
        """The display index of a diarizer's speaker key (its own name when no artifact maps it)."""
        index = self._by_diar_speaker.get(diar_speaker)
        if index is None:
            index = self.index_of(diar_speaker)
            self._add_cluster(index, diar_speaker, None, False)
        return index

    def summarise(self, turns: TurnColumns, words: WordColumns) -> list[Speaker]:
        intervals: list[list[tuple[float, float]]] = [[] for _ in self.names]
        turn_counts = [0] * len(self.names)
        for start, end, speaker in zip(turns.start_ms, turns.end_ms, turns.speaker, strict=True):
            if speaker != UNATTRIBUTED:
                intervals[speaker].append((start / 1000, end / 1000))
                turn_counts[speaker] += 1
        word_counts = [0] * len(self.names)
        for speaker in words.speaker:
            if speaker != UNATTRIBUTED:
                word_counts[speaker] += 1
        talk = [speech_time(spans) for spans in intervals]
        total_talk = sum(talk)
        return [
            Speaker(  # names shown as text: without control characters, like the words
                name=strip_controls(name),
                labels=tuple(map(strip_controls, self._labels.get(index, []))),
                diar_speakers=tuple(map(strip_controls, self._diar_keys.get(index, []))),
                identified=self._identified.get(index, False),
                color=speaker_color(index),
                talk_seconds=talk[index],
                share=talk[index] / total_talk if total_talk > 0 else 0.0,
                word_count=word_counts[index],
                turn_count=turn_counts[index],
                channels=tuple(sorted(self._channels.get(index, []))),
                named_by=_shown_or_none(self._named_by.get(index)),
            )
            for index, name in enumerate(self.names)
        ]


def _shown_or_none(text: str | None) -> str | None:
    return None if text is None else strip_controls(text)


def _append_new(values: list[Any], value: Any) -> None:
    if value not in values:
        values.append(value)


# --- words -------------------------------------------------------------------------------


def _read_words(
    enriched: Mapping[str, Any] | None,
    directory: _SpeakerDirectory,
    low_confidence_below: float,
    notes: list[str],
) -> WordColumns:
    words = read_enriched_words(enriched, lenient=True)
    if words.skipped:
        notes.append(f"{words.skipped} word(s) of the enriched transcript have no valid start/end and are not shown.")
    columns = _word_columns(words, directory, low_confidence_below)
    _mark_joined_words(columns)
    columns.paragraph_starts.extend(_paragraph_starts(columns))
    return columns


def _mark_joined_words(columns: WordColumns) -> None:
    """Set :data:`WORD_JOINS_PREVIOUS` on every word its language writes without a space before it."""
    spacing = word_spacing(columns.text)
    if spacing.spaced_throughout:
        return
    flags = columns.flags
    for index, space in enumerate(spacing.space_before):
        if not space and index:
            flags[index] |= WORD_JOINS_PREVIOUS


def _word_columns(words: EnrichedColumns, directory: _SpeakerDirectory, low_confidence_below: float) -> WordColumns:
    """The words as the page shows them: speaker indices, confidence percent and flags, computed column-wise."""
    # Names in first-appearance order, so speakers are numbered as they first speak.
    index_of: dict[str | None, int] = {None: UNATTRIBUTED}
    index_of.update((name, directory.index_of(name)) for name in dict.fromkeys(words.speakers) if name is not None)
    speaker = np.fromiter(map(index_of.__getitem__, words.speakers), dtype=np.int64, count=len(words))
    confidence = np.array(words.confidences, dtype=np.float64)  # None (unknown) reads as NaN
    known = ~np.isnan(confidence)
    confidence = np.nan_to_num(confidence)
    percent = np.where(known, np.rint(confidence * 100), -1).astype(np.int64)
    low = known & (speaker != UNATTRIBUTED) & (confidence < low_confidence_below)
    flags = np.where(low, WORD_LOW_CONFIDENCE, 0).astype(np.int64)
    columns = WordColumns(
        text=[strip_controls(text) for text in words.texts],
        start_ms=milliseconds(words.starts).tolist(),
        end_ms=milliseconds(np.maximum(words.starts, words.ends)).tolist(),
        speaker=speaker.tolist(),
        confidence_pct=percent.tolist(),
    )
    for index, alternatives in words.alternatives.items():
        flags[index] |= WORD_HAS_ALTERNATIVES
        columns.alternatives[index] = [
            (strip_controls(name), _percent(probability)) for name, probability in alternatives
        ]
    columns.flags.extend(flags.tolist())
    return columns


def _paragraph_starts(words: WordColumns) -> list[int]:
    """Break the transcript where the speaker changes, at long pauses, and in long monologues."""
    starts: list[int] = []
    length = 0
    for index in range(len(words)):
        new = (
            index == 0
            or words.speaker[index] != words.speaker[index - 1]
            or words.start_ms[index] - words.end_ms[index - 1] >= PARAGRAPH_PAUSE_SECONDS * 1000
            or length >= PARAGRAPH_HARD_WORDS
            or (length >= PARAGRAPH_SOFT_WORDS and ends_sentence(words.text[index - 1]))
        )
        if new:
            starts.append(index)
            length = 0
        length += 1
    return starts


# --- turns -------------------------------------------------------------------------------


def _segments_of(diarization: Mapping[str, Any] | None, notes: list[str]) -> list[tuple[float, float, str, Any]]:
    segments: list[tuple[float, float, str, Any]] = []
    skipped = 0
    for raw in _list_field(diarization, "segments"):
        start = _seconds(raw.get("start")) if isinstance(raw, Mapping) else None
        end = _seconds(raw.get("end")) if isinstance(raw, Mapping) else None
        speaker = raw.get("speaker") if isinstance(raw, Mapping) else None
        if start is None or end is None or not isinstance(speaker, str) or end < start:
            skipped += 1
            continue
        segments.append((start, end, speaker, raw.get("confidence")))
    if skipped:
        notes.append(f"{skipped} diarization segment(s) are malformed and are not shown.")
    return segments


def _turns_from_segments(segments: list[tuple[float, float, str, Any]], directory: _SpeakerDirectory) -> TurnColumns:
    return _sorted_turns(
        [
            (_ms(start), _ms(end), directory.index_of_diar_speaker(speaker), _percent(lenient_probability(confidence)))
            for start, end, speaker, confidence in segments
        ]
    )


def _turns_from_words(words: WordColumns, gap_tolerance: float, *, only_speaker: int | None = None) -> TurnColumns:
    """Runs of consecutive words of one speaker, joined across pauses up to ``gap_tolerance``.

    With ``only_speaker``, only that speaker's runs are kept (another speaker's
    word always ends a run, so a bar never spans someone else's speech).
    """
    runs: list[tuple[int, int, int, list[int]]] = []  # start, end, speaker, word confidences
    gap_ms = _ms(gap_tolerance)
    # With one speaker asked for, visit only its words (usually few): a gap in their indices is another
    # speaker's word, which ends the run exactly as walking every word would.
    indices: Iterable[int] = (
        range(len(words))
        if only_speaker is None
        else np.flatnonzero(np.asarray(words.speaker) == only_speaker).tolist()
    )
    previous = -2
    for index in indices:
        speaker, start, end = words.speaker[index], words.start_ms[index], words.end_ms[index]
        if runs and runs[-1][2] == speaker and index == previous + 1 and start - runs[-1][1] <= gap_ms:
            run_start, run_end, _, confidences = runs[-1]
            runs[-1] = (run_start, max(run_end, end), speaker, confidences)
        else:
            runs.append((start, end, speaker, []))
        if words.confidence_pct[index] >= 0:
            runs[-1][3].append(words.confidence_pct[index])
        previous = index
    return _sorted_turns([(start, end, speaker, _mean_percent(conf)) for start, end, speaker, conf in runs])


def _merge_turns(first: TurnColumns, second: TurnColumns) -> TurnColumns:
    return _sorted_turns(
        list(zip(first.start_ms, first.end_ms, first.speaker, first.confidence_pct, strict=True))
        + list(zip(second.start_ms, second.end_ms, second.speaker, second.confidence_pct, strict=True))
    )


def _sorted_turns(rows: list[tuple[int, int, int, int]]) -> TurnColumns:
    rows.sort()
    return TurnColumns(
        start_ms=[row[0] for row in rows],
        end_ms=[row[1] for row in rows],
        speaker=[row[2] for row in rows],
        confidence_pct=[row[3] for row in rows],
    )


def _mean_percent(values: list[int]) -> int:
    return round(sum(values) / len(values)) if values else -1


def _gap_tolerance(audit: AuditArtifact | None) -> float:
    return audit.thresholds.gap_tolerance if audit else DEFAULT_GAP_TOLERANCE


# --- lenient readers -------------------------------------------------------------------


def _validated(model: type[ContractT], value: Any, what: str, notes: list[str]) -> ContractT | None:
    if value is None:
        return None
    try:
        return parse_contract(model, value, where=what)
    except InvalidInput as exc:  # a validator's own error (an invalid episode id) too, not only pydantic's
        notes.append(f"The {what} artifact does not match its contract ({exc.message}); shown as stored.")
        return None


def _list_field(artifact: Mapping[str, Any] | None, key: str) -> list[Any]:
    value = artifact.get(key) if isinstance(artifact, Mapping) else None
    return value if isinstance(value, list) else []


def _text_field(artifact: Mapping[str, Any] | None, key: str) -> str | None:
    value = artifact.get(key) if isinstance(artifact, Mapping) else None
    return value if isinstance(value, str) and value else None


def _first_text(*artifacts: Mapping[str, Any] | None, key: str) -> str | None:
    for artifact in artifacts:
        value = _text_field(artifact, key)
        if value:
            return value
    return None


def _seconds(value: Any) -> float | None:
    return float(value) if is_time(value) else None


def _percent(probability: float | None) -> int:
    return -1 if probability is None else round(probability * 100)


def _ms(seconds: float) -> int:
    return round(seconds * 1000)
