"""The identification decision on plain arrays: exclusive assignment, threshold, margin, confidence, near misses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from diarflow.adapters.stores import ObjectStore
from diarflow.domain.identification import (
    best_by_group,
    cosine_scores,
    identify_clusters,
    representative_segments,
)
from diarflow.domain.turns import Turns

T, M = 0.82, 0.04


def named(scores: list[list[float]], threshold: float = T, margin: float = M) -> list[int | None]:
    return [d.reference for d in identify_clusters(np.array(scores), threshold=threshold, margin=margin).decisions]


def test_clear_matches_are_named_with_high_confidence() -> None:
    result = identify_clusters(np.array([[0.93, 0.75], [0.74, 0.92]]), threshold=T, margin=M)
    assert [d.reference for d in result.decisions] == [0, 1]
    assert all(d.outcome == "matched" for d in result.decisions)
    assert all(d.confidence is not None and 0.9 < d.confidence <= 1 for d in result.decisions)
    assert result.near_misses == []


def test_exclusive_two_clusters_never_get_one_person() -> None:
    # Both clusters sound most like voiceprint 0; strictly exclusive, only the better one may have it.
    result = identify_clusters(np.array([[0.95, 0.70], [0.90, 0.70]]), threshold=T, margin=M, split_voice_gap=None)
    assert [d.reference for d in result.decisions] == [0, None]
    assert result.decisions[1].outcome == "taken"
    # The loser's candidate is kept for the audit.
    assert [(c.cluster, c.reference) for c in result.near_misses] == [(1, 0)]


def test_a_second_cluster_that_clearly_fits_a_taken_person_is_named_too() -> None:
    # A diarizer split one voice in two: both halves fit voiceprint 0 well above the threshold.
    result = identify_clusters(np.array([[0.95, 0.70], [0.90, 0.70]]), threshold=T, margin=M, split_voice_gap=0.05)
    assert [d.reference for d in result.decisions] == [0, 0]
    assert [d.outcome for d in result.decisions] == ["matched", "split_voice"]
    assert result.decisions[1].margin == pytest.approx(0.90 - T)  # its lead over "nobody"
    assert result.near_misses == []


def test_two_equal_halves_of_one_voice_are_both_named() -> None:
    # Exclusively, neither half wins by the margin (each could be the person): both stay unnamed.
    halves = np.array([[0.93, 0.60], [0.92, 0.60]])
    assert [d.outcome for d in identify_clusters(halves, threshold=T, margin=M, split_voice_gap=None).decisions] == [
        "ambiguous",
        "taken",
    ]
    assert [d.reference for d in identify_clusters(halves, threshold=T, margin=M).decisions] == [0, 0]


@pytest.mark.parametrize(
    ("second", "why"),
    [
        ([0.86, 0.60], "below threshold + gap"),
        ([0.90, 0.88], "another person fits about as well"),
    ],
)
def test_a_second_cluster_stays_unnamed_when_it_does_not_clearly_fit(second: list[float], why: str) -> None:
    result = identify_clusters(np.array([[0.95, 0.60], second]), threshold=T, margin=M, split_voice_gap=0.05)
    assert result.decisions[0].reference == 0
    assert result.decisions[1].reference != 0, why


def test_joint_assignment_beats_greedy() -> None:
    # Greedy on the best score gives cluster 0 voiceprint 0 and leaves cluster 1 with nothing it
    # matches; the joint assignment gives each its own, which sums higher.
    assert named([[0.90, 0.89], [0.88, 0.70]]) == [1, 0]


def test_close_scores_alone_are_not_enough() -> None:
    # The case: a cluster scores 0.70 against its own speaker and 0.675 against the other.
    # With a threshold below both, a lone cluster that barely prefers one voiceprint stays unnamed.
    result = identify_clusters(np.array([[0.700, 0.675]]), threshold=0.65, margin=0.04)
    assert result.decisions[0].reference is None
    assert result.decisions[0].outcome == "ambiguous"
    assert {c.reference for c in result.near_misses} == {0, 1}


def test_the_other_cluster_resolves_an_ambiguous_one() -> None:
    # Alone, cluster 0 (0.70 vs 0.675) is ambiguous; with cluster 1 clearly voiceprint 1, giving
    # cluster 0 voiceprint 1 would cost cluster 1 its match, so the joint margin is large.
    result = identify_clusters(np.array([[0.700, 0.675], [0.60, 0.75]]), threshold=0.65, margin=0.04)
    assert [d.reference for d in result.decisions] == [0, 1]
    assert result.decisions[0].margin == pytest.approx(0.05)


def test_below_threshold_and_just_above_without_margin() -> None:
    assert named([[0.70]]) == [None]
    assert identify_clusters(np.array([[0.70]]), threshold=T, margin=M).decisions[0].outcome == "below_threshold"
    # Above the threshold but not by the margin: "nobody" is as good an explanation.
    assert named([[T + M / 2]]) == [None]
    assert named([[T + M + 0.001]]) == [0]


def test_confidence_follows_the_margin() -> None:
    low = identify_clusters(np.array([[T + M + 0.001]]), threshold=T, margin=M).decisions[0]
    high = identify_clusters(np.array([[T + 3 * M]]), threshold=T, margin=M).decisions[0]
    assert low.confidence is not None
    assert high.confidence is not None
    assert low.confidence == pytest.approx(0.5, abs=0.02)  # at the boundary: a coin flip
    assert 0.95 < high.confidence <= 1.0


def test_near_misses_within_margin_of_threshold_or_winner() -> None:
    # Cluster 1 is clearly voiceprint 1, which makes cluster 0 clearly voiceprint 0 (joint margin).
    scores = np.array([[0.95, 0.93, 0.84, 0.70, 0.80], [0.5, 0.99, 0.5, 0.5, 0.5]])
    result = identify_clusters(scores, threshold=T, margin=M)
    assert [d.reference for d in result.decisions] == [0, 1]
    # 0.93: within the margin of the winner; 0.84 and 0.80: within the margin of the threshold; 0.70: neither.
    assert sorted(c.reference for c in result.near_misses if c.cluster == 0) == [1, 2, 4]


def test_no_voiceprints_and_no_clusters() -> None:
    result = identify_clusters(np.zeros((2, 0)), threshold=T, margin=M)
    assert [d.outcome for d in result.decisions] == ["no_voiceprints"] * 2
    assert identify_clusters(np.zeros((0, 3)), threshold=T, margin=M).decisions == []


def test_minus_infinity_marks_pairs_that_cannot_match() -> None:
    assert named([[-np.inf, 0.95], [0.95, -np.inf]]) == [1, 0]
    with pytest.raises(ValueError, match="finite"):
        identify_clusters(np.array([[np.nan]]), threshold=T, margin=M)


def test_more_clusters_than_voiceprints_and_back() -> None:
    scores = np.full((5, 3), 0.5)
    scores[[0, 2, 4], [2, 0, 1]] = 0.95
    assert named(scores.tolist()) == [2, None, 0, None, 1]
    assert named(scores.T.tolist()) == [2, 4, 0]


def test_cosine_and_people_with_several_enrolments() -> None:
    clusters = np.array([[1.0, 0.0], [0.0, 2.0]])
    references = np.array([[0.0, 1.0], [1.0, 0.1], [1.0, 0.0]])
    scores = cosine_scores(clusters, references)
    assert scores.shape == (2, 3)
    assert scores[0, 2] == pytest.approx(1.0)
    people, names, which = best_by_group(scores, ["sheila", "diane", "diane"])
    assert names == ["sheila", "diane"]
    assert people[0].tolist() == pytest.approx([0.0, 1.0])
    assert which[0, 1] == 2  # Diane's second enrolment matched best
    with pytest.raises(ValueError, match="same width"):
        cosine_scores(np.ones((1, 2)), np.ones((1, 3)))


def test_representative_segments_prefer_confident_then_long_up_to_the_cap() -> None:
    starts = np.array([0.0, 10.0, 20.0, 40.0])
    ends = np.array([5.0, 30.0, 22.0, 40.3])
    confidences = np.array([0.99, 0.90, 0.99, np.nan])
    spans = representative_segments(starts, ends, confidences, max_seconds=8.0, trim=0.0)
    # The two 0.99 turns first (longest first), then the 0.90 turn cut to fill 8 s; the 0.3 s turn never.
    assert spans.tolist() == [[0.0, 5.0], [10.0, 11.0], [20.0, 22.0]]
    assert representative_segments(starts[3:], ends[3:], confidences[3:]).tolist() == [[40.0, 40.3]]
    assert representative_segments(np.zeros(0), np.zeros(0), np.zeros(0)).shape == (0, 2)


def test_diarizer_embeddings_are_used_only_when_complete_and_of_the_current_model() -> None:
    from diarflow.contracts.voiceprints import GE2E_VOICEPRINT_MODEL, LOCAL_VOICEPRINT_MODEL
    from diarflow.domain.clusters import cluster_turns
    from diarflow.domain.turns import Turns
    from diarflow.orchestration.identification import diarizer_embeddings

    turns = Turns(np.array([0.0, 2.0]), np.array([1.0, 3.0]), np.array([0, 1]), np.array([0.9, 0.9]), ("S0", "S1"))
    clusters = cluster_turns(turns)
    speakers = {"S0": [1.0, 0.0], "S1": [0.0, 1.0]}
    given = {"cluster_embeddings": {"model": LOCAL_VOICEPRINT_MODEL, "speakers": speakers}}
    rows = diarizer_embeddings(given, clusters)
    assert rows is not None
    assert rows.tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert diarizer_embeddings({}, clusters) is None
    other_model = {"cluster_embeddings": {"model": GE2E_VOICEPRINT_MODEL, "speakers": speakers}}
    assert diarizer_embeddings(other_model, clusters) is None  # never compared across models
    missing = {"cluster_embeddings": {"model": LOCAL_VOICEPRINT_MODEL, "speakers": {"S0": [1.0, 0.0]}}}
    assert diarizer_embeddings(missing, clusters) is None  # then the audio is embedded instead
    ragged = {"cluster_embeddings": {"model": LOCAL_VOICEPRINT_MODEL, "speakers": {"S0": [1.0], "S1": [0.0, 1.0]}}}
    assert diarizer_embeddings(ragged, clusters) is None


def test_outdated_voiceprints_are_named_in_one_short_warning() -> None:
    from diarflow.contracts import VoiceprintEntry, VoiceprintSource
    from diarflow.contracts.voiceprints import GE2E_VOICEPRINT_MODEL, LOCAL_VOICEPRINT_MODEL
    from diarflow.orchestration.identification import outdated_warnings

    def entry(vp_id: str, name: str, model: str) -> VoiceprintEntry:
        size = 256 if model == GE2E_VOICEPRINT_MODEL else 192
        return VoiceprintEntry(
            voiceprint_id=vp_id,
            podcast_id="show",
            display_name=name,
            model=model,
            embedding=[0.1] * size,
            source=VoiceprintSource(audio="a.wav"),
            created_at="2025-01-01T00:00:00Z",
        )

    current = entry("diane", "Diane", LOCAL_VOICEPRINT_MODEL)
    assert outdated_warnings("show", [current]) == []
    # Diane's old entry is superseded by her current one; only Sheila is left unmatched.
    mixed = [
        current,
        entry("diane-old", "Diane", GE2E_VOICEPRINT_MODEL),
        entry("sheila", "Sheila", GE2E_VOICEPRINT_MODEL),
    ]
    (warning,) = outdated_warnings("show", mixed)
    assert warning.startswith("1 voice(s) not matched (Sheila)")
    assert "voiceprints migrate" in warning
    many = [entry(f"p{i}", f"Person number {i}", GE2E_VOICEPRINT_MODEL) for i in range(30)]
    (warning,) = outdated_warnings("show", many)
    assert warning.startswith("nobody could be named")
    assert len(warning) <= 200  # the result's warnings are at most 200 characters
    assert warning.endswith("run diarflow voiceprints migrate")


def test_an_embedding_of_the_wrong_size_for_its_model_is_refused() -> None:
    """A hand-edited entry must fail as an invalid entry, not crash the cosine with mismatched widths."""
    from pydantic import ValidationError

    from diarflow.contracts import VoiceprintEntry, VoiceprintSource

    fields = {
        "voiceprint_id": "diane",
        "podcast_id": "show",
        "display_name": "Diane",
        "source": VoiceprintSource(audio="a.wav"),
        "created_at": "2025-01-01T00:00:00Z",
    }
    VoiceprintEntry(model="campplus-cn-en-common", embedding=[0.1] * 192, **fields)
    VoiceprintEntry(model="resemblyzer-ge2e", embedding=[0.1] * 256, **fields)
    with pytest.raises(ValidationError, match="has 192 numbers, this one 256"):
        VoiceprintEntry(model="campplus-cn-en-common", embedding=[0.1] * 256, **fields)


def test_a_voice_the_diarizer_split_in_two_is_named_on_both_halves_and_the_audit_says_so(tmp_path: Path) -> None:
    """Through the identify step, from the diarizer's own embeddings (no audio): two halves of Diane, one Sheila."""
    import orjson

    from diarflow.adapters.diarizers.base import DiarizerOutput, SpeakerEmbeddings
    from diarflow.adapters.stores import get_json, open_store
    from diarflow.config import Settings
    from diarflow.contracts import AuditArtifact, StoredRef, keys
    from diarflow.contracts.step_args import IdentifyArgs
    from diarflow.contracts.voiceprints import LOCAL_VOICEPRINT_MODEL
    from diarflow.orchestration.stages import identify_speakers, write_diarization
    from diarflow.orchestration.workspace import Workspace

    store = open_store(str(tmp_path / "store"))
    turns, voices = _diane_split_in_two(store)
    names = turns.speaker_names
    output = DiarizerOutput(
        turns=turns,
        exclusive=turns,
        model="test",
        speaker_embeddings=SpeakerEmbeddings(LOCAL_VOICEPRINT_MODEL, dict(zip(names, map(tuple, voices), strict=True))),
    )
    ws = Workspace(store=store, settings=Settings.from_env({}))
    info = write_diarization(ws, "E1", "local", output)
    reference = StoredRef(key=info.s3_diarization_key, digest=info.digest)
    result = identify_speakers(ws, IdentifyArgs(episode_id="E1", diarization=reference, podcast_id="show"))

    assert result.error is None
    assert result.identified_speakers == 3
    audit = AuditArtifact.model_validate(orjson.loads(orjson.dumps(get_json(store, keys.audit_key("E1")))))
    assert {c.speaker_key: c.mapped_to for c in audit.clusters} == {
        "SPEAKER_00": "Diane",
        "SPEAKER_01": "Sheila",
        "SPEAKER_02": "Diane",
    }
    (warning,) = result.warnings
    assert warning == "SPEAKER_00, SPEAKER_02 were all named Diane: probably one voice the diarizer split"
    assert warning in audit.warnings


