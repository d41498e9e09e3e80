"""What an export reads: the enriched words, the diarization turns and speaker names.

Artifacts arrive as decoded JSON (plain dicts and lists). The words are read
strictly by :func:`~diarflow.domain.enriched_words.read_enriched_words`, into
columns, without a pydantic model per word: 80,000 words must export in well
under a second (see ``benchmarks/bench_exports.py``). A defect is reported
with its JSON path (``enriched.words[17].end``).

Times are rounded to whole milliseconds once, here, so every format prints the
same instant the same way; a time past ``MAX_SECONDS`` (48 h) is refused like
any other defect. Words are put in time order here (stably) should a
hand-edited artifact have them out of it, so no export runs backwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from diarflow.contracts import MAX_CHANNELS, SCHEMA_VERSION
from diarflow.domain.enriched_words import EnrichedColumns, milliseconds, read_enriched_words
from diarflow.domain.json_values import shown
from diarflow.domain.text import WordSpacing, word_spacing
from diarflow.domain.turns import Turns
from diarflow.errors import InvalidInput, InvalidTranscript

UNKNOWN_SPEAKER_NAME = "Unknown"
"""Shown for words no speaker turn covers (``speaker: null``): they are kept, never dropped."""


# C0 and C1 control characters: the whitespace ones (\t \n \r, \x1c-\x1f, NEL) read as a space, the rest go.
_CONTROLS = {c: " " if chr(c).isspace() else None for c in (*range(0x20), *range(0x7F, 0xA0))}


def strip_controls(text: str) -> str:
    """``text`` without control characters: NUL, ESC, DEL and the like dropped, line breaks and tabs as spaces.

    ESC starts a terminal control sequence when the text is printed, NUL ends
    a C string, and neither has a place in a caption or a page.
    """
    if text.isprintable():  # nearly every word: one cheap check
        return text
    return text.translate(_CONTROLS)


def clean_text(text: str) -> str:
    """Collapse every whitespace run (newlines included) to one space, drop control characters, and trim.

    A newline inside a word or a name would end a caption line, and a blank
    line would end the cue itself; exports are line-oriented, so none survive.
    The enriched transcript keeps the words as they came.
    """
    return " ".join(strip_controls(text).split())


@dataclass(frozen=True, slots=True)
class SpeakerInfo:
    """How a speaker is shown: display name (or canonical label), label, whether identified, its track."""

    name: str
    label: str | None
    identified: bool
    channel: int | None = None
    """The track (0-based channel) the speaker was recorded on, when the speaker is one track's."""


@dataclass(frozen=True, eq=False)
class ExportWords:
    """Transcript words as columns, in time order; index ``i`` of each describes word ``i``.

    ``speakers`` holds the shown name (``Unknown`` for unattributed words);
    words whose text is empty after :func:`clean_text` are left out, since
    they have nothing to show and would only split a turn or a cue.
    """

    starts_ms: list[int]
    ends_ms: list[int]
    texts: list[str]
    speakers: list[str]
    confidences: list[float | None]

    def __len__(self) -> int:
        return len(self.texts)

    @cached_property
    def spacing(self) -> WordSpacing:
        """Where spaces and line breaks go between consecutive words, as their languages write them.

        Computed once for the whole episode, so a turn or a caption line cut
        out of it joins exactly as the full text does.
        """
        return word_spacing(self.texts)

    def joined(self, first: int, stop: int) -> str:
        """``texts[first:stop]`` as one text: ``Hello, and welcome.``, ``這不雞配``, ``我用iPhone``."""
        return self.spacing.join(self.texts, first, stop)


@dataclass(frozen=True, eq=False)
class EpisodeExport:
    """Everything the writers need; a part is None when its artifact was not read.

    ``speakers`` maps a diarizer speaker (``SPEAKER_0``) to how it is shown.
    """

    episode_id: str
    source: str | None
    words: ExportWords | None
    turns: Turns | None
    speakers: Mapping[str, SpeakerInfo]

    def require_words(self, format_name: str) -> ExportWords:
        """The words, or an error saying the format needs the enriched transcript."""
        if self.words is None:
            raise InvalidInput("format", f"{format_name} is built from the enriched transcript, which was not read")
        return self.words

    def require_turns(self, format_name: str) -> Turns:
        """The diarization turns, or an error saying the format needs the raw diarization."""
        if self.turns is None:
            raise InvalidInput("format", f"{format_name} is built from the raw diarization, which was not read")
        return self.turns

    @classmethod
    def from_artifacts(
        cls,
        episode_id: str,
        *,
        enriched: Any = None,
        diarization: Any = None,
        audit: Any = None,
    ) -> EpisodeExport:
        """Read whichever decoded artifacts are given (None: not needed or not available).

        Speaker names come from the enriched transcript's ``speakers`` first,
        else from the audit's clusters (``mappedTo``, else ``label``); a
        diarizer speaker neither names is shown under its own label.
        """
        speakers: dict[str, SpeakerInfo] = {}
        if audit is not None:
            speakers.update(read_audit_speakers(audit))
        words = None
        source = None
        if enriched is not None:
            document = _as_object(enriched, "enriched")
            try:
                _check_schema_version(document, "schema_version")
                words = export_words(read_enriched_words(document))
                speakers.update(read_enriched_speakers(document))
            except InvalidInput as exc:
                # Say which artifact, as the diarization and audit paths do.
                raise type(exc)(f"enriched.{exc.field}", exc.problem) from None
            source = document.get("source") if isinstance(document.get("source"), str) else None
        turns = None
        if diarization is not None:
            document = _as_object(diarization, "diarization")
            _check_schema_version(document, "diarization.schema_version")
            segments = document.get("segments")
            if not isinstance(segments, list):
                raise InvalidInput("diarization.segments", "must be a list of turns")
            turns = Turns.from_segments(segments, path="diarization.segments")
            if source is None and isinstance(document.get("source"), str):
                source = document["source"]
        return cls(episode_id=episode_id, source=source, words=words, turns=turns, speakers=speakers)


