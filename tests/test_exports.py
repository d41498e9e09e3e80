"""Exports (issue 9): every format read back by an independent reader.

Captions go through ``srt`` and ``webvtt-py``, RTTM through pyannote.database's
``load_rttm`` (pandas + pyannote.core), Markdown through markdown-it, JSON
through the standard library. A round trip must keep every word, in order, and
the order of speakers.
"""

from __future__ import annotations

import html
import io
import json
import re
import time
from datetime import timedelta
from itertools import groupby
from pathlib import Path
from typing import Any

import pytest
import srt
import typer
import webvtt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from pyannote.database.util import load_rttm
from typer.testing import CliRunner

from diarflow.adapters.stores import open_store, put_json
from diarflow.cli import export as export_cli
from diarflow.contracts import EnrichedTranscript, keys
from diarflow.domain.exports import (
    FORMATS,
    UNKNOWN_SPEAKER_NAME,
    CaptionOptions,
    Cue,
    EpisodeExport,
    ExportWords,
    caption_cues,
    render,
)
from diarflow.domain.exports.timestamps import (
    clock_timestamp,
    decimal_seconds,
    srt_timestamp,
    to_milliseconds,
    vtt_timestamp,
)
from diarflow.domain.text import display_width, ends_sentence, word_spacing
from diarflow.errors import InvalidInput, InvalidTranscript

# --- building artifacts -------------------------------------------------------------------


def make_word(
    start: float, end: float, text: str, speaker: str | None, confidence: float | None = 0.9
) -> dict[str, Any]:
    return {
        "start": start,
        "end": end,
        "word": text,
        "speaker": speaker,
        "speaker_confidence": None if speaker is None else confidence,
        "diar_speaker": "UNKNOWN" if speaker is None else f"SPK_{speaker}",
        "source": "pyannote",
    }


def make_enriched(words: list[dict[str, Any]], speakers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "episode_id": "E1",
        "source": "pyannote",
        "created_at": "2025-01-01T00:00:00.000Z",
        "speakers": speakers or [],
        "words": words,
    }


def make_diarization(segments: list[tuple[float, float, str]]) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "episode_id": "E1",
        "source": "pyannote",
        "created_at": "2025-01-01T00:00:00.000Z",
        "segments": [{"start": s, "end": e, "speaker": k, "confidence": 0.9} for s, e, k in segments],
    }


SPEAKERS = [
    {"diar_speaker": "SPEAKER_0", "label": "A", "speaker": "Diane Rehm", "identified": True},
    {"diar_speaker": "SPEAKER_1", "label": "B", "speaker": "B", "identified": False},
]
WORDS = [
    make_word(0.10, 0.30, "Hello,", "Diane Rehm", 0.95),
    make_word(0.35, 0.60, "and", "Diane Rehm", 0.85),
    make_word(0.65, 0.90, "welcome.", "Diane Rehm", 0.90),
    make_word(1.00, 1.30, "um", None),
    make_word(1.40, 1.90, "Thanks", "B", 0.70),
    make_word(1.95, 2.40, "Diane!", "B", 0.80),
]
DIARIZATION = make_diarization([(0.0, 0.95, "SPEAKER_0"), (1.35, 2.5, "SPEAKER_1")])


def example_episode() -> EpisodeExport:
    return EpisodeExport.from_artifacts(
        "E1", enriched=make_enriched(WORDS, SPEAKERS), diarization=DIARIZATION, audit=None
    )


# --- what a round trip must keep -------------------------------------------------------------


def shown_speaker(name: str | None) -> str:
    cleaned = " ".join((name or "").split())
    return cleaned or UNKNOWN_SPEAKER_NAME


def expected_tokens(words: list[dict[str, Any]]) -> list[str]:
    """Every word's text, whitespace-insensitive: exports collapse whitespace inside a word."""
    return " ".join(w["word"] for w in words).split()


def visible_characters(texts: list[str]) -> str:
    """Every character but whitespace, in order: what any export must keep, however it spaces the words."""
    return "".join("".join(text.split()) for text in texts)


def expected_turn_speakers(words: list[dict[str, Any]]) -> list[str]:
    """Speakers in order, consecutive repeats merged (words with no visible text carry no turn)."""
    spoken = [shown_speaker(w["speaker"]) for w in words if w["word"].split()]
    return [speaker for speaker, _ in groupby(spoken)]


