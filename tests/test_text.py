"""Joining words as each language writes them (issue 14): the rule, real Deepgram output, widths, speed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from diarflow.domain.text import display_width, ends_sentence, join_words, word_spacing

DEEPGRAM_CORPUS = Path(__file__).parent / "data" / "deepgram"
RESPONSES = sorted(path for path in DEEPGRAM_CORPUS.glob("*.json") if path.name != "manifest.json")


# --- real Deepgram responses --------------------------------------------------------------------


def test_the_corpus_holds_the_nine_real_responses() -> None:
    assert len(RESPONSES) == 9


@pytest.mark.parametrize("path", RESPONSES, ids=[path.stem for path in RESPONSES])
def test_joining_the_words_reproduces_deepgrams_transcript(path: Path) -> None:
    alternative = json.loads(path.read_text(encoding="utf-8"))["results"]["channels"][0]["alternatives"][0]
    texts = [word.get("punctuated_word", word["word"]) for word in alternative["words"]]
    assert join_words(texts) == alternative["transcript"]


# --- the rule, per script -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("words", "text"),
    [
        # Chinese, one word per character as Deepgram's base model writes it
        (["這", "不", "雞", "配"], "這不雞配"),
        # Chinese words with their punctuation, as nova models write them
        (["你好，", "世界。", "他說：", "「我們", "走吧！」"], "你好，世界。他說：「我們走吧！」"),
        # Japanese: kanji, hiragana, katakana, half-width katakana; punctuation Deepgram put before the next word
        (["はい", "じゃあ", "始め", "ます", "。次", "は", "ｶﾀｶﾅ", "です"], "はいじゃあ始めます。次はｶﾀｶﾅです"),
        # Thai, Lao, Khmer, Myanmar, Tibetan
        (["สวัสดี", "ครับ"], "สวัสดีครับ"),
        (["ສະບາຍດີ", "ເຈົ້າ"], "ສະບາຍດີເຈົ້າ"),
        (["សួស្តី", "បង"], "សួស្តីបង"),
        (["မင်္ဂလာ", "ပါ"], "မင်္ဂလာပါ"),
        (["བཀྲ་ཤིས་", "བདེ་ལེགས།"], "བཀྲ་ཤིས་བདེ་ལེགས།"),
        # Korean is written with spaces between words: they stay
        (["안녕하세요,", "저는", "민수입니다."], "안녕하세요, 저는 민수입니다."),
        # Latin inside Chinese: no space at the boundary, spaces between the Latin words
        (["我", "用", "iPhone", "and", "Android", "手機"], "我用iPhone and Android手機"),
        (["好。", "OK"], "好。OK"),
        # a rare ideograph (extension B, outside the Basic Multilingual Plane) and a compatibility one
        (["𠀀", "字", "﨑"], "𠀀字﨑"),
        # full-width Latin is part of CJK text
        (["ＡＢＣ", "公司"], "ＡＢＣ公司"),
    ],
)
def test_words_join_as_their_language_writes_them(words: list[str], text: str) -> None:
    assert join_words(words) == text


def test_spelled_out_tokens_inside_chinese_join_into_one() -> None:
    # Deepgram's base Chinese model writes a word per character, digits and Latin letters included.
    words = list("從原來的300降到75%因為covid19")  # one word per character
    assert join_words(words) == "從原來的300降到75%因為covid19"


def test_single_letters_stay_apart_away_from_chinese() -> None:
    assert join_words(["Am", "I", "a", "fool?"]) == "Am I a fool?"
    assert join_words(["Plan", "A", "or", "B", "中文"]) == "Plan A or B中文"
    assert join_words(["1", "2", "3", "go"]) == "1 2 3 go"


def test_nothing_joins_an_empty_list_and_one_word_is_itself() -> None:
    assert join_words([]) == ""
    assert join_words(["中"]) == "中"
    assert word_spacing([]).space_before == []


def test_a_line_may_break_between_characters_but_not_inside_a_spelled_out_token() -> None:
    spacing = word_spacing(["我們", "用", "iPhone", "錄", "了", "3", "0", "0", "集。"])
    assert spacing.space_before == [False] * 9
    assert spacing.break_before == [False, True, True, True, True, True, False, False, True]


def test_english_spacing_is_a_space_everywhere() -> None:
    spacing = word_spacing(["Hello,", "and", "welcome.", "Café", "crème"])
    assert spacing.spaced_throughout
    assert spacing.space_before == spacing.break_before == [False, True, True, True, True]


def test_a_slice_joins_as_it_does_inside_the_whole_text() -> None:
    texts = ["Hi", "從", "3", "0", "0", "到", "OK", "fine"]
    spacing = word_spacing(texts)
    assert spacing.join(texts) == "Hi從300到OK fine"
    assert spacing.join(texts, 3, 5) == "00"  # the run touches 從 in the whole text, so it stays glued
    assert spacing.join(texts, 6, 8) == "OK fine"
    assert spacing.join(texts, 4, 4) == ""


WORDS = st.lists(
    st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp")), min_size=1, max_size=4), max_size=30
)


@given(words=WORDS)
def test_joining_keeps_every_character_and_spaces_only_where_it_says(words: list[str]) -> None:
    spacing = word_spacing(words)
    joined = spacing.join(words)
    assert joined.replace(" ", "") == "".join(words)
    assert joined.count(" ") == sum(spacing.space_before)
    assert all(space <= may_break for space, may_break in zip(spacing.space_before, spacing.break_before, strict=True))
    for first in range(len(words) + 1):  # any run of the words joins as it reads inside the whole
        for stop in range(first, len(words) + 1):
            assert spacing.join(words, first, stop) in joined


# --- widths and sentence ends ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "columns"),
    [
        ("Hello", 5),
        ("這不雞配", 8),
        ("我用iPhone", 10),
        ("한국어", 6),
        ("ｶﾀｶﾅ", 4),  # half-width katakana: one column each
        ("ＡＢ", 4),  # full-width Latin: two each
        ("กี่", 1),  # a Thai consonant and two combining marks
        ("e\u0301", 1),  # e and a combining acute accent
        ("", 0),
    ],
)
def test_display_width_counts_full_width_characters_twice(text: str, columns: int) -> None:
    assert display_width(text) == columns


def test_cjk_sentence_ends_end_sentences() -> None:
    assert all(
        ends_sentence(word) for word in ["好。", "嗎？", "走吧！", "「是！」", "『終わり。』", "ね｡", "（完。）"]
    )
    assert not any(ends_sentence(word) for word in ["你好，", "他說：", "「我們", "、"])


# --- speed --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["english", "chinese"])
def test_an_80000_word_episode_is_spaced_in_a_few_milliseconds(language: str) -> None:
    vocabulary = ["so", "the", "podcast,", "today."] if language == "english" else ["這", "不", "雞排，", "3", "0"]
    texts = [vocabulary[i % len(vocabulary)] for i in range(80_000)]
    began = time.perf_counter()
    joined = join_words(texts)
    seconds = time.perf_counter() - began
    assert joined.startswith("so the" if language == "english" else "這不雞排，30這")
    # ~1 ms (English: one scan of the text) and ~30 ms (Chinese) measured; the bound leaves room for a busy machine.
    assert seconds < 0.5, f"{seconds * 1000:.0f} ms"