def export_words(columns: EnrichedColumns) -> ExportWords:
    """The words as exports show them: times in milliseconds, text cleaned, names shown, in time order."""
    start_column = milliseconds(columns.starts)
    in_order = bool((start_column[1:] >= start_column[:-1]).all())
    starts, ends = start_column.tolist(), milliseconds(columns.ends).tolist()
    # Few distinct names: clean each once. A blank name tells no more than null does.
    shown_as = {name: (clean_text(name) if name else "") or UNKNOWN_SPEAKER_NAME for name in set(columns.speakers)}
    speakers = [shown_as[name] for name in columns.speakers]
    confidences = columns.confidences

    cleaned = [clean_text(text) for text in columns.texts]
    if "" in cleaned or not in_order:
        # Words with no text left go; the rest in time order (stable: equal starts keep transcript order).
        keep = [i for i, text in enumerate(cleaned) if text]
        if not in_order:
            keep.sort(key=starts.__getitem__)
        return ExportWords(
            starts_ms=[starts[i] for i in keep],
            ends_ms=[ends[i] for i in keep],
            texts=[cleaned[i] for i in keep],
            speakers=[speakers[i] for i in keep],
            confidences=[confidences[i] for i in keep],
        )
    return ExportWords(starts_ms=starts, ends_ms=ends, texts=cleaned, speakers=speakers, confidences=confidences)


def read_enriched_speakers(document: Mapping[str, Any]) -> dict[str, SpeakerInfo]:
    """``speakers[]`` of the enriched transcript: diarizer speaker → how it is shown."""
    entries = document.get("speakers", [])
    if not isinstance(entries, list):
        raise InvalidTranscript("speakers", "must be a list")
    speakers: dict[str, SpeakerInfo] = {}
    for index, entry in enumerate(entries):
        path = f"speakers[{index}]"
        if not isinstance(entry, dict):
            raise InvalidTranscript(path, "must be an object")
        diar_speaker = _required_string(entry, "diar_speaker", path, InvalidTranscript)
        label = clean_text(_required_string(entry, "label", path, InvalidTranscript))
        name = clean_text(_required_string(entry, "speaker", path, InvalidTranscript)) or label
        channel = _optional_channel(entry, path, InvalidTranscript)
        speakers[diar_speaker] = SpeakerInfo(
            name=name, label=label, identified=entry.get("identified") is True, channel=channel
        )
    return speakers


def read_audit_speakers(audit: Any) -> dict[str, SpeakerInfo]:
    """``clusters[]`` of the audit: ``speakerKey`` → ``mappedTo`` (display name) or ``label``."""
    document = _as_object(audit, "audit")
    clusters = document.get("clusters", [])
    if not isinstance(clusters, list):
        raise InvalidInput("audit.clusters", "must be a list")
    speakers: dict[str, SpeakerInfo] = {}
    for index, cluster in enumerate(clusters):
        path = f"audit.clusters[{index}]"
        if not isinstance(cluster, dict):
            raise InvalidInput(path, "must be an object")
        key = _required_string(cluster, "speakerKey", path, InvalidInput)
        label = clean_text(_required_string(cluster, "label", path, InvalidInput))
        mapped_to = cluster.get("mappedTo")
        display = clean_text(mapped_to) if isinstance(mapped_to, str) else ""
        channel = _optional_channel(cluster, path, InvalidInput)
        speakers[key] = SpeakerInfo(name=display or label, label=label, identified=bool(display), channel=channel)
    return speakers


# --- small helpers --------------------------------------------------------------------------


def _as_object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(what, f"must be a JSON object, got {type(value).__name__}")
    return value


def _check_schema_version(document: Mapping[str, Any], field: str) -> None:
    version = document.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise InvalidInput(
            field,
            f"is {shown(version)}; this diarflow reads version {SCHEMA_VERSION} (was the artifact written by another "
            "one?)",
        )


def _optional_channel(entry: Mapping[str, Any], path: str, error: type[InvalidInput]) -> int | None:
    value = entry.get("channel")
    if value is None:
        return None
    if type(value) is not int or not 0 <= value < MAX_CHANNELS:
        raise error(
            f"{path}.channel", f"must be null or a channel number from 0 to {MAX_CHANNELS - 1}, got {shown(value)}"
        )
    return value


def _required_string(entry: Mapping[str, Any], name: str, path: str, error: type[InvalidInput]) -> str:
    value = entry.get(name)
    if not isinstance(value, str) or not value.strip():
        raise error(f"{path}.{name}", f"must be a non-empty string, got {shown(value)}")
    return value