def expected_turns(words: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(speaker, text) per turn: each turn's words spaced as :func:`word_spacing` spaces the whole transcript."""
    kept = [(shown_speaker(w["speaker"]), " ".join(w["word"].split())) for w in words if w["word"].split()]
    texts = [text for _, text in kept]
    spacing = word_spacing(texts)
    turns, first = [], 0
    for speaker, run in groupby(speaker for speaker, _ in kept):
        stop = first + sum(1 for _ in run)
        turns.append((speaker, spacing.join(texts, first, stop)))
        first = stop
    return turns


def merged(speakers: list[str]) -> list[str]:
    return [speaker for speaker, _ in groupby(speakers)]


# --- independent readers ------------------------------------------------------------------------


def read_srt(text: str) -> list[tuple[str, str, int, int]]:
    """(speaker, text, start ms, end ms) per cue, via the ``srt`` package."""
    cues = []
    for subtitle in srt.parse(text):
        speaker, separator, rest = subtitle.content.partition(": ")
        assert separator, f"cue without a speaker prefix: {subtitle.content!r}"
        cues.append((speaker, rest, _ms(subtitle.start), _ms(subtitle.end)))
    return cues


def _ms(delta: timedelta) -> int:
    return round(delta.total_seconds() * 1000)


def read_vtt(text: str) -> list[tuple[str, str, int, int]]:
    """(speaker, text, start ms, end ms) per cue, via ``webvtt-py``; entities decoded as a browser would."""
    cues = []
    for caption in webvtt.from_buffer(io.StringIO(text)).captions:
        assert caption.voice is not None, f"cue without a voice: {caption.raw_text!r}"
        cues.append(
            (
                html.unescape(caption.voice),
                html.unescape(caption.text),
                caption.start_time.in_milliseconds(),
                caption.end_time.in_milliseconds(),
            )
        )
    return cues


def read_rttm(text: str, tmp_path: Path) -> list[tuple[int, int, str]]:
    """(start ms, end ms, speaker) per turn, via pyannote.database's RTTM loader."""
    path = tmp_path / "episode.rttm"
    path.write_text(text, encoding="utf-8")
    annotations = load_rttm(str(path))
    if not text:
        return []
    assert list(annotations) == ["E1"]
    return [
        (round(segment.start * 1000), round(segment.end * 1000), str(label))
        for segment, _, label in annotations["E1"].itertracks(yield_label=True)
    ]


_TXT_LINE = re.compile(r"\[(\d{2,}:\d{2}:\d{2})\] (.+?): (.*)")


def read_txt(text: str) -> list[tuple[str, str, str]]:
    """(clock, speaker, text) per line; plain text has no independent reader, so a strict pattern."""
    turns = []
    for line in text.splitlines():
        match = _TXT_LINE.fullmatch(line)
        assert match, f"not a transcript line: {line!r}"
        turns.append((match[1], match[2], match[3]))
    return turns


_MD_PARAGRAPH = re.compile(r"<p><strong>\[(\d{2,}:\d{2}:\d{2})\] (.+?):</strong> ?(.*?)</p>", re.S)


def read_md(text: str) -> list[tuple[str, str, str]]:
    """(clock, speaker, text) per turn, after rendering with markdown-it (CommonMark) to HTML."""
    rendered = MarkdownIt("commonmark").render(text)
    paragraphs = re.findall(r"<p>.*?</p>", rendered, re.S)
    turns = []
    for paragraph in paragraphs:
        match = _MD_PARAGRAPH.fullmatch(paragraph)
        assert match, f"markup leaked into the rendering: {paragraph!r}"
        assert "<" not in match[2] + match[3], f"text rendered as markup: {paragraph!r}"
        turns.append((match[1], html.unescape(match[2]), html.unescape(match[3])))
    return turns


def read_json(text: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(text)
    return document


def tokens_of(texts: list[str]) -> list[str]:
    return " ".join(texts).split()


# --- timestamps -------------------------------------------------------------------------------------


def test_timestamps_are_spelled_as_each_format_requires() -> None:
    assert srt_timestamp(1234) == "00:00:01,234"
    assert vtt_timestamp(1234) == "00:00:01.234"
    assert clock_timestamp(751_999) == "00:12:31"  # truncated, like a player's clock
    assert decimal_seconds(12_340) == "12.340"
    assert decimal_seconds(5) == "0.005"
    assert srt_timestamp(99 * 3_600_000 + 59 * 60_000 + 59_999) == "99:59:59,999"
    assert vtt_timestamp(36_000_000 + 61_001) == "10:01:01.001"


def test_milliseconds_round_to_nearest() -> None:
    assert to_milliseconds(1.2344) == 1234
    assert to_milliseconds(1.2346) == 1235
    assert to_milliseconds(0.0) == 0


def test_srt_refuses_100_hours_naming_the_alternative() -> None:
    with pytest.raises(InvalidInput, match=r"100 hours.*two-digit hours.*vtt"):
        srt_timestamp(100 * 3_600_000)


def test_a_word_up_to_48_hours_exports_in_every_format_and_a_later_one_is_refused() -> None:
    """Times are bounded where they enter (48 h), so SRT's two-digit hours never overflow from an artifact."""
    last = [make_word(172_799.5, 172_800.0, "late", "A")]
    episode = EpisodeExport.from_artifacts("E1", enriched=make_enriched(last))
    assert "47:59:59.500 --> 48:00:00.000" in render(episode, "vtt")
    assert read_srt(render(episode, "srt")) == [("A", "late", 172_799_500, 172_800_000)]
    assert read_txt(render(episode, "txt")) == [("47:59:59", "A", "late")]
    too_late = [make_word(360_000.5, 360_001.25, "later", "A")]
    with pytest.raises(InvalidInput, match=r"^enriched\.words\[0\]\.start: must be a finite, non-negative time up to"):
        EpisodeExport.from_artifacts("E1", enriched=make_enriched(too_late))


# --- each format on a known episode --------------------------------------------------------------


def test_srt_output_is_exact() -> None:
    assert render(example_episode(), "srt") == (
        "1\n00:00:00,100 --> 00:00:00,900\nDiane Rehm: Hello, and welcome.\n\n"
        "2\n00:00:01,000 --> 00:00:01,300\nUnknown: um\n\n"
        "3\n00:00:01,400 --> 00:00:02,400\nB: Thanks Diane!\n"
    )


def test_vtt_output_is_exact() -> None:
    assert render(example_episode(), "vtt") == (
        "WEBVTT\n\n"
        "00:00:00.100 --> 00:00:00.900\n<v Diane Rehm>Hello, and welcome.\n\n"
        "00:00:01.000 --> 00:00:01.300\n<v Unknown>um\n\n"
        "00:00:01.400 --> 00:00:02.400\n<v B>Thanks Diane!\n"
    )


def test_txt_and_md_are_one_turn_per_line_or_paragraph() -> None:
    episode = example_episode()
    assert render(episode, "txt") == (
        "[00:00:00] Diane Rehm: Hello, and welcome.\n[00:00:01] Unknown: um\n[00:00:01] B: Thanks Diane!\n"
    )
    assert render(episode, "md") == (
        "**[00:00:00] Diane Rehm:** Hello, and welcome.\n\n"
        "**[00:00:01] Unknown:** um\n\n"
        "**[00:00:01] B:** Thanks Diane!\n"
    )


def test_json_is_turn_level_with_speakers_in_order_of_appearance() -> None:
    document = read_json(render(example_episode(), "json"))
    assert document["episode_id"] == "E1"
    assert document["speakers"] == [
        {"speaker": "Diane Rehm", "label": "A", "identified": True},
        {"speaker": "Unknown", "label": None, "identified": False},
        {"speaker": "B", "label": "B", "identified": False},
    ]
    assert document["turns"] == [
        {"speaker": "Diane Rehm", "start": 0.1, "end": 0.9, "text": "Hello, and welcome.", "confidence": 0.9},
        {"speaker": "Unknown", "start": 1.0, "end": 1.3, "text": "um", "confidence": None},
        {"speaker": "B", "start": 1.4, "end": 2.4, "text": "Thanks Diane!", "confidence": 0.75},
    ]


def test_rttm_names_turns_after_identification_and_is_read_by_pyannote(tmp_path: Path) -> None:
    text = render(example_episode(), "rttm")
    assert text == (
        "SPEAKER E1 1 0.000 0.950 <NA> <NA> Diane_Rehm <NA> <NA>\nSPEAKER E1 1 1.350 1.150 <NA> <NA> B <NA> <NA>\n"
    )
    assert read_rttm(text, tmp_path) == [(0, 950, "Diane_Rehm"), (1350, 2500, "B")]


def test_rttm_falls_back_to_the_audit_then_to_the_diarizer_label(tmp_path: Path) -> None:
    audit = {"clusters": [{"speakerKey": "SPEAKER_0", "label": "A", "mappedTo": "Diane  Rehm"}]}
    diarization = make_diarization([(0.0, 1.0, "SPEAKER_0"), (1.0, 2.0, "SPEAKER_9"), (2.0, 2.0004, "SPEAKER_0")])
    episode = EpisodeExport.from_artifacts("E1", diarization=diarization, audit=audit)
    # The 0.4 ms turn rounds to 0 ms: it holds no speech and is left out.
    assert read_rttm(render(episode, "rttm"), tmp_path) == [(0, 1000, "Diane_Rehm"), (1000, 2000, "SPEAKER_9")]


def test_unattributed_words_are_kept_under_unknown_in_every_format(tmp_path: Path) -> None:
    words = [make_word(0.0, 0.5, "nobody", None), make_word(0.6, 1.0, "claims", None), make_word(1.1, 1.5, "this", "A")]
    episode = EpisodeExport.from_artifacts("E1", enriched=make_enriched(words))
    assert [(s, t) for s, t, _, _ in read_srt(render(episode, "srt"))] == [("Unknown", "nobody claims"), ("A", "this")]
    assert [(s, t) for s, t, _, _ in read_vtt(render(episode, "vtt"))] == [("Unknown", "nobody claims"), ("A", "this")]
    assert [(s, t) for _, s, t in read_txt(render(episode, "txt"))] == [("Unknown", "nobody claims"), ("A", "this")]
    assert [(s, t) for _, s, t in read_md(render(episode, "md"))] == [("Unknown", "nobody claims"), ("A", "this")]
    turns = read_json(render(episode, "json"))["turns"]
    assert [(t["speaker"], t["text"]) for t in turns] == [("Unknown", "nobody claims"), ("A", "this")]


# --- escaping -------------------------------------------------------------------------------------


TRICKY_WORDS = ["<script>alert(1)</script>", "A&B", "&amp;", "-->", "<v", "Evil>", "<b>bold</b>", "*not*", "[x](y)"]


def test_vtt_escapes_markup_so_a_tag_looking_word_cannot_break_the_cue() -> None:
    words = [make_word(i * 0.5, i * 0.5 + 0.4, text, "<i>Host</i> & co") for i, text in enumerate(TRICKY_WORDS)]
    text = render(EpisodeExport.from_artifacts("E1", enriched=make_enriched(words)), "vtt", CaptionOptions(max_lines=9))
    assert "<script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<v &lt;i&gt;Host&lt;/i&gt; &amp; co>" in text
    cues = read_vtt(text)
    assert text.count("-->") == len(cues)  # only timing lines: the word "-->" is written "--&gt;"
    assert {speaker for speaker, _, _, _ in cues} == {"<i>Host</i> & co"}
    assert tokens_of([t for _, t, _, _ in cues]) == expected_tokens(words)


def test_markdown_escapes_markup_so_renderers_show_the_words() -> None:
    words = [make_word(i * 0.5, i * 0.5 + 0.4, text, "*Host*_1") for i, text in enumerate(TRICKY_WORDS)]
    turns = read_md(render(EpisodeExport.from_artifacts("E1", enriched=make_enriched(words)), "md"))
    assert turns == [("00:00:00", "*Host*_1", " ".join(TRICKY_WORDS))]


def test_whitespace_inside_words_and_names_cannot_split_a_cue_or_a_line() -> None:
    words = [make_word(0.0, 0.4, "two\n\nlines", "Ann\nLee"), make_word(0.5, 0.9, "   ", "Ann Lee")]
    episode = EpisodeExport.from_artifacts("E1", enriched=make_enriched(words))
    assert read_srt(render(episode, "srt")) == [("Ann Lee", "two lines", 0, 400)]
    assert read_txt(render(episode, "txt")) == [("00:00:00", "Ann Lee", "two lines")]


# --- languages written without spaces (issue 14) -----------------------------------------------------

# Deepgram's words for a Chinese conversation: whole words with their punctuation, Latin and a number spelled
# out digit by digit (as its base model writes them); 0.3 s a word.
CHINESE_TURNS = [
    ("SPEAKER_0", ["這", "不", "是", "雞排，", "你", "知道", "嗎？"]),
    ("SPEAKER_1", ["我們", "用", "iPhone", "錄", "了", "3", "0", "0", "集。"]),
    ("SPEAKER_0", ["真的", "嗎？"]),
]
CHINESE_SPEAKERS = [
    {"diar_speaker": "SPEAKER_0", "label": "A", "speaker": "主持人", "identified": True},
    {"diar_speaker": "SPEAKER_1", "label": "B", "speaker": "來賓", "identified": True},
]


def chinese_episode() -> EpisodeExport:
    names = {entry["diar_speaker"]: entry["speaker"] for entry in CHINESE_SPEAKERS}
    texts = [(names[diar_speaker], text) for diar_speaker, turn in CHINESE_TURNS for text in turn]
    words = [make_word(i * 0.3, i * 0.3 + 0.24, text, speaker) for i, (speaker, text) in enumerate(texts)]
    return EpisodeExport.from_artifacts("E1", enriched=make_enriched(words, CHINESE_SPEAKERS))


def test_chinese_srt_and_vtt_cues_are_written_without_spaces() -> None:
    assert render(chinese_episode(), "srt") == (
        "1\n00:00:00,000 --> 00:00:02,040\n主持人: 這不是雞排，你知道嗎？\n\n"
        "2\n00:00:02,100 --> 00:00:04,740\n來賓: 我們用iPhone錄了300集。\n\n"
        "3\n00:00:04,800 --> 00:00:05,340\n主持人: 真的嗎？\n"
    )
    assert read_vtt(render(chinese_episode(), "vtt")) == [
        ("主持人", "這不是雞排，你知道嗎？", 0, 2040),
        ("來賓", "我們用iPhone錄了300集。", 2100, 4740),
        ("主持人", "真的嗎？", 4800, 5340),
    ]


def test_chinese_txt_md_and_json_turns_are_written_without_spaces() -> None:
    episode = chinese_episode()
    assert render(episode, "txt") == (
        "[00:00:00] 主持人: 這不是雞排，你知道嗎？\n"
        "[00:00:02] 來賓: 我們用iPhone錄了300集。\n"
        "[00:00:04] 主持人: 真的嗎？\n"
    )
    assert read_md(render(episode, "md")) == [
        ("00:00:00", "主持人", "這不是雞排，你知道嗎？"),
        ("00:00:02", "來賓", "我們用iPhone錄了300集。"),
        ("00:00:04", "主持人", "真的嗎？"),
    ]
    turns = read_json(render(episode, "json"))["turns"]
    assert [turn["text"] for turn in turns] == ["這不是雞排，你知道嗎？", "我們用iPhone錄了300集。", "真的嗎？"]


def test_chinese_captions_wrap_between_characters_counting_each_as_two_columns() -> None:
    episode = chinese_episode()
    # 這不是 is 6 columns; with 雞排， it would be 12, past 10. Counting characters (3, then 6) would not wrap there.
    vtt = read_vtt(render(episode, "vtt", CaptionOptions(max_line_chars=10, max_lines=3)))
    assert vtt[0][1] == "這不是\n雞排，你\n知道嗎？"
    # SRT's "主持人: " takes 8 columns of the first line's 20.
    srt_text = render(episode, "srt", CaptionOptions(max_line_chars=20, max_lines=2))
    assert "主持人: 這不是雞排，\n你知道嗎？\n" in srt_text


def test_a_spelled_out_number_never_splits_across_caption_lines() -> None:
    # 我們用iPhone錄了 fills 16 of 17 columns: the 3 of 300 would fit, but 300 goes to the next line whole.
    vtt = read_vtt(render(chinese_episode(), "vtt", CaptionOptions(max_line_chars=17, max_lines=3)))
    assert vtt[1][1] == "我們用iPhone錄了\n300集。"


def test_cues_break_at_chinese_and_japanese_sentence_ends() -> None:
    assert _cues(_words_at(["好。", "我", "們", "走吧！", "「是", "嗎？」", "はい", "そうです｡", "では"])) == [
        ["好。"],
        ["我們走吧！"],
        ["「是嗎？」"],
        ["はいそうです｡"],
        ["では"],
    ]


def test_korean_keeps_its_spaces_in_every_format() -> None:
    words = _words_at(["안녕하세요,", "저는", "민수입니다."], speaker="민수")
    episode = EpisodeExport.from_artifacts("E1", enriched=make_enriched(words))
    assert read_srt(render(episode, "srt")) == [("민수", "안녕하세요, 저는 민수입니다.", 0, 840)]
    assert read_txt(render(episode, "txt")) == [("00:00:00", "민수", "안녕하세요, 저는 민수입니다.")]
    # Hangul is full-width too: 저는 is 4 columns, 안녕하세요, 11.
    vtt = read_vtt(render(episode, "vtt", CaptionOptions(max_line_chars=16, max_lines=2)))
    assert vtt == [("민수", "안녕하세요, 저는\n민수입니다.", 0, 840)]


# --- caption cutting ------------------------------------------------------------------------------


def _words_at(texts: list[str], speaker: str = "A", step: float = 0.3) -> list[dict[str, Any]]:
    return [make_word(i * step, i * step + step * 0.8, text, speaker) for i, text in enumerate(texts)]


def _cues(words: list[dict[str, Any]], options: CaptionOptions | None = None) -> list[list[str]]:
    episode = EpisodeExport.from_artifacts("E1", enriched=make_enriched(words))
    assert episode.words is not None
    return [list(cue.lines) for cue in caption_cues(episode.words, options or CaptionOptions())]


def test_cues_break_at_sentence_ends() -> None:
    assert _cues(_words_at(["One.", "Two?", "Three", "four!", "(five.)", "six"])) == [
        ["One."],
        ["Two?"],
        ["Three four!"],
        ["(five.)"],
        ["six"],
    ]


def test_cues_wrap_lines_at_the_width_and_start_a_cue_past_the_line_count() -> None:
    words = _words_at(["aaaa", "bbbb", "cccc", "dddd", "eeee"], step=0.1)
    assert _cues(words, CaptionOptions(max_line_chars=9, max_lines=2)) == [["aaaa bbbb", "cccc dddd"], ["eeee"]]


def test_a_word_longer_than_a_line_gets_a_line_of_its_own() -> None:
    words = _words_at(["a", "supercalifragilistic", "b"], step=0.1)
    assert _cues(words, CaptionOptions(max_line_chars=5, max_lines=3)) == [["a", "supercalifragilistic", "b"]]


def test_cues_break_at_the_maximum_duration_and_at_long_pauses() -> None:
    words = _words_at([f"w{i}" for i in range(10)], step=1.0)  # each word 0.8 s, one per second
    cues = _cues(words, CaptionOptions(max_cue_duration=3.0, max_line_chars=80))
    assert cues == [["w0 w1 w2"], ["w3 w4 w5"], ["w6 w7 w8"], ["w9"]]
    paused = [make_word(0.0, 0.5, "before", "A"), make_word(3.0, 3.5, "after", "A")]
    assert _cues(paused, CaptionOptions(max_pause=2.0)) == [["before"], ["after"]]
    assert _cues(paused, CaptionOptions(max_pause=3.0)) == [["before after"]]


def test_srt_counts_the_speaker_prefix_in_the_first_line() -> None:
    words = _words_at(["aaaa", "bbbb", "cccc"], speaker="Diane", step=0.1)
    episode = EpisodeExport.from_artifacts("E1", enriched=make_enriched(words))
    text = render(episode, "srt", CaptionOptions(max_line_chars=17, max_lines=2))
    assert "Diane: aaaa bbbb\ncccc\n" in text  # "Diane: aaaa bbbb" is 16 characters; cccc would make 21
    vtt = render(episode, "vtt", CaptionOptions(max_line_chars=17, max_lines=2))
    assert "<v Diane>aaaa bbbb cccc\n" in vtt  # a voice span is not printed, so it takes no width


def test_a_zero_length_word_still_makes_a_cue_readers_accept() -> None:
    episode = EpisodeExport.from_artifacts("E1", enriched=make_enriched([make_word(1.0, 1.0, "blip", "A")]))
    assert read_srt(render(episode, "srt")) == [("A", "blip", 1000, 1001)]
    assert read_vtt(render(episode, "vtt")) == [("A", "blip", 1000, 1001)]


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"max_line_chars": 0}, "max_line_chars"),
        ({"max_lines": 0}, "max_lines"),
        ({"max_cue_duration": 0.0}, "max_cue_duration"),
        ({"max_pause": float("nan")}, "max_pause"),
    ],
)
def test_caption_options_reject_nonsense(value: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput, match=field):
        CaptionOptions(**value)


