"""Reading transcripts: Deepgram ``/v1/listen`` responses and a plain word list.

The reader turns JSON into columns (numpy arrays for times, a list for the
words' text) in one pass per column, and checks every value. Each defect is
an :class:`~diarflow.errors.InvalidTranscript` whose field is the JSON path of
the first bad value, e.g. ``results.channels[0].alternatives[0].words[17].end``.

A Deepgram response is first decoded against a typed schema (msgspec): it
builds only the fields read here, skips the copy of every word inside the
utterances, and checks types and ranges in C, about six times faster than
decoding it into dicts. Anything that schema or the value checks refuse is
read again by the dict reader, which alone words the errors, so both accept
exactly the same documents and report the same first defect.

Every time is at most :data:`~diarflow.contracts.MAX_SECONDS` (48 h), and
words are in time order (each starts no earlier than the one before): a
transcript that breaks either is refused naming the first word that does,
rather than read into exports that would run backwards or overflow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec
import numpy as np
import orjson
from numpy.typing import NDArray

from diarflow.contracts._base import MAX_SECONDS
from diarflow.domain.json_values import NUMBER_TYPES, TIME_RANGE, is_finite, is_time, json_type, shown, undecodable
from diarflow.errors import InvalidTranscript

DEEPGRAM_WORDS_PATH = "results.channels[0].alternatives[0].words"
DEEPGRAM_UTTERANCES_PATH = "results.utterances"

MAX_SPEAKER_ID = 10_000
"""Deepgram numbers speakers 0, 1, 2, …; a larger id is a corrupt (or hostile) transcript, not a podcast."""


@dataclass(frozen=True, slots=True)
class Utterance:
    """A stretch of speech the transcriber attributed to one speaker."""

    start: float
    end: float
    speaker: int | None


@dataclass(frozen=True, eq=False)
class Transcript:
    """Words as columns; index ``i`` of every column describes word ``i``.

    ``speakers`` holds indices into ``speaker_names`` (``-1``: the transcript
    gave no speaker); ``speaker_confidences`` is NaN where none was given.
    """

    starts: NDArray[np.float64]
    ends: NDArray[np.float64]
    texts: list[str]
    speakers: NDArray[np.int64]
    speaker_confidences: NDArray[np.float64]
    speaker_names: tuple[str, ...]
    utterances: tuple[Utterance, ...]
    form: Literal["deepgram", "plain"]
    reported_duration: float | None = None

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def duration(self) -> float:
        """The audio duration the transcriber reported, else the last word's end."""
        if self.reported_duration is not None:
            return self.reported_duration
        return float(self.ends.max()) if len(self.ends) else 0.0

    @property
    def has_speakers(self) -> bool:
        """Whether the transcriber labelled any word or utterance with a speaker."""
        return bool((self.speakers >= 0).any()) or any(u.speaker is not None for u in self.utterances)

    @property
    def words_path(self) -> str:
        """The JSON path of the word list, for messages."""
        return DEEPGRAM_WORDS_PATH if self.form == "deepgram" else "words"


def parse_transcript(data: bytes | str) -> Transcript:
    """Parse and validate a transcript; raise :class:`InvalidTranscript` naming the defect."""
    typed = _read_typed_deepgram(data)
    if typed is not None:
        return typed
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidTranscript(*undecodable(data, exc, "transcript")) from None
    return read_transcript(document)


def read_transcript(document: Any) -> Transcript:
    """Validate an already-decoded transcript document."""
    if not isinstance(document, dict):
        raise InvalidTranscript("transcript", f"must be a JSON object, got {json_type(document)}")
    if "results" in document:
        return _read_deepgram(document)
    if "words" in document:
        words = document["words"]
        return _read_words(words, "words", "plain", utterances=(), duration=None)
    raise InvalidTranscript(
        "transcript", "is neither a Deepgram response (no 'results') nor a plain transcript (no 'words')"
    )


def _read_deepgram(document: dict[str, Any]) -> Transcript:
    results = _expect(document, "results", dict, "results")
    channels = _expect(results, "channels", list, "results.channels")
    if not channels:
        raise InvalidTranscript("results.channels", "is empty: the response has no channel")
    channel = _as(channels[0], dict, "results.channels[0]")
    alternatives = _expect(channel, "alternatives", list, "results.channels[0].alternatives")
    if not alternatives:
        raise InvalidTranscript("results.channels[0].alternatives", "is empty: the response has no alternative")
    alternative = _as(alternatives[0], dict, "results.channels[0].alternatives[0]")
    if "words" not in alternative:
        raise InvalidTranscript(DEEPGRAM_WORDS_PATH, "is missing")
    utterances = _read_utterances(results.get("utterances"))
    duration = _read_duration(document.get("metadata"))
    return _read_words(alternative["words"], DEEPGRAM_WORDS_PATH, "deepgram", utterances, duration)


