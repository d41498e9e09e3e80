"""The words of an enriched transcript, read once, the same way for every consumer.

Exports, the report and ``diarflow show`` all read the words of
``diarization/<id>.enriched.json``; they read them here, into columns. The
fast path is one C-level pass per field (``map(dict.get, …)``), a type check on
the set of types each column holds, and range checks in numpy: 80,000 words
read in tens of milliseconds, where a pydantic model per word would cost ten
times that (``benchmarks/bench_exports.py``). A defect is still found with its
JSON path (``words[17].end``).

Callers choose what a defect means:

- **strict** (exports): the first defect is an :class:`InvalidTranscript`
  naming its path (``words[1].end: must be a number, got "soon"``). A file
  with a defect is not exported as though it were whole.
- **lenient** (the report, ``diarflow show``): what can be read is shown. A
  word that is not an object or lacks a valid start and end is left out (and
  counted in :attr:`EnrichedColumns.skipped`); a speaker that is not a string
  reads as none; a confidence that is not a finite number reads as unknown and
  one outside [0, 1] is clamped; a word written as a number reads as its
  digits. Speaker and confidence defects are repaired column-wise on the fast
  path; any other defect reads the words one at a time.

A well-formed transcript (the pipeline's own output) reads identically either
way. Words stay in transcript order with their text as written: putting them
in time order, cleaning text and naming speakers is each caller's
presentation. ``alternatives`` never refuse a transcript (exports do not show
them): they are read leniently in both modes, and only when asked for.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import compress, count, repeat
from typing import Any, NoReturn

import numpy as np
from numpy.typing import NDArray

from diarflow.contracts import MAX_SECONDS
from diarflow.domain.json_values import NUMBER_TYPES, TIME_RANGE, is_finite, is_time, shown
from diarflow.errors import InvalidTranscript

_NAME_TYPES = frozenset({str, type(None)})
_CONFIDENCE_TYPES = NUMBER_TYPES | {type(None)}

Alternatives = list[tuple[str, float | None]]
"""Other speakers a word could belong to: ``[(speaker, confidence or None)]``."""


@dataclass(frozen=True, eq=False)
class EnrichedColumns:
    """Enriched words as columns in transcript order; index ``i`` of each column describes word ``i``."""

    starts: NDArray[np.float64]
    """Seconds, each from 0 to ``MAX_SECONDS``."""
    ends: NDArray[np.float64]
    """Seconds, each from 0 to ``MAX_SECONDS``; an end before its start is kept as written."""
    texts: list[str]
    speakers: list[str | None]
    """The speaker each word is attributed to, as the transcript names them; None: no speaker."""
    confidences: list[float | None]
    """``speaker_confidence`` from 0 to 1; None: not known."""
    skipped: int = 0
    """Words a lenient read left out: not an object, or without a valid start and end."""
    words: Sequence[Mapping[str, Any]] = field(default=(), repr=False)
    """The decoded words read, one per column entry: :attr:`alternatives` are read from them when asked for."""

    def __len__(self) -> int:
        return len(self.texts)

    @cached_property
    def alternatives(self) -> dict[int, Alternatives]:
        """Word index → the other speakers it could belong to (only words that list any).

        Read on first use: only the report shows them, and a transcript that
        lists them everywhere would make every other reader pay.
        """
        column = [word.get("alternatives") for word in self.words]
        found: dict[int, Alternatives] = {}
        for index in compress(count(), column):  # only words whose value is not null or empty: usually none
            entries = _alternatives(column[index])
            if entries:
                found[index] = entries
        return found

    def speaker_counts(self) -> Counter[str | None]:
        """Words per speaker; ``None`` counts the words no speaker covers."""
        return Counter(self.speakers)


def read_enriched_words(document: object, *, lenient: bool = False) -> EnrichedColumns:
    """The ``words`` of a decoded enriched transcript as columns (see the module docstring for the two modes).

    Strict raises :class:`InvalidTranscript` naming the first defect; lenient
    never raises, and reads a document without a ``words`` list as no words.
    """
    words = document.get("words") if isinstance(document, Mapping) else None
    if not isinstance(words, list):
        if lenient:
            return _read_word_by_word([])
        raise InvalidTranscript("words", "must be a list of words")
    try:
        return _read_columns(words, repair=lenient)
    except InvalidTranscript:
        if not lenient:
            raise
        return _read_word_by_word(words)


def milliseconds(seconds: NDArray[np.float64]) -> NDArray[np.int64]:
    """Times in whole milliseconds, rounded half to even as ``round()`` does, so every reader shows one instant."""
    return np.rint(seconds * 1000).astype(np.int64)


def lenient_probability(value: Any) -> float | None:
    """A confidence as a lenient reader takes it: a finite number clamped to [0, 1], anything else None."""
    if type(value) not in NUMBER_TYPES or not is_finite(value):
        return None
    return min(1.0, max(0.0, float(value)))


# --- the fast path: column by column ------------------------------------------------------------


def _read_columns(words: list[Any], *, repair: bool) -> EnrichedColumns:
    """Every column checked at once; a defect raises, unless ``repair`` may fix its column in place."""
    if words and set(map(type, words)) != {dict}:
        index = next(i for i, w in enumerate(words) if type(w) is not dict)
        raise InvalidTranscript(f"words[{index}]", "must be an object")
    starts = _times(words, "start")
    ends = _times(words, "end")
    texts = _strings(words, "word")
    speakers: list[Any] = _column(words, "speaker")
    if not set(map(type, speakers)) <= _NAME_TYPES:
        if not repair:
            index = next(i for i, v in enumerate(speakers) if type(v) not in _NAME_TYPES)
            problem = f"must be a string or null, got {shown(speakers[index])}"
            raise InvalidTranscript(f"words[{index}].speaker", problem)
        speakers = [name if isinstance(name, str) else None for name in speakers]
    confidences: list[Any] = _column(words, "speaker_confidence")
    if not _are_probabilities(confidences):
        if not repair:
            _refuse_confidences(confidences)
        confidences = list(map(lenient_probability, confidences))
    return EnrichedColumns(
        starts=starts,
        ends=ends,
        texts=texts,
        speakers=speakers,
        confidences=confidences,
        words=words,
    )


def _column(words: list[dict[str, Any]], name: str) -> list[Any]:
    return list(map(dict.get, words, repeat(name)))


def _times(words: list[dict[str, Any]], name: str) -> NDArray[np.float64]:
    column = _column(words, name)
    if not set(map(type, column)) <= NUMBER_TYPES:
        index = next(i for i, v in enumerate(column) if type(v) not in NUMBER_TYPES)
        problem = "is missing" if name not in words[index] else f"must be a number, got {shown(column[index])}"
        raise InvalidTranscript(f"words[{index}].{name}", problem)
    try:
        seconds = np.array(column, dtype=np.float64)
        in_range = bool(((seconds >= 0) & (seconds <= MAX_SECONDS)).all())  # NaN fails too
    except OverflowError:  # an integer beyond float range
        in_range = False
    if not in_range:
        bad = next(i for i, v in enumerate(column) if not is_time(v))
        raise InvalidTranscript(f"words[{bad}].{name}", f"must be {TIME_RANGE}, got {shown(column[bad])}")
    return seconds


def _strings(words: list[dict[str, Any]], name: str) -> list[str]:
    column = _column(words, name)
    if column and set(map(type, column)) != {str}:
        index = next(i for i, v in enumerate(column) if type(v) is not str)
        problem = "is missing" if name not in words[index] else f"must be a string, got {shown(column[index])}"
        raise InvalidTranscript(f"words[{index}].{name}", problem)
    return column


def _are_probabilities(column: list[Any]) -> bool:
    """Whether every value is null or a number from 0 to 1 (checked in numpy: null reads as NaN, so is not counted)."""
    if not set(map(type, column)) <= _CONFIDENCE_TYPES:
        return False
    try:
        values = np.array(column, dtype=np.float64)
    except OverflowError:  # an integer beyond float range
        return False
    in_range = int(np.count_nonzero((values >= 0) & (values <= 1)))  # NaN, written or from null, fails
    return in_range == len(column) - column.count(None)


def _refuse_confidences(column: list[Any]) -> NoReturn:
    path = "words[{}].speaker_confidence"
    wrong_type = next((i for i, v in enumerate(column) if type(v) not in _CONFIDENCE_TYPES), None)
    if wrong_type is not None:
        raise InvalidTranscript(path.format(wrong_type), f"must be a number or null, got {shown(column[wrong_type])}")
    bad = next(i for i, v in enumerate(column) if v is not None and not 0 <= v <= 1)
    raise InvalidTranscript(path.format(bad), f"must be between 0 and 1, got {shown(column[bad])}")


# --- the lenient path: word by word --------------------------------------------------------------


def _read_word_by_word(words: list[Any]) -> EnrichedColumns:
    """What can be read of each word; taken only when a time or a text column has a defect."""
    readable: list[Mapping[str, Any]] = [
        word for word in words if isinstance(word, Mapping) and is_time(word.get("start")) and is_time(word.get("end"))
    ]
    return EnrichedColumns(
        starts=np.array([word["start"] for word in readable], dtype=np.float64),
        ends=np.array([word["end"] for word in readable], dtype=np.float64),
        texts=[_text(word.get("word")) for word in readable],
        speakers=[speaker if isinstance(speaker := word.get("speaker"), str) else None for word in readable],
        confidences=[lenient_probability(word.get("speaker_confidence")) for word in readable],
        skipped=len(words) - len(readable),
        words=readable,
    )


def _text(value: Any) -> str:
    """A word's text: a string as written, a number as its digits, anything else nothing."""
    if isinstance(value, str):
        return value
    return str(value) if type(value) in NUMBER_TYPES and is_finite(value) else ""


def _alternatives(value: Any) -> Alternatives:
    """A word's ``alternatives``: the entries that name a speaker; anything else lists none."""
    if not isinstance(value, list):
        return []
    return [
        (entry["speaker"], lenient_probability(entry.get("confidence")))
        for entry in value
        if isinstance(entry, Mapping) and isinstance(entry.get("speaker"), str)
    ]
