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

A multichannel response (``multichannel=true``: one ``results.channels[i]``
per track) is read whole: each channel's words are checked as above, then
merged by start time (a tie keeps the lower channel first), and every word
keeps its channel. Deepgram diarizes each channel on its own, so speaker
numbers are per channel: speaker 0 of channel 1 is named ``ch1.0``. A
response with no words at all (silent audio) is a valid, empty transcript.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import msgspec
import numpy as np
import orjson
from numpy.typing import NDArray

from diarflow.contracts._base import MAX_CHANNELS, MAX_SECONDS
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
    """The speaker's number within its channel (Deepgram numbers each channel's speakers from 0)."""
    channel: int = 0


@dataclass(frozen=True, eq=False)
class Transcript:
    """Words as columns; index ``i`` of every column describes word ``i``.

    ``speakers`` holds indices into ``speaker_names`` (``-1``: the transcript
    gave no speaker); ``speaker_confidences`` is NaN where none was given;
    ``channels`` is each word's track (0 unless the response is multichannel).
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
    channels: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    num_channels: int = 1

    def __post_init__(self) -> None:
        if self.channels.size != len(self.texts):  # single-channel readers leave it to the default
            object.__setattr__(self, "channels", np.zeros(len(self.texts), dtype=np.int64))

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
        if self.form == "plain":
            return "words"
        return DEEPGRAM_WORDS_PATH if self.num_channels == 1 else "results.channels[*].alternatives[0].words"

    @property
    def is_multichannel(self) -> bool:
        return self.num_channels > 1


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
    if len(channels) > MAX_CHANNELS:
        raise InvalidTranscript("results.channels", f"has {len(channels):,} channels; at most {MAX_CHANNELS} are read")
    words = [_channel_words(channel, index) for index, channel in enumerate(channels)]
    utterances = _read_utterances(results.get("utterances"), len(channels))
    duration = _read_duration(document.get("metadata"))
    tracks = [_read_word_columns(raw, path, "deepgram") for raw, path in words]
    return _merge_channels(tracks, utterances, duration)


def _channel_words(raw: Any, index: int) -> tuple[Any, str]:
    """A channel's first alternative's word list, unchecked, and its JSON path."""
    path = f"results.channels[{index}]"
    channel = _as(raw, dict, path)
    alternatives = _expect(channel, "alternatives", list, f"{path}.alternatives")
    if not alternatives:
        raise InvalidTranscript(f"{path}.alternatives", "is empty: the response has no alternative")
    alternative = _as(alternatives[0], dict, f"{path}.alternatives[0]")
    words_path = f"{path}.alternatives[0].words"
    if "words" not in alternative:
        raise InvalidTranscript(words_path, "is missing")
    return alternative["words"], words_path


def _read_duration(metadata: Any) -> float | None:
    if not isinstance(metadata, dict) or "duration" not in metadata:
        return None
    value = metadata["duration"]
    if not is_time(value):
        raise InvalidTranscript("metadata.duration", f"must be {TIME_RANGE}, got {shown(value)}")
    return float(value)


def _read_utterances(raw: Any, num_channels: int) -> tuple[Utterance, ...]:
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
        channel = entry.get("channel", 0)
        if type(channel) is not int or not 0 <= channel < num_channels:
            raise InvalidTranscript(
                f"{path}.channel", f"must be a channel of the response, 0 to {num_channels - 1}, got {shown(channel)}"
            )
        parsed.append(Utterance(start, end, speaker, channel))
    return tuple(parsed)


def _read_words(
    raw: Any,
    path: str,
    form: Literal["deepgram", "plain"],
    utterances: tuple[Utterance, ...],
    duration: float | None,
) -> Transcript:
    return _merge_channels([_read_word_columns(raw, path, form)], utterances, duration, form=form)


@dataclass(frozen=True, eq=False)
class _Track:
    """One channel's words, checked, before the channels are merged."""

    starts: NDArray[np.float64]
    ends: NDArray[np.float64]
    texts: list[str]
    speakers: NDArray[np.int64]
    speaker_names: tuple[str, ...]
    confidences: NDArray[np.float64]