def test_a_voiceprint_from_little_speech_must_score_higher() -> None:
    """Per-voiceprint thresholds: the same 0.57 names a cluster from a long enrolment, not from a short one."""
    from diarflow.domain.identification import enrolment_thresholds

    bars = enrolment_thresholds([3.0, 12.0], threshold=0.5, short_threshold=0.6)
    assert bars.tolist() == [0.6, 0.5]
    short_only = identify_clusters(np.array([[0.57, -np.inf]]), threshold=bars, margin=0.04)
    long_only = identify_clusters(np.array([[-np.inf, 0.57]]), threshold=bars, margin=0.04)
    assert short_only.decisions[0].reference is None
    assert short_only.decisions[0].outcome == "below_threshold"
    assert long_only.decisions[0].reference == 1
    (miss,) = short_only.near_misses  # 0.03 under its own threshold: listed, with that threshold
    assert (miss.reference, miss.threshold) == (0, 0.6)
    # The rule is about enrolments: a split voice must clear the short threshold plus the gap too.
    split = identify_clusters(np.array([[0.70, 0.1], [0.66, 0.1]]), threshold=np.array([0.6, 0.5]), margin=0.04)
    assert [d.reference for d in split.decisions] == [0, None]
    assert split.decisions[1].outcome == "taken"


