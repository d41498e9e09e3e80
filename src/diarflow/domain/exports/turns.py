"""Grouping words for export: speaker turns (transcripts) and caption cues (subtitles).

Both walk the word columns once, in transcript order, so an 80,000-word
episode groups in tens of milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import groupby

from diarflow.contracts import MAX_SECONDS
from diarflow.domain.exports.episode import ExportWords
from diarflow.domain.text import CLOSERS, SENTENCE_ENDS, display_width
from diarflow.errors import InvalidInput

# --- speaker turns ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpeakerTurn:
    """Consecutive words shown under one speaker: ``words.texts[first:stop]``."""

    speaker: str
    first: int
    stop: int
    start_ms: int
    end_ms: int

    def text(self, words: ExportWords) -> str:
        """The turn's words as one text, spaced as their language writes them."""
        return words.joined(self.first, self.stop)

    def confidence(self, words: ExportWords) -> float | None:
        """Mean speaker confidence of the turn's words that have one (None if none has)."""
        known = [c for c in words.confidences[self.first : self.stop] if c is not None]
        return sum(known) / len(known) if known else None


def speaker_turns(words: ExportWords) -> list[SpeakerTurn]:
    """Maximal runs of consecutive words with the same shown speaker.

    Grouping is by shown name, not diarizer cluster: two clusters identified
    as the same person read as one voice. Times are the run's earliest start
    and latest end, so a turn spans all its words even if they overlap.
    """
    turns: list[SpeakerTurn] = []
    first = 0
    for speaker, run in groupby(words.speakers):
        stop = first + sum(1 for _ in run)
        turns.append(
            SpeakerTurn(
                speaker=speaker,
                first=first,
                stop=stop,
                start_ms=min(words.starts_ms[first:stop]),
                end_ms=max(words.ends_ms[first:stop]),
            )
        )
        first = stop
    return turns


# --- caption cues ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CaptionOptions:
    """How words are cut into caption cues (SRT and WebVTT).

    The defaults follow common subtitle guidance (BBC, Netflix): two lines of
    at most 42 characters, on screen for at most 7 seconds. A cue also ends at
    a speaker change, after a word that ends a sentence (``.?!…`` and CJK
    ``。！？``), and at a silence longer than ``max_pause`` (so a caption does
    not hang over the silence).

    Line length is measured in display columns
    (:func:`~diarflow.domain.text.display_width`): a full-width character —
    Han, kana, Hangul — counts two, as it is about twice as wide on screen, so
    the default 42 gives 42 Latin characters or 21 Chinese ones. Netflix's
    Chinese style guides ask for 16 characters per line, which
    ``max_line_chars=32`` gives. Chinese and Japanese lines wrap between
    characters, without spaces.
    """

    max_line_chars: int = 42
    """Columns per line, counting a visible speaker prefix (``Diane: `` in SRT). A longer word gets a line alone."""
    max_lines: int = 2
    """Lines per cue."""
    max_cue_duration: float = 7.0
    """Seconds from a cue's first word start to its last word end. A longer word gets a cue alone."""
    max_pause: float = 2.0
    """Seconds of silence between two words that end a cue."""

    def __post_init__(self) -> None:
        if self.max_line_chars < 1:
            raise InvalidInput("max_line_chars", f"must be at least 1, got {self.max_line_chars}")
        if self.max_lines < 1:
            raise InvalidInput("max_lines", f"must be at least 1, got {self.max_lines}")
        for name in ("max_cue_duration", "max_pause"):
            value = getattr(self, name)
            if not 0 < value <= MAX_SECONDS:  # NaN fails too
                raise InvalidInput(name, f"must be a positive number of seconds up to {MAX_SECONDS:,}, got {value}")


@dataclass(frozen=True, slots=True)
class Cue:
    """One caption: ``words.texts[first:stop]`` of one speaker, wrapped into lines; ``end_ms > start_ms``."""

    speaker: str
    first: int
    stop: int
    start_ms: int
    end_ms: int
    lines: tuple[str, ...]