def _read_word_columns(raw: Any, path: str, form: Literal["deepgram", "plain"]) -> _Track:
    words = _as(raw, list, path)
    if set(map(type, words)) - {dict}:
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
    speakers, names = _speakers(words, path, form)
    return _Track(starts, ends, _texts(words, path), speakers, names, _confidences(words, path))


def _merge_channels(
    tracks: list[_Track],
    utterances: tuple[Utterance, ...],
    duration: float | None,
    *,
    form: Literal["deepgram", "plain"] = "deepgram",
) -> Transcript:
    """One transcript from each channel's words: merged by start time, speakers named per channel."""
    if len(tracks) == 1:
        track = tracks[0]
        return Transcript(
            starts=track.starts,
            ends=track.ends,
            texts=track.texts,
            speakers=track.speakers,
            speaker_confidences=track.confidences,
            speaker_names=track.speaker_names,
            utterances=utterances,
            form=form,
            reported_duration=duration,
        )
    names: list[str] = []
    speakers = []
    for channel, track in enumerate(tracks):
        # Deepgram numbers each channel's speakers from 0: speaker 0 of two channels is two people.
        speakers.append(np.where(track.speakers >= 0, track.speakers + len(names), -1))
        names.extend(f"ch{channel}.{name}" for name in track.speaker_names)
    channels = np.concatenate([np.full(track.starts.size, c, dtype=np.int64) for c, track in enumerate(tracks)])
    starts = np.concatenate([track.starts for track in tracks])
    order = np.argsort(starts, kind="stable")
    texts = [text for track in tracks for text in track.texts]
    return Transcript(
        starts=starts[order],
        ends=np.concatenate([track.ends for track in tracks])[order],
        texts=[texts[i] for i in order.tolist()],
        speakers=np.concatenate(speakers).astype(np.int64)[order],
        speaker_confidences=np.concatenate([track.confidences for track in tracks])[order],
        speaker_names=tuple(names),
        utterances=utterances,
        form=form,
        reported_duration=duration,
        channels=channels[order],
        num_channels=len(tracks),
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
    if set(map(type, plain)) - {str}:
        index = next(i for i, v in enumerate(plain) if type(v) is not str)
        problem = "is missing" if "word" not in words[index] else f"must be a string, got {shown(plain[index])}"
        raise InvalidTranscript(f"{path}[{index}].word", problem)
    punctuated = [w.get("punctuated_word") for w in words]
    kinds = set(map(type, punctuated))
    if kinds <= {type(None)}:
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
    if kinds <= {type(None)}:
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
    channel: Annotated[int, msgspec.Meta(ge=0, lt=MAX_CHANNELS)] = 0


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
    if not 0 < len(results.channels) <= MAX_CHANNELS or not all(channel.alternatives for channel in results.channels):
        return None
    duration = None if metadata is None or metadata.duration is msgspec.UNSET else metadata.duration
    utterances = tuple(Utterance(u.start, u.end, u.speaker, u.channel) for u in results.utterances or ())
    if any(u.end < u.start or u.channel >= len(results.channels) for u in utterances):
        return None
    tracks = []
    for channel in results.channels:
        track = _typed_track(channel.alternatives[0].words)
        if track is None:
            return None
        tracks.append(track)
    return _merge_channels(tracks, utterances, duration)


def _typed_track(words: list[_Word]) -> _Track | None:
    """One channel's columns from typed words, or None when a check fails (the dict reader words it)."""
    starts = np.array([w.start for w in words], dtype=np.float64)
    ends = np.array([w.end for w in words], dtype=np.float64)
    if not ((ends >= starts).all() and (starts[1:] >= starts[:-1]).all()):
        return None
    speakers = np.array([-1 if w.speaker is None else w.speaker for w in words], dtype=np.int64)
    return _Track(
        starts=starts,
        ends=ends,
        texts=[w.punctuated_word or w.word for w in words],
        speakers=speakers,
        speaker_names=tuple(str(n) for n in range(int(speakers.max()) + 1)) if (speakers >= 0).any() else (),
        confidences=np.array([w.speaker_confidence for w in words], dtype=np.float64),  # None becomes NaN
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
