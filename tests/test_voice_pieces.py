"""Single-voice pieces: who speaks where one voice is heard, when a local speaker mixes two voices."""

from __future__ import annotations

import numpy as np

from diarflow.adapters.diarizers.local.overlap import Heard, decide
from diarflow.adapters.models.segmentation import FRAMES_PER_WINDOW, LOCAL_SPEAKERS
from diarflow.domain.reconstruction import SpeakerFrames, WindowBatch, speaker_frames, voices_heard
from diarflow.domain.voice_pieces import VoicePieces, name_single_voices, piece_speakers, single_voice_pieces
from diarflow.domain.window_clustering import ClusteringOptions


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
    speakers = piece_speakers(pieces, centroids, margin=0.1)
    assert speakers[:5].tolist() == [0, 0, 0, 1, 1]
    assert speakers[5] == -1  # equally near both: the windows decide there


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