def caption_cues(
    words: ExportWords,
    options: CaptionOptions,
    prefix_chars: Callable[[str], int] = lambda speaker: 0,
) -> list[Cue]:
    """Cut the words into cues; ``prefix_chars(speaker)`` is the first line's visible prefix width.

    Lines are filled greedily and break only where the language allows
    (:class:`~diarflow.domain.text.WordSpacing`): at a space, or between
    Chinese or Japanese characters; never inside a word nor inside a
    spelled-out token such as ``3``·``0``·``0``. Every cue lasts at least
    one millisecond, so readers that reject empty cues accept it.
    """
    max_duration_ms = round(options.max_cue_duration * 1000)
    max_pause_ms = round(options.max_pause * 1000)
    width, max_lines = options.max_line_chars, options.max_lines
    texts = words.texts
    spacing = words.spacing
    spaced_throughout = spacing.spaced_throughout
    first_line_limits = {name: width - prefix_chars(name) for name in set(words.speakers)}
    sentence_ends = [text.rstrip(CLOSERS)[-1:] in SENTENCE_ENDS for text in texts]  # ends_sentence(), inlined
    if "".join(texts).isascii():  # every column one character wide: the C-level len() will do
        widths = list(map(len, texts))
    else:
        widths = [len(text) if text.isascii() else display_width(text) for text in texts]
    # Whether a line may break before a word, the space before it, and the width it brings (its own plus any
    # tokens glued to it, which follow it onto its line).
    line_breaks = spacing.break_before
    gaps = [1] * len(texts) if spaced_throughout else [1 if space else 0 for space in spacing.space_before]
    unit_widths = _unit_widths(widths, line_breaks)

    cues: list[Cue] = []
    lines: list[str] = []
    line_first = 0
    line_width = 0
    line_limit = width
    speaker = ""
    cue_first = cue_start = cue_end = 0
    after_sentence = False

    def line_text(first: int, stop: int) -> str:
        return " ".join(texts[first:stop]) if spaced_throughout else spacing.join(texts, first, stop)

    def close(stop: int) -> None:
        lines.append(line_text(line_first, stop))
        cues.append(Cue(speaker, cue_first, stop, cue_start, max(cue_end, cue_start + 1), tuple(lines)))

    # One pass; plain comparisons rather than min()/max() calls keep 80,000 words well under 0.1 s.
    words_in_order = zip(
        words.speakers,
        words.starts_ms,
        words.ends_ms,
        sentence_ends,
        widths,
        gaps,
        unit_widths,
        line_breaks,
        strict=True,
    )
    for i, (word_speaker, start, end, closes_sentence, word_width, gap, unit_width, may_break) in enumerate(
        words_in_order
    ):
        if i > cue_first:
            spanned_start = start if start < cue_start else cue_start
            spanned_end = end if end > cue_end else cue_end
            if (
                word_speaker == speaker
                and not after_sentence
                and spanned_end - spanned_start <= max_duration_ms
                and start - cue_end <= max_pause_ms
            ):
                # A glued token stays on its line: the width of its whole run was checked when the run began.
                if not may_break or line_width + gap + unit_width <= line_limit:
                    line_width += gap + word_width
                    cue_start, cue_end, after_sentence = spanned_start, spanned_end, closes_sentence
                    continue
                if len(lines) + 1 < max_lines:
                    lines.append(line_text(line_first, i))
                    line_first, line_width, line_limit = i, word_width, width
                    cue_start, cue_end, after_sentence = spanned_start, spanned_end, closes_sentence
                    continue
            close(i)
        # Start a new cue with this word.
        speaker, cue_first = word_speaker, i
        lines = []
        line_first, line_width, line_limit = i, word_width, first_line_limits[speaker]
        cue_start, cue_end, after_sentence = start, end, closes_sentence
    if texts:
        close(len(texts))
    return cues


def _unit_widths(widths: list[int], line_breaks: list[bool]) -> list[int]:
    """Per word: its width plus the widths of the words glued after it (no line break between them)."""
    if False not in line_breaks[1:]:  # nothing glued: every word is its own unit
        return widths
    units = widths.copy()
    for i in range(len(widths) - 1, 0, -1):
        if not line_breaks[i]:
            units[i - 1] += units[i]
    return units