def _read_duration(metadata: Any) -> float | None:
    if not isinstance(metadata, dict) or "duration" not in metadata:
        return None
    value = metadata["duration"]
    if not is_time(value):
        raise InvalidTranscript("metadata.duration", f"must be {TIME_RANGE}, got {shown(value)}")
    return float(value)


def _read_utterances(raw: Any) -> tuple[Utterance, ...]:
    if raw is None:
        return ()
    utterances = _as(raw, list, DEEPGRAM_UTTERANCES_PATH)
    parsed = []
    for index, item in enumerate(utterances):
        path = f"{DEEPGRAM_UTTERANCES_PATH}[{index}]"
        entry = _as(item, dict, path)
        start = _number(entry, "start", path)
        end = _number(entry, "end", path)
        if end < start:
            raise InvalidTranscript(f"{path}.end", f"{end} is before start {start}")
        speaker = entry.get("speaker")
        if speaker is not None and (type(speaker) is not int or not 0 <= speaker <= MAX_SPEAKER_ID):
            raise InvalidTranscript(
                f"{path}.speaker", f"must be a non-negative integer up to {MAX_SPEAKER_ID:,}, got {shown(speaker)}"
            )
        parsed.append(Utterance(start, end, speaker))
    return tuple(parsed)


def _read_words(
    raw: Any,
    path: str,
    form: Literal["deepgram", "plain"],
    utterances: tuple[Utterance, ...],
    duration: float | None,
) -> Transcript:
    words = _as(raw, list, path)
    if not words:
        raise InvalidTranscript(path, "has no words at all: the transcript is empty")
    if set(map(type, words)) != {dict}:
        index = next(i for i, w in enumerate(words) if type(w) is not dict)
        raise InvalidTranscript(f"{path}[{index}]", f"must be an object, got {json_type(words[index])}")

    starts = _times(words, "start", path)
    ends = _times(words, "end", path)
    backwards = np.flatnonzero(ends < starts)
    if backwards.size:
        i = int(backwards[0])
        raise InvalidTranscript(f"{path}[{i}].end", f"{_num(ends[i])} is before start {_num(starts[i])}")
    out_of_order = np.flatnonzero(starts[1:] < starts[:-1])
    if out_of_order.size:
        # Refused, not sorted: enriched word i stays transcript word i, and exports never run backwards.
        i = int(out_of_order[0]) + 1
        raise InvalidTranscript(
            f"{path}[{i}].start",
            f"{_num(starts[i])} is before the previous word's start {_num(starts[i - 1])}: words must be in "
            "time order (sort them by start)",
        )

    texts = _texts(words, path)
    speakers, names = _speakers(words, path, form)
    confidences = _confidences(words, path)
    return Transcript(
        starts=starts,
        ends=ends,
        texts=texts,
        speakers=speakers,
        speaker_confidences=confidences,
        speaker_names=names,
        utterances=utterances,
        form=form,
        reported_duration=duration,
    )


def _times(words: list[dict[str, Any]], name: str, path: str) -> NDArray[np.float64]:
    column = [w.get(name) for w in words]
    if not set(map(type, column)) <= NUMBER_TYPES:
        index, value = next((i, v) for i, v in enumerate(column) if type(v) not in NUMBER_TYPES)
        problem = "is missing" if name not in words[index] else f"must be a number, got {shown(value)}"
        raise InvalidTranscript(f"{path}[{index}].{name}", problem)
    values = _floats(column, f"{path}[{{}}].{name}")
    bad = np.flatnonzero(~((values >= 0) & (values <= MAX_SECONDS)))  # NaN and infinity fail both
    if bad.size:
        i = int(bad[0])
        raise InvalidTranscript(f"{path}[{i}].{name}", f"must be {TIME_RANGE}, got {shown(column[i])}")
    return values


