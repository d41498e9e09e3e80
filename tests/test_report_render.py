"""The report's rendering (pure): talk times, escaping, status, and the lazily drawn data."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from typing import Any, NoReturn

import orjson
import pytest

from diarflow.errors import InvalidInput, InvalidTranscript
from diarflow.report import (
    build_report_model,
    check_audio_src,
    embed_json,
    format_duration,
    render_report,
    run_status,
    speech_time,
)
from diarflow.report.model import (
    PARAGRAPH_HARD_WORDS,
    UNATTRIBUTED,
    WORD_HAS_ALTERNATIVES,
    WORD_JOINS_PREVIOUS,
    WORD_LOW_CONFIDENCE,
)
from tests.report_episodes import (
    CHINESE_TEXT,
    SCRIPT_WORD,
    EpisodeArtifacts,
    chinese_episode,
    failed_error,
    long_episode,
    page_data,
    sample_episode,
    validate,
)

MAX_REPORT_BYTES = 15 * 1024 * 1024


def visible_text(page: str) -> str:
    """The page without its scripts and styles: what the server-side HTML says."""
    return re.sub(r"<(script|style)\b.*?</\1>", "", page, flags=re.S)


# --- talk time -------------------------------------------------------------------------


def test_talk_time_is_the_union_of_each_speakers_turns() -> None:
    assert speech_time([]) == 0
    assert speech_time([(0, 2), (1, 3), (5, 6)]) == pytest.approx(4)  # overlap counts once
    assert speech_time([(5, 6), (0, 1), (0.5, 0.7)]) == pytest.approx(2)  # unsorted, nested
    assert speech_time([(1, 1), (2, 2)]) == 0


def test_talk_times_follow_the_diarization_turns() -> None:
    episode = sample_episode()
    validate(episode)
    model = build_report_model(episode.episode_id, episode.enriched, episode.diarization, episode.audit, None)
    talk = {speaker.name: speaker.talk_seconds for speaker in model.speakers}
    assert talk == pytest.approx(episode.notes["talk"])
    assert sum(speaker.share for speaker in model.speakers) == pytest.approx(1)
    assert [speaker.name for speaker in model.speakers] == ["Diane", "B"]
    diane = model.speakers[0]
    assert diane.identified
    assert diane.labels == ("A",)
    assert diane.diar_speakers == ("SPEAKER_0",)


def test_overlapping_turns_of_one_speaker_count_once_in_talk_time() -> None:
    episode = sample_episode()
    assert episode.diarization is not None
    episode.diarization["segments"].append({"start": 6.8, "end": 7.0, "speaker": "SPEAKER_0", "confidence": 0.9})
    model = build_report_model(episode.episode_id, episode.enriched, episode.diarization, episode.audit, None)
    assert model.speakers[0].talk_seconds == pytest.approx(episode.notes["talk"]["Diane"])
    assert model.speakers[0].turn_count == 9


def test_talk_times_come_from_the_words_when_there_is_no_diarization() -> None:
    words = [
        _word(0.0, 0.5, "Ann"),
        _word(0.6, 1.0, "Ann"),  # within the gap tolerance: one turn 0.0-1.0
        _word(3.0, 3.5, "Ann"),  # a new turn
        _word(3.6, 4.0, "Bob"),
        _word(4.1, 4.4, None),
    ]
    enriched = _enriched(words, [("S0", "A", "Ann", True), ("S1", "B", "Bob", False)])
    model = build_report_model("E1", enriched, None, None, None)
    assert model.turns_from == "transcript"
    talk = {speaker.name: speaker.talk_seconds for speaker in model.speakers}
    assert talk == pytest.approx({"Ann": 1.5, "Bob": 0.4})
    assert model.turns.speaker == [0, 0, 1, UNATTRIBUTED]
    assert model.unattributed_words == 1


def test_talk_time_is_shown_per_speaker_in_the_page() -> None:
    episode = sample_episode()
    page = render_report(episode.enriched, episode.diarization, episode.audit, None)
    rows = re.findall(
        r'<span class="speaker-name">([^<]*)</span>.*?<td class="num talk-time" data-seconds="([\d.]+)">([^<]*)</td>',
        page,
    )
    shown = {name: (float(seconds), text) for name, seconds, text in rows}
    for name, seconds in episode.notes["talk"].items():
        assert shown[name][0] == pytest.approx(seconds, abs=1e-3)
        assert shown[name][1] == format_duration(seconds)


def test_durations_are_written_like_a_player_shows_them() -> None:
    assert format_duration(0) == "0:00"
    assert format_duration(83.4) == "1:23"
    assert format_duration(3723) == "1:02:03"
    assert format_duration(6.7 * 3600) == "6:42:00"


# --- status, source, errors ---------------------------------------------------------------


def test_status_comes_from_the_error_artifact_else_completed() -> None:
    assert run_status(None) == "completed"
    assert run_status({"status": "partial"}) == "partial"
    assert run_status({"status": "failed"}) == "failed"
    assert run_status({"status": "weird"}) == "completed"


def test_source_and_status_are_at_the_top() -> None:
    episode = sample_episode()
    page = render_report(episode.enriched, episode.diarization, episode.audit, failed_error("SAMPLE1", "partial"))
    header = page[page.index('<header class="topbar">') : page.index("</header>")]
    assert 'data-status="partial"' in header
    assert ">Partial</span>" in header
    assert 'data-source="pyannote"' in header
    assert "pyannoteAI" in header


def test_a_failed_run_without_transcript_still_renders_its_errors() -> None:
    error = failed_error("E404")
    page = render_report(None, None, None, error)
    assert 'data-status="failed"' in page
    assert "pyannote-collect-v1" in page
    assert "RemoteServiceUnavailable" in page
    assert "No enriched transcript for this run." in page
    data = page_data(page)
    assert data["words"]["text"] == []
    assert data["turns"]["start"] == []


def test_an_error_artifact_off_contract_is_shown_as_stored() -> None:
    episode = sample_episode()
    error = {"status": "failed", "errors": "<i>disk full</i>"}
    page = render_report(episode.enriched, episode.diarization, episode.audit, error)
    assert "does not match its contract" in page
    assert "&lt;i&gt;disk full&lt;/i&gt;" in page
    assert "<i>disk full</i>" not in page


def test_artifacts_that_broke_the_page_are_notes_now() -> None:
    """Found by the fuzzer of stored artifacts: each of these raised instead of drawing the page."""
    episode = sample_episode()
    # An error artifact whose episode id is invalid: the id validator's own error escaped the lenient reading.
    page = render_report(None, None, None, {"episode_id": "", "status": "failed", "errors": []}, episode_id="E1")
    assert "does not match its contract (error.episode_id: " in page
    # An error artifact nested deeper than orjson writes back (255 levels): "Recursion limit reached".
    nested: Any = 0
    for _ in range(300):
        nested = [nested]
    assert "nested too deep to print" in render_report(None, None, None, {"errors": nested}, episode_id="E1")
    # A word whose speaker is a list (unhashable): TypeError in the column-wise reader.
    words = episode.enriched["words"]
    enriched = {**episode.enriched, "words": [{**words[0], "speaker": []}, *words[1:]]}
    data = page_data(render_report(enriched, episode.diarization, episode.audit, None))
    assert data["words"]["speaker"][0] == UNATTRIBUTED


# --- escaping --------------------------------------------------------------------------------


def test_artifact_text_is_escaped_everywhere() -> None:
    episode = sample_episode()
    assert episode.enriched is not None
    assert episode.audit is not None
    evil = '<img src=x onerror="alert(1)">'
    episode.enriched["speakers"][1]["speaker"] = evil
    for word in episode.enriched["words"]:
        if word["speaker"] == "B":
            word["speaker"] = evil
    episode.audit["nearMisses"][0]["displayName"] = "</td><script>alert(2)</script>"
    page = render_report(episode.enriched, episode.diarization, episode.audit, failed_error("SAMPLE1"))
    html_part = visible_text(page)
    assert "<img" not in html_part
    assert "<b>" not in html_part
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html_part
    assert "&lt;b&gt;Service Unavailable&lt;/b&gt;" in html_part
    assert "&lt;/td&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in html_part
    # exactly the two script elements of the template: the data block and the code
    assert page.count("<script") == 2
    assert page.count("</script>") == 2


def test_embedded_json_cannot_close_its_script_element() -> None:
    encoded = embed_json({"word": "</script><script>alert(1)</script>", "amp": "a & b", "gt": "x > y"})
    assert "<" not in encoded
    assert ">" not in encoded
    assert "&" not in encoded
    assert orjson.loads(encoded) == {"word": "</script><script>alert(1)</script>", "amp": "a & b", "gt": "x > y"}


def test_script_word_travels_as_data_not_markup() -> None:
    episode = sample_episode()
    page = render_report(episode.enriched, episode.diarization, episode.audit, None)
    assert SCRIPT_WORD not in page
    assert page_data(page)["words"]["text"][episode.notes["script_word"]] == SCRIPT_WORD


def test_the_page_allows_only_its_own_inline_script() -> None:
    episode = sample_episode()
    page = render_report(episode.enriched, episode.diarization, episode.audit, None)
    script = page[page.rindex("<script>") + len("<script>") : page.rindex("</script>")]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert policy is not None
    assert f"script-src 'sha256-{digest}'" in policy.group(1)
    assert "default-src 'none'" in policy.group(1)


def test_the_page_loads_nothing_from_the_network() -> None:
    episode = sample_episode()
    page = render_report(episode.enriched, episode.diarization, episode.audit, None)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<link" not in page
    assert "@import" not in page
    assert "url(" not in page


# --- the data the page draws lazily ---------------------------------------------------------


def test_words_are_embedded_as_columns_and_not_rendered_server_side() -> None:
    episode = sample_episode()
    assert episode.enriched is not None
    page = render_report(episode.enriched, episode.diarization, episode.audit, None)
    data = page_data(page)
    words = episode.enriched["words"]
    assert data["words"]["text"] == [w["word"] for w in words]
    assert data["words"]["start"] == [round(w["start"] * 1000) for w in words]
    assert len(data["words"]["speaker"]) == len(words)
    # the only word elements in the markup are the legend's three examples
    assert len(re.findall(r'<span class="w\b', page)) == 3
    assert data["paragraphs"][0] == 0


def page_transcript(data: dict[str, Any]) -> str:
    """The transcript as the page's script lays it out: a space before each word unless it joins the one before."""
    texts, flags = data["words"]["text"], data["words"]["flags"]
    return "".join(
        text if index == 0 or flags[index] & WORD_JOINS_PREVIOUS else f" {text}" for index, text in enumerate(texts)
    )