def test_enrolment_thresholds_by_recorded_speech() -> None:
    from diarflow.domain.identification import SHORT_ENROLMENT_SECONDS, enrolment_thresholds

    seconds = [1.0, SHORT_ENROLMENT_SECONDS - 0.01, SHORT_ENROLMENT_SECONDS, None, 30.0]
    assert enrolment_thresholds(seconds, threshold=0.5, short_threshold=0.6).tolist() == [0.6, 0.6, 0.5, 0.5, 0.5]
    # Never below the threshold: a user who raises the threshold raises it for short enrolments too.
    assert enrolment_thresholds([2.0], threshold=0.7, short_threshold=0.6).tolist() == [0.7]
    assert enrolment_thresholds([], threshold=0.5, short_threshold=0.6).shape == (0,)


def test_a_threshold_of_the_wrong_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="one per voiceprint or one per pair, got \\(3,\\)"):
        identify_clusters(np.array([[0.9, 0.1]]), threshold=np.array([0.5, 0.5, 0.5]))


def test_a_short_enrolment_names_nobody_a_long_one_would_not(tmp_path: Path) -> None:
    """Through the identify step: each person's enrolment furthest above its own threshold decides.

    With short enrolments held to 0.60: Diane has a 3 s and a 12 s enrolment; her cluster scores 0.58
    and 0.56 against them: named from the 12 s one (0.06 above 0.50), not the 3 s one (0.02 under
    0.60). Sheila has only a 3 s enrolment, which her cluster's 0.58 does not clear; the audit lists
    it as a near miss at 0.60.
    """
    import orjson

    from diarflow.adapters.diarizers.base import DiarizerOutput, SpeakerEmbeddings
    from diarflow.adapters.registry import VoiceprintRegistry
    from diarflow.adapters.stores import get_json, open_store
    from diarflow.config import Settings
    from diarflow.contracts import AuditArtifact, StoredRef, VoiceprintEntry, VoiceprintSource, keys
    from diarflow.contracts.step_args import IdentifyArgs
    from diarflow.contracts.voiceprints import LOCAL_VOICEPRINT_MODEL
    from diarflow.domain.turns import Turns
    from diarflow.orchestration.stages import identify_speakers, write_diarization
    from diarflow.orchestration.workspace import Workspace

    axes = np.eye(192)

    def voice(cosine: float, to: int, other: int) -> list[float]:
        return (cosine * axes[to] + np.sqrt(1 - cosine**2) * axes[other]).tolist()

    enrolled = {  # id: (name, seconds of speech, embedding)
        "diane-short": ("Diane", 3.0, voice(0.58, 0, 10)),
        "diane-long": ("Diane", 12.0, voice(0.56, 0, 11)),
        "sheila-short": ("Sheila", 3.0, voice(0.58, 1, 12)),
    }
    names = ["SPEAKER_00", "SPEAKER_01"]
    turns = Turns(np.array([0.0, 5.0]), np.array([5.0, 10.0]), np.array([0, 1]), np.full(2, 0.9), names)
    output = DiarizerOutput(
        turns=turns,
        exclusive=turns,
        model="test",
        speaker_embeddings=SpeakerEmbeddings(
            LOCAL_VOICEPRINT_MODEL, {"SPEAKER_00": tuple(axes[0]), "SPEAKER_01": tuple(axes[1])}
        ),
    )

    def audit_with(env: dict[str, str], folder: str) -> AuditArtifact:
        store = open_store(str(tmp_path / folder))
        for vp_id, (name, seconds, embedding) in enrolled.items():
            VoiceprintRegistry(store).add(
                VoiceprintEntry(
                    voiceprint_id=vp_id,
                    podcast_id="show",
                    display_name=name,
                    model=LOCAL_VOICEPRINT_MODEL,
                    embedding=embedding,
                    source=VoiceprintSource(audio=f"{vp_id}.wav"),
                    speech_seconds=seconds,
                    created_at="2026-01-01T00:00:00Z",
                )
            )
        ws = Workspace(store=store, settings=Settings.from_env(env))
        info = write_diarization(ws, "E1", "local", output)
        reference = StoredRef(key=info.s3_diarization_key, digest=info.digest)
        identify_speakers(ws, IdentifyArgs(episode_id="E1", diarization=reference, podcast_id="show"))
        return AuditArtifact.model_validate(orjson.loads(orjson.dumps(get_json(store, keys.audit_key("E1")))))

    strict = {"DIARFLOW_SHORT_ENROLMENT_THRESHOLD": "0.6"}
    audit = audit_with(strict, "strict")
    clusters = {c.speaker_key: c for c in audit.clusters}
    assert clusters["SPEAKER_00"].mapped_to == "Diane"
    assert clusters["SPEAKER_00"].reference_id == "diane-long"
    assert clusters["SPEAKER_01"].mapped_to is None
    assert audit.thresholds.match_threshold == 0.5
    assert audit.thresholds.short_enrolment_threshold == 0.6
    assert audit.thresholds.short_enrolment_seconds == 6.0  # what "short" meant for this run
    assert any(m.reference_id == "sheila-short" and m.threshold == 0.6 for m in audit.near_misses)

    # The setting is what holds Sheila back: at the plain threshold her 3 s voiceprint names the cluster.
    lenient = audit_with({"DIARFLOW_SHORT_ENROLMENT_THRESHOLD": "0.5"}, "lenient")
    assert {c.speaker_key: c.mapped_to for c in lenient.clusters} == {"SPEAKER_00": "Diane", "SPEAKER_01": "Sheila"}
    # The default is the plain threshold (calibrated: strangers score no higher against short voiceprints).
    default = audit_with({}, "default")
    assert {c.speaker_key: c.mapped_to for c in default.clusters} == {"SPEAKER_00": "Diane", "SPEAKER_01": "Sheila"}
    assert default.thresholds.short_enrolment_threshold == 0.5