def test_sentence_end_detection() -> None:
    assert all(ends_sentence(w) for w in ["end.", "why?", "so!", '"so."', "(right.)", "well…", "ok.’"])
    assert not any(ends_sentence(w) for w in ["and", "e.g", "", ")", '"', "3,5"])


# --- reading artifacts -------------------------------------------------------------------------------


def test_a_defect_in_the_enriched_words_is_reported_with_its_path() -> None:
    words = [make_word(0.0, 0.5, "fine", "A"), {**make_word(0.6, 1.0, "bad", "A"), "end": "soon"}]
    with pytest.raises(InvalidTranscript, match=r"enriched\.words\[1\]\.end: must be a number"):
        EpisodeExport.from_artifacts("E1", enriched=make_enriched(words))
    missing = [make_word(0.0, 0.5, "fine", "A"), {"start": 0.6, "end": 1.0, "speaker": None}]
    with pytest.raises(InvalidTranscript, match=r"enriched\.words\[1\]\.word: is missing"):
        EpisodeExport.from_artifacts("E1", enriched=make_enriched(missing))
    with pytest.raises(InvalidTranscript, match=r"enriched\.words\[0\]\.start: must be a finite"):
        EpisodeExport.from_artifacts("E1", enriched=make_enriched([make_word(float("nan"), 1.0, "x", "A")]))
    with pytest.raises(InvalidInput, match=r"enriched\.schema_version"):
        EpisodeExport.from_artifacts("E1", enriched={**make_enriched([]), "schema_version": 2})