def _texts(words: list[dict[str, Any]], path: str) -> list[str]:
    plain = [w.get("word") for w in words]
    if set(map(type, plain)) != {str}:
        index = next(i for i, v in enumerate(plain) if type(v) is not str)
        problem = "is missing" if "word" not in words[index] else f"must be a string, got {shown(plain[index])}"
        raise InvalidTranscript(f"{path}[{index}].word", problem)
    punctuated = [w.get("punctuated_word") for w in words]
    kinds = set(map(type, punctuated))
    if kinds == {type(None)}:
        return plain  # type: ignore[return-value]  # every entry was checked to be a str
    if not kinds <= {str, type(None)}:
        index = next(i for i, v in enumerate(punctuated) if v is not None and type(v) is not str)
        raise InvalidTranscript(f"{path}[{index}].punctuated_word", f"must be a string, got {shown(punctuated[index])}")
    return [p or w for p, w in zip(punctuated, plain, strict=True)]  # type: ignore[misc]


def _speakers(
    words: list[dict[str, Any]], path: str, form: Literal["deepgram", "plain"]
) -> tuple[NDArray[np.int64], tuple[str, ...]]:
    column = [w.get("speaker") for w in words]
    kinds = set(map(type, column)) - {type(None)}
    if not kinds:
        return np.full(len(column), -1, dtype=np.int64), ()
    allowed = {int} if form == "deepgram" else {int, str}
    if not kinds <= allowed or len(kinds) > 1:
        first_kind = type(next(v for v in column if v is not None))
        index = next(
            i for i, v in enumerate(column) if v is not None and (type(v) not in allowed or type(v) is not first_kind)
        )
        expected = "an integer" if form == "deepgram" else "a string or an integer, the same kind for every word"
        raise InvalidTranscript(f"{path}[{index}].speaker", f"must be {expected}, got {shown(column[index])}")
    if kinds == {int}:
        huge = next((i for i, v in enumerate(column) if v is not None and abs(v) > MAX_SPEAKER_ID), None)
        if huge is not None:  # names are numbered 0..max: a huge id would allocate billions of them
            raise InvalidTranscript(
                f"{path}[{huge}].speaker",
                f"must be a non-negative integer up to {MAX_SPEAKER_ID:,}, got {shown(column[huge])}",
            )
        ids = np.array([-1 if v is None else v for v in column], dtype=np.int64)
        negative = np.flatnonzero((ids < 0) & np.array([v is not None for v in column]))
        if negative.size:
            i = int(negative[0])
            raise InvalidTranscript(f"{path}[{i}].speaker", f"must be a non-negative integer, got {column[i]}")
        top = int(ids.max())
        return ids, tuple(str(n) for n in range(top + 1))
    # String labels: number them by first appearance.
    numbering: dict[str, int] = {}
    ids = np.array([-1 if v is None else numbering.setdefault(v, len(numbering)) for v in column], dtype=np.int64)
    blank = next((label for label in numbering if not label.strip()), None)
    if blank is not None:
        raise InvalidTranscript(f"{path}[{column.index(blank)}].speaker", "must not be blank")
    return ids, tuple(numbering)


def _confidences(words: list[dict[str, Any]], path: str) -> NDArray[np.float64]:
    column = [w.get("speaker_confidence") for w in words]
    kinds = set(map(type, column))
    if kinds == {type(None)}:
        return np.full(len(column), np.nan)
    if not kinds <= {int, float, type(None)}:
        index = next(i for i, v in enumerate(column) if v is not None and type(v) not in NUMBER_TYPES)
        raise InvalidTranscript(f"{path}[{index}].speaker_confidence", f"must be a number, got {shown(column[index])}")
    values = _floats([np.nan if v is None else v for v in column], f"{path}[{{}}].speaker_confidence")
    bad = np.flatnonzero(~np.isnan(values) & ((values < 0) | (values > 1)))
    if bad.size:
        i = int(bad[0])
        raise InvalidTranscript(f"{path}[{i}].speaker_confidence", f"must be between 0 and 1, got {column[i]}")
    return values


# --- the typed fast path for Deepgram responses ---------------------------------------

# Ranges checked by msgspec as it decodes: anything outside makes the fast path give up (the dict reader words it).
_Time = Annotated[float, msgspec.Meta(ge=0, le=MAX_SECONDS)]
_SpeakerId = Annotated[int, msgspec.Meta(ge=0, le=MAX_SPEAKER_ID)]
_Confidence = Annotated[float, msgspec.Meta(ge=0, le=1)]