def test_the_enrol_command_explains_what_a_short_enrolment_means() -> None:
    from diarflow.cli.voiceprints import short_enrolment_note
    from diarflow.config import Settings

    settings = Settings.from_env({})
    assert short_enrolment_note(12.0, settings) is None
    assert short_enrolment_note(None, settings) is None
    note = short_enrolment_note(3.2, settings)
    assert note is not None
    assert "3.2 s of speech" in note
    assert "under 6 s of speech names fewer of its speaker's clusters." in note  # the default: no stricter score
    assert "10 s or more" in note  # of talking: 10 s enrolments held 6.3-9.2 s the detector heard
    assert short_enrolment_note(5.9, settings) is not None
    assert short_enrolment_note(6.0, settings) is None
    strict = short_enrolment_note(3.2, Settings.from_env({"DIARFLOW_SHORT_ENROLMENT_THRESHOLD": "0.6"}))
    assert strict is not None
    assert "score of 0.6 (instead of 0.5)" in strict


def test_people_a_correction_named_are_not_given_to_other_speakers_by_voice(tmp_path: Path) -> None:
    """Someone named SPEAKER_00 Diane and left SPEAKER_02 alone: SPEAKER_02 is not named Diane by its voice."""
    from diarflow.adapters.stores import open_store
    from diarflow.config import Settings
    from diarflow.contracts import SpeakerTracks
    from diarflow.contracts.voiceprints import LOCAL_VOICEPRINT_MODEL
    from diarflow.domain.clusters import cluster_turns
    from diarflow.orchestration.identification import identify_episode
    from diarflow.orchestration.workspace import Workspace

    store = open_store(str(tmp_path / "store"))
    turns, voices = _diane_split_in_two(store)
    names = turns.speaker_names
    document = {
        "cluster_embeddings": {"model": LOCAL_VOICEPRINT_MODEL, "speakers": dict(zip(names, voices, strict=True))}
    }
    ws = Workspace(store=store, settings=Settings.from_env({}))

    def named(corrected: dict[str, str] | None) -> dict[str, str]:
        result = identify_episode(
            ws, "E1", cluster_turns(turns), turns, document, "show", None, SpeakerTracks(), corrected
        )
        return {speaker: who.display_name for speaker, who in result.named.items()}

    assert named(None) == {"SPEAKER_00": "Diane", "SPEAKER_01": "Sheila", "SPEAKER_02": "Diane"}  # a split voice
    assert named({"SPEAKER_00": "diane"}) == {"SPEAKER_01": "Sheila"}  # names compare as people do: any case