def test_a_format_without_its_artifact_says_which_one_it_needs() -> None:
    with pytest.raises(InvalidInput, match="raw diarization"):
        render(EpisodeExport.from_artifacts("E1", enriched=make_enriched(WORDS)), "rttm")
    with pytest.raises(InvalidInput, match="enriched transcript"):
        render(EpisodeExport.from_artifacts("E1", diarization=DIARIZATION), "srt")
    with pytest.raises(InvalidInput, match="unknown format 'docx'"):
        render(example_episode(), "docx")


def test_the_column_reader_agrees_with_the_pydantic_contract() -> None:
    """The fast reader accepts what the contract accepts (the contract itself is too slow for 80k words)."""
    document = make_enriched(WORDS, SPEAKERS)
    EnrichedTranscript.model_validate(document)
    episode = EpisodeExport.from_artifacts("E1", enriched=document)
    assert episode.words is not None
    assert episode.words.texts == [w["word"] for w in WORDS]


def test_an_empty_episode_exports_empty_but_valid_files(tmp_path: Path) -> None:
    episode = EpisodeExport.from_artifacts("E1", enriched=make_enriched([]), diarization=make_diarization([]))
    assert read_srt(render(episode, "srt")) == []
    assert read_vtt(render(episode, "vtt")) == []
    assert read_rttm(render(episode, "rttm"), tmp_path) == []
    assert render(episode, "txt") == render(episode, "md") == ""
    assert read_json(render(episode, "json"))["turns"] == []


