"""Single-voice pieces: who speaks where one voice is heard, when a local speaker mixes two voices."""

from __future__ import annotations

import numpy as np
import pytest

from diarflow.adapters.diarizers.local.overlap import Heard, decide
from diarflow.adapters.models.segmentation import FRAMES_PER_WINDOW, LOCAL_SPEAKERS
from diarflow.domain import voice_pieces
from diarflow.domain.reconstruction import SpeakerFrames, WindowBatch, speaker_frames, voices_heard
from diarflow.domain.voice_pieces import (
    VoicePieces,
    name_single_voices,
    new_voice_centroids,
    piece_centroids,
    piece_speakers,
    single_voice_pieces,
)
from diarflow.domain.window_clustering import (
    ClusteringOptions,
    SpeakerAssignment,
    WindowSpeakers,
    room_for_speakers,
    with_new_speakers,
)


def unit(*values: float) -> np.ndarray:
    vector = np.zeros(192)
    vector[: len(values)] = values
    return vector / np.linalg.norm(vector)


A, B = unit(1, 0), unit(0, 1)


def test_single_voice_runs_are_cut_into_equal_pieces_and_short_ones_left_out() -> None:
    count = np.array([0] + [1] * 10 + [2] * 3 + [1] * 3 + [0] * 2 + [1] * 25)
    first, stop = single_voice_pieces(count, max_frames=10, min_frames=4)
    # 10 frames: one piece; 3 frames: too short; 25 frames: three pieces of 8-9 frames.
    assert first.tolist() == [1, 19, 27, 36]
    assert stop.tolist() == [11, 27, 36, 44]


def test_pieces_pull_mixed_centroids_apart_and_unsure_pieces_stay_unnamed() -> None:
    # The windows' centroids each mix the two voices; the pieces are pure.
    centroids = np.stack([unit(1, 0.8), unit(0.8, 1)])
    embeddings = np.stack([A, A, A, B, B, unit(1, 1)])
    lengths = np.array([10, 10, 10, 10, 10, 2])  # the last one short: it hardly moves a centroid
    pieces = VoicePieces(np.arange(6) * 10, np.arange(6) * 10 + lengths, embeddings)
    speakers = piece_speakers(pieces, piece_centroids(pieces, centroids), margin=0.1)
    assert speakers[:5].tolist() == [0, 0, 0, 1, 1]
    assert speakers[5] == -1  # equally near both: the windows decide there


def test_a_piece_with_no_usable_embedding_is_nobodys_and_moves_no_centroid() -> None:
    centroids = np.stack([unit(1, 0.8), unit(0.8, 1)])
    embeddings = np.stack([A, B, np.zeros(192), np.full(192, np.nan)])
    pieces = VoicePieces(np.arange(4) * 10, np.arange(4) * 10 + 10, embeddings)
    moved = piece_centroids(pieces, centroids)
    assert np.isfinite(moved).all()
    assert float(moved[0] @ A) > 0.99
    assert float(moved[1] @ B) > 0.99
    assert piece_speakers(pieces, moved).tolist() == [0, 1, -1, -1]
    assert piece_speakers(pieces, moved[:1]).tolist() == [0, 0, -1, -1]  # one speaker: no margin, still not broken


def test_a_piece_names_its_single_voice_frames_and_leaves_two_voices_alone() -> None:
    activity = np.zeros((8, 2))
    activity[:, 0] = 1.0  # the windows hear speaker 0 throughout
    activity[6:, 1] = 1.0
    frames = SpeakerFrames(activity, np.full((8, 2), 0.5), np.array([1, 1, 1, 1, 1, 1, 2, 2]))
    pieces = VoicePieces(np.array([2]), np.array([8]), np.stack([B]))
    named = name_single_voices(frames, pieces, np.array([1]))
    assert named.activity[:2].tolist() == [[1, 0], [1, 0]]  # outside the piece: the windows' word
    assert named.activity[2:6].tolist() == [[0, 1]] * 4  # inside it, one voice: the piece's speaker
    assert named.activity[6:].tolist() == [[1, 1], [1, 1]]  # two voices: untouched
    assert named.confidence[2:6, 1].tolist() == [1.0] * 4