def _diane_split_in_two(store: ObjectStore) -> tuple[Turns, list[NDArray[np.float64]]]:
    """Diane and Sheila enrolled in podcast ``show``; an episode of three speakers whose first and third are
    Diane (a voice the diarizer split), each with the embedding a diarizer would give it."""
    from diarflow.adapters.registry import VoiceprintRegistry
    from diarflow.contracts import VoiceprintEntry, VoiceprintSource
    from diarflow.contracts.voiceprints import LOCAL_VOICEPRINT_MODEL

    rng = np.random.default_rng(3)
    diane, sheila = (v / np.linalg.norm(v) for v in rng.normal(0, 1, (2, 192)))
    for name, voice in (("Diane", diane), ("Sheila", sheila)):
        VoiceprintRegistry(store).add(
            VoiceprintEntry(
                voiceprint_id=name.lower(),
                podcast_id="show",
                display_name=name,
                model=LOCAL_VOICEPRINT_MODEL,
                embedding=voice.tolist(),
                source=VoiceprintSource(audio=f"{name}.wav"),
                created_at="2026-01-01T00:00:00Z",
            )
        )
    names = ["SPEAKER_00", "SPEAKER_01", "SPEAKER_02"]
    voices = [diane + rng.normal(0, 0.02, 192), sheila + rng.normal(0, 0.02, 192), diane + rng.normal(0, 0.03, 192)]
    turns = Turns(np.array([0.0, 5.0, 10.0]), np.array([5.0, 10.0, 15.0]), np.array([0, 1, 2]), np.full(3, 0.9), names)
    return turns, voices
