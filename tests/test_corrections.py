"""Speaker corrections as pure functions: each operation, their order, and every error naming its field."""

from __future__ import annotations

from typing import Any

import pytest

from diarflow.contracts.corrections import parse_corrections, parse_corrections_artifact
from diarflow.domain.corrections import (
    CORRECTED_CONFIDENCE,
    CorrectedTurns,
    KnownSpeaker,
    apply_corrections,
    find_speaker,
    resolve_speaker,
)
from diarflow.domain.turns import Turns
from diarflow.errors import InvalidCorrection, InvalidInput

STAMP = {"author": "editor", "created_at": "2026-01-02T03:04:05.000Z"}


def turns(*rows: tuple[float, float, str]) -> Turns:
    return Turns.from_columns([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [0.7] * len(rows))


SPEC = turns((0.0, 2.5, "SPEAKER_00"), (2.5, 5.0, "SPEAKER_01"), (5.0, 8.0, "SPEAKER_00"))


def corrected(*items: dict[str, Any], segments: Turns = SPEC, exclusive: Turns | None = None) -> CorrectedTurns:
    return apply_corrections(
        segments, exclusive, parse_corrections([{**STAMP, **i} for i in items], where="corrections"), episode_end=8.0
    )


def rows(result: Turns) -> list[tuple[float, float, str, float]]:
    return [(s["start"], s["end"], s["speaker"], s["confidence"]) for s in result.to_segments()]


def test_rename_names_the_speaker_and_leaves_the_turns_alone() -> None:
    result = corrected({"op": "rename", "speaker": "SPEAKER_01", "name": "Sheila"})

    assert rows(result.segments) == rows(SPEC)
    origin = result.names["SPEAKER_01"]
    assert (origin.name, origin.author, origin.created_at, origin.index) == ("Sheila", *STAMP.values(), 0)


def test_merge_gives_the_merged_speakers_turns_to_the_kept_one_in_segments_and_exclusive_segments() -> None:
    exclusive = turns((0.0, 2.4, "SPEAKER_00"), (2.6, 5.0, "SPEAKER_01"))
    result = corrected({"op": "merge", "speaker": "SPEAKER_00", "merged": "SPEAKER_01"}, exclusive=exclusive)

    assert [r[2] for r in rows(result.segments)] == ["SPEAKER_00"] * 3
    assert result.segments.speaker_names == ("SPEAKER_00",)  # the merged speaker is gone, not left empty
    assert result.exclusive is not None
    assert [r[2] for r in rows(result.exclusive)] == ["SPEAKER_00"] * 2


def test_a_merged_speakers_corrected_name_survives_when_the_kept_one_has_none() -> None:
    result = corrected(
        {"op": "rename", "speaker": "SPEAKER_01", "name": "Diane"},
        {"op": "merge", "speaker": "SPEAKER_00", "merged": "SPEAKER_01"},
    )
    assert {key: origin.name for key, origin in result.names.items()} == {"SPEAKER_00": "Diane"}


def test_assign_cuts_turns_at_both_bounds_and_gives_the_inside_to_the_speaker() -> None:
    result = corrected({"op": "assign", "start": 2.0, "end": 6.0, "speaker": "SPEAKER_01"})

    assert rows(result.segments) == [
        (0.0, 2.0, "SPEAKER_00", 0.7),
        (2.0, 2.5, "SPEAKER_01", CORRECTED_CONFIDENCE),
        (2.5, 5.0, "SPEAKER_01", CORRECTED_CONFIDENCE),
        (5.0, 6.0, "SPEAKER_01", CORRECTED_CONFIDENCE),
        (6.0, 8.0, "SPEAKER_00", 0.7),
    ]


def test_assign_cuts_exclusive_segments_too() -> None:
    exclusive = turns((0.0, 4.0, "SPEAKER_00"), (4.0, 8.0, "SPEAKER_01"))
    result = corrected({"op": "assign", "start": 3.0, "end": 5.0, "speaker": "SPEAKER_01"}, exclusive=exclusive)

    assert result.exclusive is not None
    assert [(r[0], r[1], r[2]) for r in rows(result.exclusive)] == [
        (0.0, 3.0, "SPEAKER_00"),
        (3.0, 4.0, "SPEAKER_01"),
        (4.0, 5.0, "SPEAKER_01"),
        (5.0, 8.0, "SPEAKER_01"),
    ]


def test_assign_to_a_new_name_creates_a_speaker_named_by_the_correction() -> None:
    result = corrected({"op": "assign", "start": 5.0, "end": 8.0, "name": "Guest"})

    assert [r[2] for r in rows(result.segments)] == ["SPEAKER_00", "SPEAKER_01", "CORRECTION_0"]
    assert result.names["CORRECTION_0"].name == "Guest"


def test_assign_to_a_name_a_correction_already_gave_reuses_that_speaker() -> None:
    result = corrected(
        {"op": "rename", "speaker": "SPEAKER_01", "name": "Sheila"},
        {"op": "assign", "start": 0.0, "end": 1.0, "name": "Sheila"},
    )
    assert rows(result.segments)[0] == (0.0, 1.0, "SPEAKER_01", CORRECTED_CONFIDENCE)
    assert set(result.names) == {"SPEAKER_01"}


def test_later_corrections_see_earlier_ones_and_names_of_speakers_gone_are_dropped() -> None:
    result = corrected(
        {"op": "rename", "speaker": "SPEAKER_00", "name": "Diane"},
        {"op": "assign", "start": 0.0, "end": 8.0, "speaker": "SPEAKER_01"},  # SPEAKER_00 has nothing left
        {"op": "rename", "speaker": "SPEAKER_01", "name": "Sheila"},
    )
    assert {r[2] for r in rows(result.segments)} == {"SPEAKER_01"}
    assert {key: origin.name for key, origin in result.names.items()} == {"SPEAKER_01": "Sheila"}
    with pytest.raises(InvalidCorrection, match=r"^corrections\[1\]\.speaker: no speaker 'SPEAKER_00'"):
        corrected(
            {"op": "merge", "speaker": "SPEAKER_01", "merged": "SPEAKER_00"},
            {"op": "rename", "speaker": "SPEAKER_00", "name": "Diane"},  # merged away by correction 0
        )


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (
            {"op": "rename", "speaker": "SPEAKER_09", "name": "X"},
            "corrections[0].speaker: no speaker 'SPEAKER_09' (speakers: SPEAKER_00, SPEAKER_01)",
        ),
        (
            {"op": "merge", "speaker": "SPEAKER_00", "merged": "SPEAKER_09"},
            "corrections[0].merged: no speaker 'SPEAKER_09' (speakers: SPEAKER_00, SPEAKER_01)",
        ),
        (
            {"op": "merge", "speaker": "SPEAKER_00", "merged": "SPEAKER_00"},
            "corrections[0].merged: 'SPEAKER_00' is the speaker it would be merged into",
        ),
        (
            {"op": "assign", "start": 3.0, "end": 2.0, "speaker": "SPEAKER_00"},
            "corrections[0].end: 2.0 is not after start 3.0",
        ),
        (
            {"op": "assign", "start": 3.0, "end": 9.5, "speaker": "SPEAKER_00"},
            "corrections[0].end: 9.5 is past the end of the episode (8 s)",
        ),
        (
            {"op": "assign", "start": 1.0, "end": 2.0, "speaker": "SPEAKER_09"},
            "corrections[0].speaker: no speaker 'SPEAKER_09' (speakers: SPEAKER_00, SPEAKER_01)",
        ),
    ],
)
def test_a_correction_that_does_not_fit_the_episode_names_its_field(item: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidCorrection) as caught:
        corrected(item)
    assert caught.value.message == message