def test_a_chinese_transcript_is_laid_out_without_spaces_between_its_characters() -> None:
    episode = chinese_episode()
    validate(episode)
    assert episode.enriched is not None
    data = page_data(render_report(episode.enriched, episode.diarization, None, None))
    assert page_transcript(data) == CHINESE_TEXT
    assert data["words"]["text"] == [w["word"] for w in episode.enriched["words"]]  # the words themselves as given
    # Joining is no uncertainty: only the flag's own bit is set.
    assert {flag & ~WORD_JOINS_PREVIOUS for flag in data["words"]["flags"]} == {0}


def test_an_english_transcript_keeps_a_space_between_every_word() -> None:
    episode = sample_episode()
    assert episode.enriched is not None
    data = page_data(render_report(episode.enriched, episode.diarization, episode.audit, None))
    assert page_transcript(data) == " ".join(w["word"] for w in episode.enriched["words"])
    assert not any(flag & WORD_JOINS_PREVIOUS for flag in data["words"]["flags"])


def test_low_confidence_and_alternatives_are_flagged() -> None:
    episode = sample_episode()
    model = build_report_model(episode.episode_id, episode.enriched, episode.diarization, episode.audit, None)
    low = episode.notes["low_word"]
    assert model.words.flags[low] == WORD_LOW_CONFIDENCE | WORD_HAS_ALTERNATIVES
    assert model.words.flags[0] == WORD_HAS_ALTERNATIVES
    assert model.words.confidence_pct[low] == 42
    data = page_data(render_report(episode.enriched, episode.diarization, episode.audit, None))
    assert data["alternatives"][str(low)] == [[0, "Diane", 38]]
    assert data["alternatives"]["0"] == [[1, "B", 85]]