def test_voices_heard_counts_as_reconstruction_does() -> None:
    rng = np.random.default_rng(3)
    activity = (rng.random((4, 50, 3)) < 0.4).astype(np.uint8)
    first_frames = np.array([0, 12, 25, 40])
    batch = WindowBatch(first_frames, activity, np.full((4, 3), -1), np.full((4, 3), np.nan))
    expected = speaker_frames([batch], 90, 0).count
    np.testing.assert_array_equal(voices_heard(activity, first_frames, 0, 90), expected)
    np.testing.assert_array_equal(voices_heard(activity, first_frames, 30, 70), expected[30:70])


def test_decide_names_the_voice_a_mixed_local_speaker_hid() -> None:
    """Window 1's one local speaker holds voice A then voice B; its embedding sits nearer A. The pieces
    cut from its second half, embedded as B, give those frames to B's speaker."""
    half = FRAMES_PER_WINDOW // 2
    heard = Heard()
    heard.windows, heard.duration = 2, 20.0
    heard.first_frames = [0, FRAMES_PER_WINDOW]
    activity = np.zeros((2, FRAMES_PER_WINDOW, LOCAL_SPEAKERS), dtype=np.uint8)
    activity[0, :half, 0] = 1  # window 0: A, then B, as two local speakers
    activity[0, half:, 1] = 1
    activity[1, :, 0] = 1  # window 1: A then B, mixed into one local speaker
    heard.activity = [activity]
    heard.owners = [(0, 0, 4.0), (0, 1, 4.0), (1, 0, 9.0)]
    heard.embeddings = [np.stack([A, B, unit(1, 0.6)]).astype(np.float32)]
    quarter = FRAMES_PER_WINDOW // 4
    starts = FRAMES_PER_WINDOW + np.array([0, quarter, 2 * quarter, 3 * quarter])
    heard.add_pieces(starts, starts + quarter, np.stack([A, A, B, B]).astype(np.float32))

    turns = decide(heard, ClusteringOptions(num_speakers=2)).turns
    spans = list(zip(turns.starts.tolist(), turns.ends.tolist(), turns.speakers.tolist(), strict=True))
    late = [speaker for start, end, speaker in spans if start < 18.0 < end]
    early = [speaker for start, end, speaker in spans if start < 12.0 < end]
    assert len(late) == 1
    assert len(early) == 1
    assert late != early  # without the pieces, window 1's mixed local speaker gives both halves to A


def pieces_of(*voices: tuple[np.ndarray, int]) -> VoicePieces:
    """Pieces of 100 frames (1 s at the 10 ms frames used here) each, back to back: ``(embedding, how many)``."""
    embeddings = np.stack([vector for vector, many in voices for _ in range(many)])
    first = np.arange(len(embeddings)) * 100
    return VoicePieces(first, first + 100, embeddings)


def voices_in(pieces: VoicePieces, centroids: np.ndarray, *, room: int) -> np.ndarray:
    moved = piece_centroids(pieces, centroids)
    return new_voice_centroids(pieces, moved, frame_seconds=0.01, threshold=0.55, room=room)


def test_pieces_no_speaker_fits_are_a_new_voice_when_they_are_one_voice_and_enough_of_the_episode() -> None:
    other = unit(0, 0, 1)
    mixed = np.stack([unit(1, 0.3)])  # the windows' one speaker: A with a little of B mixed in
    found = voices_in(pieces_of((A, 60), (B, 8)), mixed, room=9)
    assert found.shape == (1, 192)
    assert float(found[0] @ B) > 0.99
    # Too little of it (6 s needed), too small a share of the episode (2 %), or no room: no new voice.
    assert voices_in(pieces_of((A, 60), (B, 5)), mixed, room=9).shape[0] == 0
    assert voices_in(pieces_of((A, 600), (B, 8)), mixed, room=9).shape[0] == 0
    assert voices_in(pieces_of((A, 60), (B, 8)), mixed, room=0).shape[0] == 0
    # Pieces that fit no speaker but not one another (B and C, 4 s each) are no voice.
    scattered = voices_in(pieces_of((A, 60), (B, 4), (other, 4)), mixed, room=9)
    assert scattered.shape[0] == 0
    # A piece with no usable embedding (silence pooled to zero, a NaN) is nobody's voice, and no error.
    broken = pieces_of((A, 60), (B, 8), (np.zeros(192), 1), (np.full(192, np.nan), 1))
    assert voices_in(broken, mixed, room=9).shape[0] == 1
    # Pieces that fit a speaker are that speaker's, however many.
    both = np.stack([A, B])
    assert voices_in(pieces_of((A, 60), (B, 20)), both, room=9).shape[0] == 0


