"""Sliding windows, cross-window clustering and reconstruction, on episodes whose truth is known.

A synthetic episode is a reference timeline (overlap included). Each 10 s
window's "segmentation" is the truth seen through it — at most three local
speakers, numbered by first appearance in the window, as the model numbers
them — and each local speaker's "embedding" is its person's voice vector
plus noise. What the pipeline rebuilds from that must be the reference, up
to a frame, with the right number of people.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from diarflow.domain.diarization_metrics import Turn, diarization_scores, turns_from_segments
from diarflow.domain.frames import FrameGrid, SlidingWindows, aggregate, run_edges
from diarflow.domain.reconstruction import (
    SpeakerFrames,
    WindowBatch,
    bound_by_words,
    select_speakers,
    speaker_frames,
    turns_from_frames,
)
from diarflow.domain.window_clustering import ClusteringOptions, WindowSpeakers, assign_speakers

GRID = FrameGrid(step=270 / 16000, duration=991 / 16000, per_window=589)
WINDOWS = SlidingWindows(duration=10.0, step=2.5)
LOCALS = 3


def reference_episode(seed: int, *, speakers: int, seconds: float, overlap: float = 0.15) -> list[Turn]:
    """Turns of ``speakers`` people taking the floor in random order, some turns overlapping the previous."""
    rng = np.random.default_rng(seed)
    turns: list[Turn] = []
    t = 0.5
    previous = -1
    while t < seconds - 2:
        who = int(rng.choice([s for s in range(speakers) if s != previous or speakers == 1]))
        length = float(rng.uniform(4.5, 9.0))  # ≥ 4.5 s: a 10 s window meets at most three people
        overlaps = turns and speakers > 1 and rng.random() < overlap
        start = t - (float(rng.uniform(0.3, 0.8)) if overlaps else 0.0)
        end = min(seconds, start + length)
        turns.append((start, end, f"P{who}"))
        previous = who
        t = end + float(rng.uniform(0.0, 0.6))
    return turns


def observe(
    reference: list[Turn], seconds: float, voices: dict[str, np.ndarray], noise: float, seed: int
) -> tuple[WindowBatch, WindowSpeakers, np.ndarray, int]:
    """What a perfect segmentation and a noisy encoder would report for every window of the episode."""
    rng = np.random.default_rng(seed)
    starts = WINDOWS.starts(seconds)
    first = GRID.first_frame(starts)
    frame_times = (first[:, None] + np.arange(GRID.per_window)[None, :]) * GRID.step + GRID.duration / 2
    activity = np.zeros((starts.size, GRID.per_window, LOCALS), dtype=np.float32)
    windows, locals_, embeddings, speech = [], [], [], []
    names = sorted(voices)
    active = {name: np.zeros(frame_times.shape, dtype=bool) for name in names}
    for start, end, who in reference:
        active[who] |= (frame_times >= start) & (frame_times < end)
    for w in range(starts.size):
        present = sorted((name for name in names if active[name][w].any()), key=lambda name: np.argmax(active[name][w]))
        assert len(present) <= LOCALS, f"window {w} meets {len(present)} people"
        for j, name in enumerate(present):
            activity[w, :, j] = active[name][w]
        solo = activity[w].sum(axis=1) == 1
        for j, name in enumerate(present):
            seconds_alone = float((activity[w, :, j].astype(bool) & solo).sum() * GRID.step)
            if seconds_alone < 0.5:
                continue
            windows.append(w)
            locals_.append(j)
            embeddings.append(voices[name] + rng.normal(0, noise, voices[name].shape))
            speech.append(seconds_alone)
    batch = WindowBatch(first, activity, np.full((starts.size, LOCALS), -1), np.full((starts.size, LOCALS), np.nan))
    found = WindowSpeakers(np.array(windows), np.array(locals_), np.array(embeddings), np.array(speech))
    return batch, found, starts, GRID.frames_for(seconds)


def voices_of(count: int, seed: int, dim: int = 192) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {f"P{i}": rng.normal(0, 1, dim) for i in range(count)}


def diarize(reference: list[Turn], seconds: float, speakers: int, noise: float, seed: int, **hints: int):
    batch, found, starts, num_frames = observe(reference, seconds, voices_of(speakers, seed), noise, seed)
    assignment = assign_speakers(found, starts.size, LOCALS, ClusteringOptions(**hints))
    batch = WindowBatch(batch.first_frames, batch.activity, assignment.clusters, assignment.margins)
    frames = speaker_frames([batch], num_frames, assignment.num_speakers)
    names = [f"SPEAKER_{k:02d}" for k in range(assignment.num_speakers)]
    speaking = select_speakers(frames)
    turns = turns_from_frames(speaking.overlapping, frames.confidence, GRID, names)
    exclusive = turns_from_frames(speaking.exclusive, frames.confidence, GRID, names)
    return assignment, turns, exclusive


@pytest.mark.parametrize(("speakers", "seed"), [(1, 1), (2, 2), (3, 3), (4, 4), (6, 6)])
def test_a_clean_episode_is_rebuilt_with_its_overlap_and_its_number_of_people(speakers: int, seed: int) -> None:
    seconds = 240.0
    reference = reference_episode(seed, speakers=speakers, seconds=seconds)
    assignment, turns, exclusive = diarize(reference, seconds, speakers, noise=0.35, seed=seed)
    assert assignment.num_speakers == speakers
    scores = diarization_scores(reference, turns_from_segments(turns.to_segments()))
    assert scores.der < 0.02, scores  # frame quantisation only
    overlapping = int((turns.starts[1:] < np.maximum.accumulate(turns.ends)[:-1]).sum())
    assert overlapping or speakers == 1
    assert (np.diff(exclusive.starts) >= 0).all()
    ends = np.maximum.accumulate(exclusive.ends)
    assert (exclusive.starts[1:] >= ends[:-1] - 1e-9).all()  # one at a time
    assert ((turns.confidences >= 0) & (turns.confidences <= 1)).all()


def test_local_speakers_of_one_window_are_never_the_same_person() -> None:
    seconds = 120.0
    reference = reference_episode(7, speakers=3, seconds=seconds, overlap=0.6)
    # Voices so alike that similarity alone would merge them: the window constraint keeps them apart.
    assignment, _, _ = diarize(reference, seconds, 3, noise=1.2, seed=7, num_speakers=3)
    for row in assignment.clusters:
        named = row[row >= 0]
        assert len(set(named.tolist())) == named.size


@pytest.mark.parametrize(
    ("hints", "expected"), [({"num_speakers": 2}, 2), ({"max_speakers": 2}, 2), ({"min_speakers": 5}, 5)]
)
def test_speaker_count_hints_override_the_estimate(hints: dict[str, int], expected: int) -> None:
    seconds = 200.0
    reference = reference_episode(9, speakers=4, seconds=seconds)
    assignment, _, _ = diarize(reference, seconds, 4, noise=0.35, seed=9, **hints)
    assert assignment.num_speakers == expected


def test_a_long_episode_clusters_a_bounded_subset_and_matches_the_rest() -> None:
    """6,000+ window speakers: agglomerative clustering sees at most MAX_CLUSTERED of them."""
    seconds = 5400.0
    reference = reference_episode(11, speakers=3, seconds=seconds)
    assignment, turns, _ = diarize(reference, seconds, 3, noise=0.35, seed=11)
    assert assignment.num_speakers == 3
    assert diarization_scores(reference, turns_from_segments(turns.to_segments())).der < 0.02


def alike_voices(similarity: float, seed: int, dim: int = 192) -> tuple[np.ndarray, np.ndarray]:
    """Two unit voice directions whose cosine is ``similarity`` (two voices on one telephone line)."""
    rng = np.random.default_rng(seed)
    first, other = rng.normal(0, 1, (2, dim))
    first /= np.linalg.norm(first)
    other -= (other @ first) * first
    other /= np.linalg.norm(other)
    return first, similarity * first + np.sqrt(1 - similarity**2) * other


def window_speakers(
    samples: list[tuple[np.ndarray, float, float, int]], seed: int, *, talking_together: int = 0
) -> WindowSpeakers:
    """``(voice, noise, seconds alone, count)`` per group: embeddings as an encoder gives them, one window each,
    except that the first ``talking_together`` of the first two groups' embeddings pair up, one pair per window
    (two people talking to each other are two local speakers of the windows their turns meet in)."""
    rng = np.random.default_rng(seed)
    embeddings, speech, windows, locals_ = [], [], [], []
    for group, (voice, noise, seconds, count) in enumerate(samples):
        for index in range(count):
            heard = voice + rng.normal(0, noise / np.sqrt(voice.size), voice.size)
            embeddings.append(heard / np.linalg.norm(heard))
            speech.append(seconds)
            shared = group < 2 and index < talking_together
            windows.append(index if shared else len(speech) - 1 + talking_together)
            locals_.append(group if shared else 0)
    return WindowSpeakers(np.array(windows), np.array(locals_), np.array(embeddings), np.array(speech))


def test_two_alike_voices_are_told_apart_by_their_reliable_embeddings() -> None:
    first, second = alike_voices(0.55, seed=21)
    # Long solo stretches embed tightly (same voice ~0.9); short ones are noisy and fill the gap between voices.
    found = window_speakers(
        [(first, 0.35, 4.0, 20), (second, 0.35, 4.0, 20), (first, 0.6, 0.6, 30), (second, 0.6, 0.6, 30)],
        21,
        talking_together=20,  # they talk to each other: the windows where their turns meet hear both
    )
    windows = int(found.windows.max()) + 1
    loose = ClusteringOptions(threshold=0.6)  # as loose as merging pays on meetings
    loose_only = assign_speakers(found, windows, 2, replace(loose, reliable_speech=float("inf")))
    assert loose_only.num_speakers == 1
    assignment = assign_speakers(found, windows, 2, loose)
    assert assignment.num_speakers == 2
    truth = np.repeat([0, 1, 0, 1], [20, 20, 30, 30])
    chosen = assignment.clusters[found.windows, found.locals]
    agreement = max((chosen == truth).mean(), (chosen == 1 - truth).mean())
    assert agreement > 0.95


def test_one_voice_the_strict_pass_splits_stays_one_when_no_window_hears_both_halves() -> None:
    # A voice heard in two rooms or at two levels: its embeddings fall in two tight groups as far apart as two
    # alike people, but the segmentation never heard them as two local speakers of one window.
    louder, softer = alike_voices(0.55, seed=21)
    found = window_speakers(
        [(louder, 0.35, 4.0, 20), (softer, 0.35, 4.0, 20), (louder, 0.6, 0.6, 30), (softer, 0.6, 0.6, 30)], 21
    )
    loose = ClusteringOptions(threshold=0.6)
    assert assign_speakers(found, len(found), 1, loose).num_speakers == 1
    assert assign_speakers(found, len(found), 1, replace(loose, heard_together=0.0)).num_speakers == 2
    # Each half is heard in 50 windows; in 20 of them with the other (40 %), they are two people; in 8 (16 %), one.
    for pairs, people in ((20, 2), (8, 1)):
        together = window_speakers(
            [(louder, 0.35, 4.0, 20), (softer, 0.35, 4.0, 20), (louder, 0.6, 0.6, 30), (softer, 0.6, 0.6, 30)],
            21,
            talking_together=pairs,
        )
        assert assign_speakers(together, int(together.windows.max()) + 1, 2, loose).num_speakers == people


def test_one_voice_with_noisy_short_embeddings_stays_one_speaker() -> None:
    voice, _ = alike_voices(0.0, seed=23)
    found = window_speakers([(voice, 0.35, 4.0, 30), (voice, 0.6, 0.6, 60)], 23)
    assert assign_speakers(found, len(found), 1).num_speakers == 1
    assert assign_speakers(found, len(found), 1, ClusteringOptions(threshold=0.6)).num_speakers == 1


def test_a_cluster_under_a_hundredth_of_the_speech_joins_the_nearest_voice() -> None:
    # Two people talk for 480 s; a background bends three windows' embeddings into a tight group of their own
    # (4.5 s, under 1 %): no third person. Five windows' worth (15 s, 3 %) is someone who said little.
    first, second = alike_voices(0.0, seed=25)
    bent = 0.2 * first + 0.2 * second
    bent += np.sqrt(1 - bent @ bent) * alike_voices(0.0, seed=26)[0]
    for windows, seconds, people in ((3, 1.5, 2), (5, 3.0, 3)):
        found = window_speakers([(first, 0.35, 4.0, 60), (second, 0.35, 4.0, 60), (bent, 0.35, seconds, windows)], 25)
        count = int(found.windows.max()) + 1
        assert assign_speakers(found, count, 1).num_speakers == people
        assert assign_speakers(found, count, 1, ClusteringOptions(min_share=0.0)).num_speakers == 3


def test_windows_cover_the_whole_episode_and_aggregate_averages_what_they_heard() -> None:
    assert WINDOWS.starts(8.0).tolist() == [0.0]
    starts = WINDOWS.starts(23.0)
    assert starts.tolist() == [0.0, 2.5, 5.0, 7.5, 10.0, 12.5, 13.0]  # the last one flush with the end
    first = GRID.first_frame(starts)
    values = np.ones((starts.size, GRID.per_window, 1))
    num_frames = GRID.frames_for(23.0)
    sums, coverage = aggregate(values, first, num_frames)
    heard = coverage > 0
    assert heard[: int(22.9 / GRID.step)].all()
    np.testing.assert_array_equal(sums[heard, 0], coverage[heard])
    middle = coverage[int(10 / GRID.step) : int(12.5 / GRID.step)]
    # 10 s windows every 2.5 s hear each moment four times (589 frames span 9.94 s: a few frames, three)
    assert np.median(middle) == 4
    assert set(middle.tolist()) <= {3.0, 4.0}
    assert coverage.max() == 5  # ... and one more near the end, from the window flush with it


# --- speech bounded by the transcript's words ---------------------------------------------------

STEP = 0.01


def frames_of(activity: np.ndarray, count: np.ndarray) -> SpeakerFrames:
    return SpeakerFrames(activity.astype(np.float64), np.ones_like(activity, dtype=np.float64), count.astype(np.int64))


def spans(selected: np.ndarray, speaker: int) -> list[tuple[float, float]]:
    """Runs of frames (10 ms each) where ``speaker`` is selected, in seconds."""
    firsts, stops = run_edges(selected[:, speaker])
    return [(round(a * STEP, 2), round(b * STEP, 2)) for a, b in zip(firsts.tolist(), stops.tolist(), strict=True)]


def test_words_draw_speech_and_bridge_short_pauses_of_one_speaker_only() -> None:
    n = 600  # 6 s; the segmentation heard A throughout 0-3 s (wider than the words) and B over 3-6 s
    activity = np.zeros((n, 2))
    activity[:300, 0] = 1.0
    activity[300:, 1] = 1.0
    centres = np.arange(n) * STEP + STEP / 2
    starts = np.array([0.5, 1.0, 2.0, 3.3, 3.8])
    ends = np.array([0.8, 1.5, 2.6, 3.6, 5.0])
    bounded = bound_by_words(frames_of(activity, (activity > 0).sum(axis=1)), centres, starts, ends)
    selected = select_speakers(bounded).overlapping
    # 0.2 s between A's first words is bridged; 0.5 s is not; nor is the pause where A hands over to B
    assert spans(selected, 0) == [(0.5, 1.5), (2.0, 2.6)]
    assert spans(selected, 1) == [(3.3, 5.0)]


def test_each_word_goes_to_the_speaker_most_active_over_it_and_a_second_voice_stays_only_at_changes() -> None:
    n = 400
    activity = np.zeros((n, 2))
    activity[:200, 0] = 0.8
    activity[150:170, 1] = 0.4  # a flicker of B inside A's word: not B's
    activity[200:, 1] = 0.9
    activity[190:210, 0] = 1.0  # both heard across the change at 2 s, by every window
    activity[200:210, 1] = 1.0
    activity[300:320, 0] = 0.5  # and A again, heard under B in the middle of B's word
    count = (activity > 0).sum(axis=1)
    centres = np.arange(n) * STEP + STEP / 2
    bounded = bound_by_words(
        frames_of(activity, count), centres, np.array([2.05, 0.2]), np.array([3.9, 1.95]), reach=0.25
    )
    speaking = select_speakers(bounded)
    selected = speaking.overlapping
    # A's word, then A heard under B's word within 0.25 s of the change; the pause between them is silent
    assert spans(selected, 0) == [(0.2, 1.95), (2.05, 2.1)]
    assert spans(selected, 1) == [(2.05, 3.9)]  # B's word whole; B's flicker at 1.5 s is gone
    assert not selected[300:320, 0].any()  # A under B, 1 s from any change: one voice there
    assert (speaking.exclusive.sum(axis=1) <= 1).all()


def test_a_second_voice_at_a_change_stays_only_where_every_window_hears_it() -> None:
    # A's word ends at 1.95 s, B's starts at 2.05 s. Over 1.9-2.1 s the windows count two voices; every
    # window hears A over 1.9-2.0 s (A still talking under B's start), only some over 2.0-2.1 s (the
    # segmentation's blur at a splice).
    n = 400
    activity = np.zeros((n, 2))
    activity[:200, 0] = 1.0
    activity[200:210, 0] = 0.75
    activity[190:, 1] = 1.0
    count = np.where(activity.sum(axis=1) > 1.5, 2, 1)
    centres = np.arange(n) * STEP + STEP / 2
    starts, ends = np.array([0.2, 2.05]), np.array([1.95, 3.9])
    selected = select_speakers(bound_by_words(frames_of(activity, count), centres, starts, ends)).overlapping
    assert spans(selected, 0) == [(0.2, 1.95)]  # A at 2.05-2.1 s: some windows only, dropped
    assert spans(selected, 1) == [(1.9, 1.95), (2.05, 3.9)]  # B under A's end, where every window hears both
    anywhere = bound_by_words(frames_of(activity, count), centres, starts, ends, second_voice=0.0)
    assert spans(select_speakers(anywhere).overlapping, 0) == [(0.2, 1.95), (2.05, 2.1)]


def test_where_one_voice_is_heard_the_surer_windows_say_who_and_where_two_the_more_active_leads() -> None:
    activity = np.array([[0.67, 0.5], [0.67, 0.5], [0.0, 0.0]])
    confidence = np.array([[0.1, 1.0], [0.1, 1.0], [0.0, 0.0]])
    frames = SpeakerFrames(activity, confidence, np.array([1, 2, 0]))
    speaking = select_speakers(frames)
    np.testing.assert_array_equal(speaking.overlapping, [[False, True], [True, True], [False, False]])
    np.testing.assert_array_equal(speaking.exclusive, [[False, True], [True, False], [False, False]])


def test_the_exclusive_speaker_is_the_first_ranked_of_the_overlapping_ones() -> None:
    rng = np.random.default_rng(5)
    activity = np.round(rng.random((200, 3)) * 3) / 3  # ties included
    frames = SpeakerFrames(activity, rng.random((200, 3)), rng.integers(0, 4, 200))
    speaking = select_speakers(frames)
    assert not (speaking.exclusive & ~speaking.overlapping).any()
    np.testing.assert_array_equal(speaking.exclusive.sum(axis=1), speaking.overlapping.any(axis=1))
    # The most active speaker is the exclusive one, whatever its index.
    ranked = select_speakers(SpeakerFrames(np.array([[0.2, 0.9, 0.5]] * 2), np.ones((2, 3)), np.array([1, 2])))
    assert ranked.exclusive.tolist() == [[False, True, False]] * 2
    assert ranked.overlapping.tolist() == [[False, True, False], [False, True, True]]
    nobody = select_speakers(SpeakerFrames(np.zeros((4, 0)), np.zeros((4, 0)), np.ones(4, dtype=np.int64)))
    assert nobody.overlapping.shape == nobody.exclusive.shape == (4, 0)


def test_a_word_goes_to_the_speaker_the_surer_windows_hear_unless_two_voices_are_heard() -> None:
    # 0-1 s, one voice: a third of the windows heard A, but matched it to A poorly (a forced, mixed local
    # speaker), the rest heard B clearly. 1-2 s, two voices: A more active than B, whatever the margins.
    n = 200
    activity = np.zeros((n, 2))
    confidence = np.zeros((n, 2))
    activity[:100] = [0.67, 0.5]
    confidence[:100] = [0.1, 1.0]
    activity[100:] = [1.0, 0.8]
    confidence[100:] = [0.1, 1.0]
    count = np.r_[np.ones(100), np.full(100, 2)].astype(np.int64)
    frames = SpeakerFrames(activity, confidence, count)
    centres = np.arange(n) * STEP + STEP / 2
    bounded = bound_by_words(frames, centres, np.array([0.1, 1.3]), np.array([0.6, 1.6]), reach=0.0)
    selected = select_speakers(bounded).overlapping
    assert spans(selected, 1) == [(0.1, 0.6)]
    assert spans(selected, 0) == [(1.3, 1.6)]


def test_no_second_voice_across_a_pause_that_ends_a_turn() -> None:
    # A speaks 0.2-1 s, B 1.4-2 s: 0.4 s apart, more than the bridge. The segmentation blurs both
    # turns into the pause and hears two voices over 0.8-1.2 s; within reach of the change, but no overlap.
    n = 200
    activity = np.zeros((n, 2))
    activity[:120, 0] = 1.0
    activity[80:, 1] = 1.0
    count = (activity > 0).sum(axis=1)
    centres = np.arange(n) * STEP + STEP / 2
    bounded = bound_by_words(
        frames_of(activity, count), centres, np.array([0.2, 1.4]), np.array([1.0, 2.0]), bridge=0.3, reach=0.25
    )
    selected = select_speakers(bounded).overlapping
    assert spans(selected, 0) == [(0.2, 1.0)]
    assert spans(selected, 1) == [(1.4, 2.0)]


def test_a_word_no_window_heard_is_its_turns_speaker_and_a_turn_nobody_heard_stays_silent() -> None:
    # B speaks 0.2-1.0, 1.1-1.5 (unheard: a quiet voice), 1.6-2.0; then, after a 0.5 s pause, an unheard
    # word at 2.5-2.8 opening a run whose next word (2.9-3.3) A is heard saying; then a lone unheard turn.
    n = 500
    activity = np.zeros((n, 2))
    activity[20:100, 1] = 1.0
    activity[160:200, 1] = 1.0
    activity[290:330, 0] = 1.0
    count = (activity > 0).sum(axis=1)
    centres = np.arange(n) * STEP + STEP / 2
    starts = np.array([0.2, 1.1, 1.6, 2.5, 2.9, 4.0])
    ends = np.array([1.0, 1.5, 2.0, 2.8, 3.3, 4.5])
    selected = select_speakers(bound_by_words(frames_of(activity, count), centres, starts, ends)).overlapping
    assert spans(selected, 1) == [(0.2, 2.0)]  # the unheard word and the pauses around it: B's turn
    assert spans(selected, 0) == [(2.5, 3.3)]  # the unheard word opening A's run is A's
    assert not selected[400:450].any()  # nobody was heard in that turn: no one to give it to


def test_words_in_any_order_and_without_duration_bound_speech_alike() -> None:
    n = 300
    activity = np.zeros((n, 1))
    activity[:, 0] = 1.0
    count = np.ones(n, dtype=np.int64)
    centres = np.arange(n) * STEP + STEP / 2
    starts, ends = np.array([0.5, 1.0, 2.0]), np.array([0.9, 1.4, 2.0])
    ordered = bound_by_words(frames_of(activity, count), centres, starts, ends)
    shuffled = bound_by_words(frames_of(activity, count), centres, starts[::-1].copy(), ends[::-1].copy())
    np.testing.assert_array_equal(ordered.count, shuffled.count)
    # a word of no duration: one frame
    assert spans(select_speakers(ordered).overlapping, 0) == [(0.5, 1.4), (2.0, 2.01)]


def test_centroids_move_to_the_voices_of_every_embedding_and_none_is_lost() -> None:
    """Clustering decides from a subset; a few k-means steps over every embedding centre its voices."""
    from diarflow.domain.window_clustering import refined_centroids

    rng = np.random.default_rng(5)
    a, b, c = (v / np.linalg.norm(v) for v in rng.normal(0, 1, (3, 192)))
    points = np.vstack([a + rng.normal(0, 0.03, (200, 192)), b + rng.normal(0, 0.03, (200, 192))])
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    speech = rng.uniform(0.5, 5.0, 400)
    skewed = np.vstack([a + 0.7 * b, b + 0.3 * a, c])  # two off-centre starts, and one nobody is near
    skewed /= np.linalg.norm(skewed, axis=1, keepdims=True)
    centroids = refined_centroids(points, speech, skewed)
    assert centroids.shape == (3, 192)
    assert centroids[0] @ a > 0.99
    assert centroids[1] @ b > 0.99
    np.testing.assert_array_equal(centroids[2], skewed[2])  # a speaker without embeddings keeps its centroid


def test_each_speakers_voice_is_the_speech_weighted_mean_of_the_embeddings_matched_to_it() -> None:
    from diarflow.domain.window_clustering import speaker_voices

    rng = np.random.default_rng(8)
    a, b = (v / np.linalg.norm(v) for v in rng.normal(0, 1, (2, 192)))
    # 30 windows hear both voices; a last one hears A twice, and the matching gives one of them to B.
    windows = np.r_[np.repeat(np.arange(30), 2), 30, 30]
    locals_ = np.r_[np.tile([0, 1], 30), 0, 1]
    truth = np.r_[np.tile([0, 1], 30), 0, 0]
    embeddings = np.where(truth[:, np.newaxis] == 0, a, b) + rng.normal(0, 0.05, (62, 192))
    speech = rng.uniform(0.3, 6.0, 62)
    speakers = WindowSpeakers(windows, locals_, embeddings, speech)
    assignment = assign_speakers(speakers, 31, 3, ClusteringOptions(num_speakers=2))
    voices = speaker_voices(speakers, assignment)
    # The voices follow the matching (what the turns say), not each embedding's nearest centroid.
    assert not np.allclose(voices, assignment.centroids, atol=1e-6)

    found = assignment.clusters[windows, locals_]
    for k in range(2):
        mine = found == k
        unit = embeddings[mine] / np.linalg.norm(embeddings[mine], axis=1, keepdims=True)
        expected = (unit * speech[mine, np.newaxis]).sum(axis=0)
        np.testing.assert_allclose(voices[k], expected / np.linalg.norm(expected), atol=1e-9)
    assert {int(np.argmax(voices @ a)), int(np.argmax(voices @ b))} == {0, 1}  # one voice each


def test_a_speaker_nothing_was_matched_to_keeps_its_centroid_as_its_voice() -> None:
    from diarflow.domain.window_clustering import SpeakerAssignment, speaker_voices

    speakers = WindowSpeakers(np.array([0]), np.array([0]), np.array([[1.0, 0.0]]), np.array([2.0]))
    centroids = np.array([[1.0, 0.0], [0.0, 1.0]])
    assignment = SpeakerAssignment(np.array([[0, -1, -1]]), np.full((1, 3), np.nan), centroids)
    np.testing.assert_array_equal(speaker_voices(speakers, assignment), centroids)


def test_a_frame_is_surely_silent_only_when_the_vad_is_quiet_all_around_it() -> None:
    from diarflow.domain.reconstruction import sure_silence

    step = 0.032
    times = np.arange(0, 5.0, step)
    probabilities = np.full(times.size, 0.05)
    probabilities[(times >= 1.0) & (times < 2.0)] = 0.9  # speech
    probabilities[np.argmin(np.abs(times - 3.0))] = 0.15  # one doubtful frame
    centres = np.arange(0.005, 6.0, 0.01)  # the grid reaches past the last probability

    silent = sure_silence(probabilities, step, centres, below=0.1, reach=0.3)

    def at(t: float) -> bool:
        return bool(silent[np.argmin(np.abs(centres - t))])

    assert [at(t) for t in (0.5, 2.45, 4.0)] == [True, True, True]
    assert not at(1.5)  # speech
    assert [at(t) for t in (0.8, 2.2)] == [False, False]  # within 0.3 s of it: onsets and fades score low
    assert [at(t) for t in (2.8, 3.2)] == [False, False]  # a doubtful frame nearby is not sure silence
    assert not at(5.5)  # past the VAD's last frame nothing says silence
    assert not sure_silence(np.zeros(0), step, centres).any()


def test_without_silence_removes_every_voice_only_where_silent() -> None:
    from diarflow.domain.reconstruction import without_silence

    activity = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    frames = SpeakerFrames(activity, activity * 0.8, np.array([1, 2, 1, 1]))
    silent = np.array([False, True, False, True])

    kept = without_silence(frames, silent)

    assert select_speakers(kept).overlapping.tolist() == [[True, False], [False, False], [False, True], [False, False]]
    assert kept.count.tolist() == [1, 0, 1, 0]
    assert without_silence(frames, np.zeros(4, dtype=bool)) is frames


def test_a_brief_second_voice_only_some_windows_hear_is_blur_not_overlap() -> None:
    from diarflow.domain.reconstruction import without_blur

    step = 0.1
    # A hands over to B at frame 10: half the windows hear both for 0.2 s. Later B and A talk over each other
    # for 0.2 s, every window hearing both; and for 0.5 s that only some windows hear.
    activity = np.zeros((40, 2))
    activity[:10, 0] = 1.0
    activity[10:, 1] = 1.0
    activity[10:12, 0] = 0.5
    activity[20:22, 0] = 1.0
    activity[30:35, 0] = 0.75
    count = np.where(activity[:, 0] + activity[:, 1] >= 1.5, 2, 1)
    frames = SpeakerFrames(activity, activity, count)

    kept = without_blur(frames, step, longest=0.3)

    assert kept.count[10:12].tolist() == [1, 1]  # the handover's blur: one voice, the more active
    assert select_speakers(kept).overlapping[10:12].tolist() == [[False, True], [False, True]]
    assert kept.count[20:22].tolist() == [2, 2]  # every window hears both: real overlap, however brief
    assert kept.count[30:35].tolist() == [2] * 5  # longer than blur lasts
    assert without_blur(frames, step, longest=0.0) is frames
    one_voice = SpeakerFrames(activity[:, :1], activity[:, :1], np.ones(40, dtype=np.int64))
    assert without_blur(one_voice, step) is one_voice


def test_a_speakers_short_pauses_are_bridged_without_making_two_speak_at_once_in_the_exclusive_turns() -> None:
    from diarflow.domain.reconstruction import SelectedSpeakers, bridge_pauses

    step = 0.1
    a = np.zeros(40, dtype=bool)
    a[2:10] = a[12:20] = a[22:25] = a[30:35] = True  # pauses of 0.2 s, 0.2 s, 0.5 s
    b = np.zeros(40, dtype=bool)
    b[20:22] = True  # a backchannel in A's second pause
    overlapping = np.stack([a, b], axis=1)
    confidence = np.where(overlapping, 0.8, 0.0)
    confidence[9, 0] = 0.6

    bridged, bridged_confidence = bridge_pauses(SelectedSpeakers(overlapping, overlapping), confidence, step, pause=0.3)

    speaking = bridged.overlapping[:, 0]
    assert speaking[10:12].tolist() == speaking[20:22].tolist() == [True, True]  # A goes on under B's backchannel
    assert not speaking[25:30].any()  # a pause of 0.5 s ends the turn
    assert not speaking[np.r_[0:2, 35:40]].any()  # silence before and after is no pause
    assert bridged_confidence[10:12, 0].tolist() == [0.6, 0.6]  # the confidence just before the pause
    assert bridged.exclusive[10:12, 0].all()  # nobody else there
    assert bridged.exclusive[20:22].tolist() == [[False, True], [False, True]]  # B alone: one at a time
    assert bridged.overlapping[:, 1].tolist() == b.tolist()


def test_a_voice_split_off_one_person_does_not_chain_two_people_into_one() -> None:
    # X talks with Y (alike voices: heard together in every window); X is also heard alone elsewhere (another
    # room: a third strict cluster, a little nearer X than Y). It seldom meets either, so it could join both;
    # it joins X, and X with it is still heard with Y everywhere: X and Y stay two people.
    rng = np.random.default_rng(5)
    dim = 192
    alike = np.array([[1.0, 0.55, 0.58], [0.55, 1.0, 0.5], [0.58, 0.5, 1.0]])  # X, Y, X elsewhere
    basis, _ = np.linalg.qr(rng.standard_normal((dim, 3)))
    x_here, y, x_there = (basis @ np.linalg.cholesky(alike).T).T
    embeddings, speech, windows, locals_ = [], [], [], []

    def heard(voice: np.ndarray, noise: float, seconds: float, window: int, local: int) -> None:
        vector = voice + rng.normal(0, noise / np.sqrt(dim), dim)
        embeddings.append(vector / np.linalg.norm(vector))
        speech.append(seconds)
        windows.append(window)
        locals_.append(local)

    for w in range(20):
        heard(x_here, 0.35, 4.0, w, 0)
        heard(y, 0.35, 4.0, w, 1)
    for w in range(20, 40):
        heard(x_there, 0.35, 4.0, w, 0)
    for w, voice in enumerate([x_here] * 20 + [y] * 20 + [x_there] * 20, start=40):
        heard(voice, 0.6, 0.6, w, 0)  # short, noisy embeddings fill the gaps between the voices
    found = WindowSpeakers(np.array(windows), np.array(locals_), np.array(embeddings), np.array(speech))
    loose = ClusteringOptions(threshold=0.6)
    assert assign_speakers(found, 100, 2, replace(loose, heard_together=0.0)).num_speakers == 3
    assignment = assign_speakers(found, 100, 2, loose)
    assert assignment.num_speakers == 2
    chosen = assignment.clusters[found.windows, found.locals]
    is_y = np.array([False, True] * 20 + [False] * 40 + [True] * 20 + [False] * 20)
    assert len(set(chosen[is_y].tolist())) == 1
    assert set(chosen[is_y].tolist()).isdisjoint(chosen[~is_y].tolist())