def test_alternatives_named_by_label_show_the_display_name() -> None:
    words = [_word(0, 0.5, "Ann", alternatives=[{"speaker": "B", "confidence": 0.7}])]
    enriched = _enriched(words, [("S0", "A", "Ann", True), ("S1", "B", "Bob", True)])
    data = page_data(render_report(enriched, None, None, None))
    assert data["alternatives"]["0"] == [[1, "Bob (B)", 70]]


def test_unattributed_words_get_their_own_lane() -> None:
    episode = sample_episode()
    model = build_report_model(episode.episode_id, episode.enriched, episode.diarization, episode.audit, None)
    assert model.unattributed_words == 1
    lanes = list(zip(model.turns.start_ms, model.turns.speaker, strict=True))
    assert (30400, UNATTRIBUTED) in lanes
    assert model.turns.start_ms == sorted(model.turns.start_ms)


def test_paragraphs_break_at_speaker_changes_and_stay_short() -> None:
    episode = long_episode(num_words=6000, num_turns=120, num_speakers=3, hours=0.5)
    model = build_report_model(episode.episode_id, episode.enriched, episode.diarization, episode.audit, None)
    starts = model.words.paragraph_starts
    ends = [*starts[1:], len(model.words)]
    for start, end in zip(starts, ends, strict=True):
        assert end - start <= PARAGRAPH_HARD_WORDS
        assert len(set(model.words.speaker[start:end])) == 1
    assert len(starts) >= 120