class _Word(msgspec.Struct, gc=False):
    start: _Time
    end: _Time
    word: str
    punctuated_word: str | None = None
    speaker: _SpeakerId | None = None
    speaker_confidence: _Confidence | None = None


class _Alternative(msgspec.Struct):
    words: list[_Word]


class _Channel(msgspec.Struct):
    alternatives: list[_Alternative]


class _Utterance(msgspec.Struct, gc=False):
    start: _Time
    end: _Time
    speaker: _SpeakerId | None = None


class _Results(msgspec.Struct):
    channels: list[_Channel]
    utterances: list[_Utterance] | None = None


class _Metadata(msgspec.Struct):
    duration: _Time | msgspec.UnsetType = msgspec.UNSET


class _Response(msgspec.Struct):
    results: _Results
    metadata: _Metadata | None = None


_RESPONSE_DECODER = msgspec.json.Decoder(_Response)


def _read_typed_deepgram(data: bytes | str) -> Transcript | None:
    """The transcript of a well-formed Deepgram response, or None to let the dict reader decide.

    None means "not sure": a plain transcript, a schema mismatch, or any value
    the checks below refuse. It never means the document is valid or invalid.
    """
    try:
        response = _RESPONSE_DECODER.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    except RecursionError:
        # msgspec recurses into the fields it skips, as deep as they nest; orjson has a fixed limit instead.
        return None
    results, metadata = response.results, response.metadata
    if not results.channels or not results.channels[0].alternatives or not results.channels[0].alternatives[0].words:
        return None
    duration = None if metadata is None or metadata.duration is msgspec.UNSET else metadata.duration
    utterances = tuple(Utterance(u.start, u.end, u.speaker) for u in results.utterances or ())
    if any(utterance.end < utterance.start for utterance in utterances):
        return None

    words = results.channels[0].alternatives[0].words
    starts = np.array([w.start for w in words], dtype=np.float64)
    ends = np.array([w.end for w in words], dtype=np.float64)
    if not ((ends >= starts).all() and (starts[1:] >= starts[:-1]).all()):
        return None
    speakers = np.array([-1 if w.speaker is None else w.speaker for w in words], dtype=np.int64)
    confidences = np.array([w.speaker_confidence for w in words], dtype=np.float64)  # None becomes NaN
    return Transcript(
        starts=starts,
        ends=ends,
        texts=[w.punctuated_word or w.word for w in words],
        speakers=speakers,
        speaker_confidences=confidences,
        speaker_names=tuple(str(n) for n in range(int(speakers.max()) + 1)) if (speakers >= 0).any() else (),
        utterances=utterances,
        form="deepgram",
        reported_duration=duration,
    )


# --- small helpers for messages -----------------------------------------------------


def _expect(container: dict[str, Any], name: str, kind: type, path: str) -> Any:
    if name not in container:
        raise InvalidTranscript(path, "is missing")
    return _as(container[name], kind, path)


def _as(value: Any, kind: type, path: str) -> Any:
    if type(value) is not kind:
        expected = "an array" if kind is list else "an object"
        raise InvalidTranscript(path, f"must be {expected}, got {json_type(value)}")
    return value


def _number(entry: dict[str, Any], name: str, path: str) -> float:
    if name not in entry:
        raise InvalidTranscript(f"{path}.{name}", "is missing")
    value = entry[name]
    if type(value) not in NUMBER_TYPES:
        raise InvalidTranscript(f"{path}.{name}", f"must be a number, got {shown(value)}")
    if not is_time(value):
        raise InvalidTranscript(f"{path}.{name}", f"must be {TIME_RANGE}, got {shown(value)}")
    return float(value)


def _floats(column: list[Any], where: str) -> NDArray[np.float64]:
    """The column as float64; an integer beyond float range is an error at its index (``where`` has a ``{}``)."""
    try:
        return np.array(column, dtype=np.float64)
    except OverflowError:
        index = next(i for i, v in enumerate(column) if not is_finite(v))
        raise InvalidTranscript(where.format(index), f"must be a finite number, got {shown(column[index])}") from None


def _num(value: float) -> str:
    return repr(float(value))


def speaker_runs(speakers: Sequence[int] | NDArray[np.int64]) -> NDArray[np.int64]:
    """Start indices of maximal runs of equal values (helper for turn building)."""
    array = np.asarray(speakers)
    if array.size == 0:
        return np.empty(0, dtype=np.int64)
    return np.concatenate(([0], np.flatnonzero(array[1:] != array[:-1]) + 1)).astype(np.int64)