def test_assign_over_silence_says_there_is_nothing_to_assign() -> None:
    gappy = turns((0.0, 1.0, "SPEAKER_00"), (5.0, 8.0, "SPEAKER_01"))
    with pytest.raises(InvalidCorrection, match=r"^corrections\[0\]\.start: no speech between 2 and 4 s"):
        corrected({"op": "assign", "start": 2.0, "end": 4.0, "speaker": "SPEAKER_00"}, segments=gappy)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"op": "rename", "speaker": "SPEAKER_00"}, "corrections[0].name: Field required"),
        ({"op": "rename", "speaker": "SPEAKER_00", "name": "   "}, "corrections[0].name: String should match"),
        ({"op": "rename", "speaker": "S", "name": "X", "nmae": "Y"}, "corrections[0].nmae: Extra inputs"),
        ({"op": "split", "speaker": "S"}, "corrections[0]: `op` must be one of rename, merge, assign, got 'split'"),
        ({"speaker": "S", "name": "X"}, "corrections[0]: `op` is missing"),
        ({"op": "assign", "start": 1, "end": 2}, "corrections[0]: give exactly one of `speaker`"),
        ({"op": "assign", "start": 1, "end": 2, "speaker": "S", "name": "X"}, "corrections[0]: give exactly one"),
        ({"op": "assign", "start": -1, "end": 2, "speaker": "S"}, "corrections[0].start: Input should be greater"),
    ],
)
def test_a_malformed_correction_is_refused_naming_its_field(item: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidCorrection) as caught:
        parse_corrections([STAMP | item], where="corrections")
    assert caught.value.message.startswith(message)
    assert isinstance(caught.value, InvalidInput)  # exit 2, never retried


def test_the_stored_artifact_names_its_key_in_errors() -> None:
    document = {"episode_id": "E1", "corrections": [STAMP | {"op": "merge", "speaker": "A"}]}
    with pytest.raises(InvalidCorrection) as caught:
        parse_corrections_artifact(document, where="diarization/E1.corrections.json")
    assert caught.value.field == "diarization/E1.corrections.json:corrections[0].merged"


SHOWN = [KnownSpeaker("SPEAKER_00", "A", "Diane"), KnownSpeaker("SPEAKER_01", "B", None)]


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("SPEAKER_01", "SPEAKER_01"),
        ("B", "SPEAKER_01"),
        ("Diane", "SPEAKER_00"),
        ("diane", "SPEAKER_00"),
        ("Zoe", None),
    ],
)
def test_what_a_person_types_resolves_to_a_speaker_key(typed: str, key: str | None) -> None:
    assert find_speaker(typed, SHOWN, field="LABEL") == key


def test_an_unknown_or_shared_name_is_refused_with_the_speakers_listed() -> None:
    with pytest.raises(InvalidCorrection) as caught:
        resolve_speaker("Zoe", SHOWN, field="LABEL")
    assert caught.value.message.startswith(
        "LABEL: no speaker 'Zoe' in this episode (speakers: A = SPEAKER_00 (Diane), B = SPEAKER_01)"
    )
    twins = [KnownSpeaker("S0", "A", "Sam"), KnownSpeaker("S1", "B", "Sam")]
    with pytest.raises(InvalidCorrection, match=r"'Sam' names more than one speaker \(A, B\)"):
        find_speaker("Sam", twins, field="LABEL")