def test_malformed_words_and_segments_are_skipped_with_a_note() -> None:
    episode = sample_episode()
    assert episode.enriched is not None
    assert episode.diarization is not None
    episode.enriched["words"].append({"word": "broken", "start": "soon"})
    episode.diarization["segments"].append({"start": 3, "end": 1, "speaker": "SPEAKER_0"})
    page = render_report(episode.enriched, episode.diarization, episode.audit, None)
    assert "1 word(s) of the enriched transcript have no valid start/end" in page
    assert "1 diarization segment(s) are malformed" in page


def test_audit_summary_lists_clusters_near_misses_and_thresholds() -> None:
    episode = sample_episode()
    page = render_report(
        episode.enriched, episode.diarization, episode.audit, None, clips={"A": "data:audio/wav;base64,AA=="}
    )
    clusters = page[page.index('id="clusters"') : page.index("</table>", page.index('id="clusters"'))]
    assert "SPEAKER_0" in clusters
    assert "SPEAKER_1" in clusters
    assert "not identified" in clusters
    assert clusters.count('class="clip-button" data-clip="A"') == 1
    assert 'data-clip="B"' not in clusters
    assert 'data-seek="12.542"' in clusters
    assert "vp-sheila" in page
    assert "Sheila" in page
    thresholds = page[page.index('id="thresholds"') :]
    assert "Gap tolerance" in thresholds
    assert "1 s" in thresholds
    assert "75%" in thresholds
    assert page_data(page)["clips"] == {"A": "data:audio/wav;base64,AA=="}


def test_without_audit_the_page_says_so() -> None:
    episode = sample_episode()
    page = render_report(episode.enriched, episode.diarization, None, None)
    assert "No audit artifact for this run." in page


# --- audio sources ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "src",
    ["https://cdn.example/e1.mp3", "../audio/e1.wav", "e1.wav", "file:///srv/e1.wav", "data:audio/wav;base64,AA=="],
)
def test_plain_audio_sources_are_accepted(src: str) -> None:
    check_audio_src(src)


@pytest.mark.parametrize(
    "src",
    [
        "https://bucket.s3.amazonaws.com/e1.mp3?X-Amz-Signature=abc&X-Amz-Credential=k",
        "https://user:secret@cdn.example/e1.mp3",
        "https://cdn.example/e1.mp3?token=abc",
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "",
        "e1.wav\n",
    ],
)
def test_audio_sources_with_credentials_or_scripts_are_refused(src: str) -> None:
    with pytest.raises(InvalidInput):
        check_audio_src(src)
    with pytest.raises(InvalidInput):
        render_report(None, None, None, failed_error("E1"), audio_src=src)


# --- size and speed of the 6.7-hour episode -------------------------------------------------


@pytest.mark.slow
def test_a_six_hour_episode_renders_quickly_into_a_small_file() -> None:
    episode = long_episode()
    started = time.perf_counter()
    page = render_report(episode.enriched, episode.diarization, episode.audit, None)
    elapsed = time.perf_counter() - started
    size = len(page.encode("utf-8"))
    assert size <= MAX_REPORT_BYTES, f"{size / 1e6:.1f} MB"
    assert elapsed < 5, f"render took {elapsed:.2f} s"
    data = page_data(page)
    assert len(data["words"]["text"]) == 80_000
    assert len(data["turns"]["start"]) >= 4_000


def _word(start: float, end: float, speaker: str | None, **extra: Any) -> dict[str, Any]:
    return {
        "start": start,
        "end": end,
        "word": "w",
        "speaker": speaker,
        "speaker_confidence": None if speaker is None else 0.9,
        "diar_speaker": {"Ann": "S0", "Bob": "S1"}.get(speaker or "", "UNKNOWN"),
        "source": "deepgram_fallback",
        **extra,
    }


def _enriched(words: list[dict[str, Any]], speakers: list[tuple[str, str, str, bool]]) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "episode_id": "E1",
        "source": "deepgram_fallback",
        "created_at": "2026-11-29T12:00:00.000Z",
        "speakers": [
            {"diar_speaker": diar, "label": label, "speaker": name, "identified": identified}
            for diar, label, name, identified in speakers
        ],
        "words": words,
    }


def refuse_every_column(*args: object, **kwargs: object) -> NoReturn:
    raise InvalidTranscript("words", "read word by word")