def test_new_voices_come_largest_first_as_many_as_there_is_room_for() -> None:
    other = unit(0, 0, 1)
    pieces = pieces_of((A, 60), (B, 8), (other, 12))
    found = voices_in(pieces, np.stack([A]), room=1)
    assert found.shape[0] == 1
    assert float(found[0] @ other) > 0.99
    assert voices_in(pieces, np.stack([A]), room=2).shape[0] == 2


def test_past_the_clustering_cap_an_even_spread_of_unfit_pieces_stands_for_them_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(voice_pieces, "MAX_CLUSTERED", 10)
    # 40 pieces of B (40 s) fit nobody; ten of them are clustered, and stand for 40 s, not 10.
    pieces = pieces_of((A, 600), (B, 40))
    found = voices_in(pieces, np.stack([A]), room=9)
    assert found.shape[0] == 1  # 40 s is over the 2 % (12.8 s) a voice needs here; 10 s would not be


def test_how_many_speakers_may_join() -> None:
    assert room_for_speakers(ClusteringOptions(), 3) == 7
    assert room_for_speakers(ClusteringOptions(max_speakers=3), 3) == 0
    assert room_for_speakers(ClusteringOptions(num_speakers=4), 1) == 0  # a given count is the count


def test_new_speakers_join_after_the_found_ones_and_windows_are_matched_to_them() -> None:
    speakers = WindowSpeakers(np.array([0, 0, 1]), np.array([0, 1, 0]), np.stack([A, B, B]), np.ones(3))
    clusters = np.array([[0, 0, -1], [0, -1, -1]])  # window 0's second local speaker had nowhere else to go
    assignment = SpeakerAssignment(clusters, np.zeros((2, 3)), np.stack([A]))
    joined = with_new_speakers(assignment, speakers, np.stack([B]))
    assert joined.num_speakers == 2
    assert joined.clusters.tolist() == [[0, 1, -1], [1, -1, -1]]
    assert with_new_speakers(assignment, speakers, np.zeros((0, 192))) is assignment


def interviewer_heard() -> Heard:
    """Eight windows, one after another, each with one local speaker mixing host A's long answers with
    interviewer B's short questions (three windows hold one, 2.5 s each); the pieces are pure."""
    quarter = FRAMES_PER_WINDOW // 4
    heard = Heard()
    heard.windows, heard.duration = 8, 80.0
    heard.first_frames = [w * FRAMES_PER_WINDOW for w in range(8)]
    activity = np.zeros((8, FRAMES_PER_WINDOW, LOCAL_SPEAKERS), dtype=np.uint8)
    activity[:, :, 0] = 1
    heard.activity = [activity]
    heard.owners = [(w, 0, 9.0) for w in range(8)]
    heard.embeddings = [np.stack([unit(1, 0.3)] * 8).astype(np.float32)]
    starts = np.array([w * FRAMES_PER_WINDOW + q * quarter for w in range(8) for q in range(4)])
    voices = [B if w in (1, 4, 6) and q == 3 else A for w in range(8) for q in range(4)]
    heard.add_pieces(starts, starts + quarter, np.stack(voices).astype(np.float32))
    return heard


def test_decide_finds_the_interviewer_no_window_embedding_stands_for() -> None:
    turns = decide(interviewer_heard(), ClusteringOptions()).turns
    speaking = dict.fromkeys(turns.speaker_names, 0.0)
    for start, end, speaker in zip(turns.starts.tolist(), turns.ends.tolist(), turns.speakers.tolist(), strict=True):
        speaking[turns.speaker_names[speaker]] += end - start
    assert len(speaking) == 2
    interviewer, host = sorted(speaking.values())
    assert 7.0 < interviewer < 7.6  # B's three questions of 2.5 s
    assert 72.0 < host < 73.0
    # Asked for one speaker, the count stands.
    assert len(decide(interviewer_heard(), ClusteringOptions(num_speakers=1)).turns.speaker_names) == 1