# --- property: random episodes round-trip through every reader ------------------------------------------

NAMES = [None, "Diane", "Dr. Jane O'Neil", "José Ñúñez", "A & B", "<b>Host</b>", "C", "Jean-Luc  Picard", " "]
WORD_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs")) | st.sampled_from(list("<>&*_[]`\\ .?!\"'")),
    max_size=10,
)


@st.composite
def random_episodes(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(min_value=0, max_value=40))
    clock = 0
    words = []
    for _ in range(count):
        clock += draw(st.integers(min_value=0, max_value=3_000))
        duration = draw(st.integers(min_value=0, max_value=1_500))
        words.append(make_word(clock / 1000, (clock + duration) / 1000, draw(WORD_TEXT), draw(st.sampled_from(NAMES))))
    turns = []
    clock = 0
    for _ in range(draw(st.integers(min_value=0, max_value=12))):
        clock += draw(st.integers(min_value=1, max_value=5_000))  # distinct starts: a well-defined order
        turns.append((clock / 1000, (clock + draw(st.integers(1, 9_000))) / 1000, f"SPK_{draw(st.integers(0, 4))}"))
    names = draw(st.lists(st.sampled_from([n for n in NAMES if n and n.strip()]), min_size=5, max_size=5))
    speakers = [
        {"diar_speaker": f"SPK_{k}", "label": "ABCDE"[k], "speaker": name, "identified": True}
        for k, name in enumerate(names)
    ]
    options = CaptionOptions(
        max_line_chars=draw(st.integers(min_value=1, max_value=60)),
        max_lines=draw(st.integers(min_value=1, max_value=3)),
        max_cue_duration=draw(st.floats(min_value=0.5, max_value=10)),
        max_pause=draw(st.floats(min_value=0.1, max_value=5)),
    )
    return {
        "enriched": make_enriched(words, speakers),
        "diarization": make_diarization(turns),
        "options": options,
        "names": {f"SPK_{k}": name for k, name in enumerate(names)},
    }


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=random_episodes())
def test_every_format_round_trips_words_and_speaker_order(case: dict[str, Any], tmp_path: Path) -> None:
    words = case["enriched"]["words"]
    options: CaptionOptions = case["options"]
    episode = EpisodeExport.from_artifacts("E1", enriched=case["enriched"], diarization=case["diarization"])
    characters, turns_expected = visible_characters([w["word"] for w in words]), expected_turns(words)
    turn_speakers = [speaker for speaker, _ in turns_expected]

    for cues in (read_srt(render(episode, "srt", options)), read_vtt(render(episode, "vtt", options))):
        # A line break stands where a space was, or between two Chinese characters: compare without spacing.
        assert visible_characters([text for _, text, _, _ in cues]) == characters
        assert merged([speaker for speaker, _, _, _ in cues]) == turn_speakers
        assert all(end > start for _, _, start, end in cues)
    assert [(speaker, text) for _, speaker, text in read_txt(render(episode, "txt"))] == turns_expected
    assert [(speaker, text) for _, speaker, text in read_md(render(episode, "md"))] == turns_expected
    document = read_json(render(episode, "json"))
    assert [(turn["speaker"], turn["text"]) for turn in document["turns"]] == turns_expected

    segments = case["diarization"]["segments"]
    expected_rttm = [
        (round(s["start"] * 1000), round(s["end"] * 1000), "_".join(case["names"][s["speaker"]].split()))
        for s in segments
    ]
    assert read_rttm(render(episode, "rttm"), tmp_path) == expected_rttm


@settings(max_examples=80, deadline=None)
@given(case=random_episodes())
def test_cues_respect_the_caption_options(case: dict[str, Any]) -> None:
    options: CaptionOptions = case["options"]
    episode = EpisodeExport.from_artifacts("E1", enriched=case["enriched"])
    words = episode.words
    assert words is not None
    cues = caption_cues(words, options)
    assert [i for cue in cues for i in range(cue.first, cue.stop)] == list(range(len(words)))
    for cue in cues:
        assert {words.speakers[i] for i in range(cue.first, cue.stop)} == {cue.speaker}
        assert len(cue.lines) <= options.max_lines
        # Lines fit, break only where the language allows, and are wider only when one unbreakable unit is.
        for first, stop in line_ranges(cue, words):
            assert first == cue.first or words.spacing.break_before[first]
            unbreakable = not any(words.spacing.break_before[first + 1 : stop])
            assert unbreakable or display_width(words.joined(first, stop)) <= options.max_line_chars
        assert not any(ends_sentence(words.texts[i]) for i in range(cue.first, cue.stop - 1))
        if cue.stop - cue.first > 1:
            assert cue.end_ms - cue.start_ms <= round(options.max_cue_duration * 1000)
            # Silence before a word: since the latest end so far (words may overlap).
            silences = [
                words.starts_ms[i + 1] - max(words.ends_ms[cue.first : i + 1]) for i in range(cue.first, cue.stop - 1)
            ]
            assert max(silences) <= round(options.max_pause * 1000)


def line_ranges(cue: Cue, words: ExportWords) -> list[tuple[int, int]]:
    """The word range ``[first, stop)`` of each of the cue's lines: the shortest run that joins to the line."""
    ranges, first = [], cue.first
    for line in cue.lines:
        stop = first + 1
        while words.joined(first, stop) != line:
            stop += 1
            assert stop <= cue.stop, f"line {line!r} is not a run of the cue's words"
        ranges.append((first, stop))
        first = stop
    assert first == cue.stop
    return ranges


# --- speed -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("word", "sentence_end"), [("word", "word."), ("詞", "詞。")], ids=["english", "chinese"])
def test_a_6_7_hour_episode_exports_every_format_well_under_a_second(word: str, sentence_end: str) -> None:
    """80,000 words, 4,000 turns, 5 speakers (``benchmarks/bench_exports.py [--language zh]`` prints the figures)."""
    num_words, seconds_per_word = 80_000, 6.7 * 3600 / 80_000
    names = ["Diane Rehm", "B", "C", "D", "E"]
    words = [
        make_word(
            i * seconds_per_word, i * seconds_per_word + 0.25, sentence_end if i % 13 == 0 else word, names[i // 20 % 5]
        )
        for i in range(num_words)
    ]
    segments = [(k * 6.03, k * 6.03 + 6.0, f"SPEAKER_{k % 5}") for k in range(4_000)]
    enriched, diarization = make_enriched(words), make_diarization(segments)

    began = time.perf_counter()
    episode = EpisodeExport.from_artifacts("E1", enriched=enriched, diarization=diarization)
    timings = {"read": time.perf_counter() - began}
    for name in FORMATS:
        began = time.perf_counter()
        render(episode, name)
        timings[name] = time.perf_counter() - began
    # The benchmark measures ~0.1 s for the slowest format; 1 s leaves room for a busy CI machine.
    assert max(timings.values()) < 1.0, timings


# --- the command line ------------------------------------------------------------------------------------------


@pytest.fixture
def cli() -> typer.Typer:
    """The export command on its own app, so the test does not depend on other commands importing."""
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Group mode: the command is invoked by name, as under ``diarflow``."""

    export_cli.register(app)
    return app


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    url = str(tmp_path / "store")
    store = open_store(url)
    put_json(store, keys.enriched_key("E1"), make_enriched(WORDS, SPEAKERS))
    put_json(store, keys.diarization_key("E1"), DIARIZATION)
    return url


def invoke(app: typer.Typer, *args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


@pytest.mark.parametrize("name", list(FORMATS))
def test_cli_prints_each_format_on_stdout(cli: typer.Typer, store_url: str, name: str) -> None:
    result = invoke(cli, "export", "E1", "--format", name, "--store", store_url)
    assert result.exit_code == 0, result.output
    assert result.stdout == render(example_episode(), name)


def test_cli_reads_the_store_from_the_environment(
    cli: typer.Typer, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIARFLOW_STORE", store_url)
    result = invoke(cli, "export", "E1", "-f", "txt")
    assert result.exit_code == 0, result.output
    assert "Diane Rehm: Hello, and welcome." in result.stdout


def test_cli_writes_out_file_with_caption_options(cli: typer.Typer, store_url: str, tmp_path: Path) -> None:
    out = tmp_path / "captions.srt"
    result = invoke(cli, "export", "E1", "-f", "srt", "--store", store_url, "--out", str(out), "--max-line-chars", "12")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert out.read_text(encoding="utf-8") == render(example_episode(), "srt", CaptionOptions(max_line_chars=12))
    assert "Diane Rehm: Hello,\nand welcome." in out.read_text(encoding="utf-8")


def test_cli_format_all_writes_every_format_into_the_store(cli: typer.Typer, store_url: str) -> None:
    result = invoke(cli, "export", "E1", "--format", "all", "--store", store_url)
    assert result.exit_code == 0, result.output
    written = result.stdout.splitlines()
    assert written == [f"diarization/E1/exports/E1.{fmt.extension}" for fmt in FORMATS.values()]
    store = open_store(store_url)
    assert list(store.list(keys.exports_prefix("E1"))) == sorted(written)
    for fmt in FORMATS.values():
        stored = store.get_bytes(f"diarization/E1/exports/E1.{fmt.extension}").decode("utf-8")
        assert stored == render(example_episode(), fmt.name)


def test_cli_rttm_needs_only_the_diarization_and_audit(cli: typer.Typer, tmp_path: Path) -> None:
    store = open_store(str(tmp_path))
    put_json(store, keys.diarization_key("E1"), DIARIZATION)
    put_json(
        store, keys.audit_key("E1"), {"clusters": [{"speakerKey": "SPEAKER_0", "label": "A", "mappedTo": "Diane"}]}
    )
    result = invoke(cli, "export", "E1", "-f", "rttm", "--store", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.stdout.split("\n")[0].split()[7] == "Diane"


def test_cli_missing_artifact_exits_1_with_a_clear_message(cli: typer.Typer, tmp_path: Path) -> None:
    result = invoke(cli, "export", "E1", "-f", "srt", "--store", str(tmp_path))
    assert result.exit_code == 1
    assert "no enriched transcript for episode E1" in result.stderr
    assert "diarization/E1.enriched.json is missing" in result.stderr
    assert "Traceback" not in result.output
    put_json(open_store(str(tmp_path)), keys.enriched_key("E1"), make_enriched(WORDS))
    result = invoke(cli, "export", "E1", "-f", "all", "--store", str(tmp_path))
    assert result.exit_code == 1
    assert "no diarization for episode E1" in result.stderr
    assert list(open_store(str(tmp_path)).list(keys.exports_prefix("E1"))) == []


def test_cli_corrupt_artifact_exits_1_naming_the_defect(cli: typer.Typer, tmp_path: Path) -> None:
    put_json(open_store(str(tmp_path)), keys.enriched_key("E1"), make_enriched([{"start": 0, "end": 1}]))
    result = invoke(cli, "export", "E1", "-f", "txt", "--store", str(tmp_path))
    assert result.exit_code == 1
    assert "enriched.words[0].word: is missing" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["../etc", "-f", "txt"], "episode_id"),
        (["E1", "-f", "docx"], "docx"),
        (["E1", "-f", "all", "--out", "x.txt"], "--out writes one format"),
        (["E1", "-f", "srt", "--max-lines", "0"], "--max-lines: must be at least 1"),
        (["E1", "-f", "srt", "--max-cue-duration", "-1"], "--max-cue-duration: must be a positive"),
    ],
)
def test_cli_bad_usage_exits_2(cli: typer.Typer, store_url: str, args: list[str], message: str) -> None:
    result = invoke(cli, "export", *args, "--store", store_url)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_cli_refuses_a_stored_word_past_48_hours_naming_it(cli: typer.Typer, tmp_path: Path) -> None:
    put_json(open_store(str(tmp_path)), keys.enriched_key("E1"), make_enriched([make_word(360_000, 360_001, "x", "A")]))
    for fmt in ("srt", "vtt"):
        result = invoke(cli, "export", "E1", "-f", fmt, "--store", str(tmp_path))
        assert result.exit_code == 1  # the store's artifact is invalid, not the command line
        assert "enriched.words[0].start: must be a finite, non-negative time up to 172,800 s (48 h)" in result.stderr


def test_cli_choices_and_defaults_match_the_domain() -> None:
    assert tuple(FORMATS) == export_cli.FORMAT_NAMES
    defaults = CaptionOptions()
    assert defaults.max_line_chars == export_cli.DEFAULT_MAX_LINE_CHARS
    assert defaults.max_lines == export_cli.DEFAULT_MAX_LINES
    assert defaults.max_cue_duration == export_cli.DEFAULT_MAX_CUE_DURATION
    assert defaults.max_pause == export_cli.DEFAULT_MAX_PAUSE


def test_export_is_a_diarflow_command(store_url: str) -> None:
    from diarflow.cli import app

    result = CliRunner().invoke(app, ["export", "E1", "--format", "txt", "--store", store_url])
    assert result.exit_code == 0, result.output
    assert result.stdout == render(example_episode(), "txt")


def test_json_claims_no_single_track_for_a_person_identified_on_two_tracks() -> None:
    """Two tracks' speakers named as one person: the person's turns are on both tracks, so on neither alone."""
    speakers = [
        {"diar_speaker": "CHANNEL_0", "label": "A", "speaker": "Diane", "identified": True, "channel": 0},
        {"diar_speaker": "CHANNEL_1", "label": "B", "speaker": "Diane", "identified": True, "channel": 1},
        {"diar_speaker": "CHANNEL_2", "label": "C", "speaker": "C", "identified": False, "channel": 2},
    ]
    words = [
        {**make_word(0.0, 0.4, "Hello.", "Diane"), "diar_speaker": "CHANNEL_0", "channel": 0},
        {**make_word(0.5, 0.9, "Hi.", "C"), "diar_speaker": "CHANNEL_2", "channel": 2},
        {**make_word(1.0, 1.4, "Yes.", "Diane"), "diar_speaker": "CHANNEL_1", "channel": 1},
    ]
    episode = EpisodeExport.from_artifacts("E1", enriched=make_enriched(words, speakers))
    document = read_json(render(episode, "json"))
    assert [(s["speaker"], s["channel"]) for s in document["speakers"]] == [("Diane", None), ("C", 2)]
    assert [(t["speaker"], t["channel"]) for t in document["turns"]] == [("Diane", None), ("C", 2), ("Diane", None)]


def test_json_keeps_the_track_of_a_person_whose_speakers_share_it() -> None:
    speakers = [
        {"diar_speaker": "SPEAKER_ch0.0", "label": "A", "speaker": "Diane", "identified": True, "channel": 0},
        {"diar_speaker": "SPEAKER_ch0.1", "label": "B", "speaker": "Diane", "identified": True, "channel": 0},
        {"diar_speaker": "SPEAKER_ch1.0", "label": "C", "speaker": "C", "identified": False, "channel": 1},
    ]
    words = [make_word(0.0, 0.4, "Hello.", "Diane"), make_word(0.5, 0.9, "Hi.", "C")]
    episode = EpisodeExport.from_artifacts("E1", enriched=make_enriched(words, speakers))
    document = read_json(render(episode, "json"))
    assert [(s["speaker"], s["channel"]) for s in document["speakers"]] == [("Diane", 0), ("C", 1)]