def test_the_column_reader_matches_the_lenient_per_word_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    # The pipeline's own output takes a vectorised path; it must give exactly what the lenient path gives.
    from diarflow.domain import enriched_words

    episode = long_episode(num_words=3_000, num_turns=150, num_speakers=4, hours=0.5)
    assert episode.enriched is not None
    words = episode.enriched["words"]
    words[5]["speaker"] = None
    words[5]["speaker_confidence"] = None
    words[6]["speaker_confidence"] = 1.7  # out of range: clamped alike
    words[7]["alternatives"] = [{"speaker": "X", "confidence": 0.4}, {"speaker": None, "confidence": 0.3}]
    artifacts = (episode.episode_id, episode.enriched, episode.diarization, episode.audit, None)
    chinese = chinese_episode()
    chinese_artifacts = (chinese.episode_id, chinese.enriched, chinese.diarization, None, None)
    fast, fast_chinese = build_report_model(*artifacts), build_report_model(*chinese_artifacts)
    monkeypatch.setattr(enriched_words, "_read_columns", refuse_every_column)  # the per-word path reads all
    slow, slow_chinese = build_report_model(*artifacts), build_report_model(*chinese_artifacts)
    assert fast.words == slow.words
    assert fast.speakers == slow.speakers
    assert fast.turns == slow.turns
    assert fast_chinese.words == slow_chinese.words


def test_the_unattributed_lane_is_the_unattributed_runs_of_the_whole_transcript() -> None:
    from diarflow.report import model as report_model

    episode = long_episode(num_words=3_000, num_turns=150, num_speakers=4, hours=0.5)
    artifacts = (episode.episode_id, episode.enriched, episode.diarization, episode.audit, None)
    words = build_report_model(*artifacts).words
    unattributed = report_model.UNATTRIBUTED
    assert unattributed in words.speaker
    every_run = report_model._turns_from_words(words, 1.0)
    only = report_model._turns_from_words(words, 1.0, only_speaker=unattributed)
    expected = [
        row
        for row in zip(every_run.start_ms, every_run.end_ms, every_run.speaker, every_run.confidence_pct, strict=True)
        if row[2] == unattributed
    ]
    assert list(zip(only.start_ms, only.end_ms, only.speaker, only.confidence_pct, strict=True)) == expected


# --- speakers named by a correction ------------------------------------------------------------


def sheila_named_by(author: str) -> EpisodeArtifacts:
    """The sample with its second speaker named "Sheila" by a correction, as ``apply-corrections-v1`` leaves it."""
    episode = sample_episode()
    assert episode.enriched is not None
    assert episode.audit is not None
    for entry in episode.enriched["speakers"]:
        if entry["diar_speaker"] == "SPEAKER_1":
            entry.update(speaker="Sheila", identified=True)
    for word in episode.enriched["words"]:
        if word["speaker"] == "B":
            word["speaker"] = "Sheila"
    cluster = episode.audit["clusters"][1]
    named_by = {"name": "Sheila", "author": author, "createdAt": "2026-12-06T15:01:54.012Z", "correction": 0}
    cluster.update(mappedTo="Sheila", referenceId=None, confidence=None, namedBy=named_by)
    validate(episode)
    return episode


def test_a_speaker_a_correction_named_says_who_named_it() -> None:
    episode = sheila_named_by("ana")
    model = build_report_model("E1", episode.enriched, episode.diarization, episode.audit, None)
    assert {speaker.name: speaker.named_by for speaker in model.speakers} == {"Diane": None, "Sheila": "ana"}

    page = render_report(episode.enriched, episode.diarization, episode.audit, None)
    rows = page[page.index('id="speakers"') : page.index("</table>", page.index('id="speakers"'))]
    diane, sheila = rows.split('class="speaker-row"')[1:]
    assert "named by ana" in sheila
    assert "identified" not in sheila
    assert "named by" not in diane
    assert ">identified<" in diane
    clusters = page[page.index('id="clusters"') : page.index("</table>", page.index('id="clusters"'))]
    assert clusters.count("named by ana") == 1


def test_the_page_carries_each_speakers_diarization_keys_for_editing() -> None:
    episode = sheila_named_by("ana")
    data = page_data(render_report(episode.enriched, episode.diarization, episode.audit, None))
    assert [(s["name"], s["keys"], s["namedBy"]) for s in data["speakers"]] == [
        ("Diane", ["SPEAKER_0"], None),
        ("Sheila", ["SPEAKER_1"], "ana"),
    ]
    assert data["palette"][:2] == [data["speakers"][0]["color"], data["speakers"][1]["color"]]
