"""From windows of local speakers to the episode's turns, overlap included.

Each window says, per frame, which of its (up to three) local speakers are
active; clustering says who each local speaker is. Reconstruction lays that
on the episode's frame grid (:mod:`diarflow.domain.frames`):

* **How many speak** at each frame is the average, over the windows that
  heard it, of how many local speakers were active — rounded, so two voices
  at once count two (the segmentation model hears overlap), except where
  a second voice lasts under :data:`BLUR_SECONDS` and not every window hears
  it (:func:`without_blur`: the windows' blur at a turn's edge);
* **who** speaks is the ``count`` speakers whose activity, averaged over the
  same windows, is highest there — where one voice is heard, each window
  counting by its confidence (below), so that windows sure of who they hear
  outvote those whose local speaker matched its cluster poorly;
* a speaker's frames become **turns**; the one-at-a-time variant
  (``exclusive``, what words are aligned to) keeps only the most active
  speaker where several overlap;
* a turn's **confidence** is the mean, over its frames, of how clearly each
  window's local speaker matched its cluster (the cosine margin over the
  next cluster, scaled by :data:`CONFIDENT_MARGIN`).

With a transcript, :func:`bound_by_words` then draws speech where the words
are (the segmentation's turns run ~0.07 s wider than podcast references at
both ends) and keeps a second voice only where the words' speaker changes.
Without one, :func:`without_blur` and :func:`bridge_pauses` do what the words
would: a brief second voice only some windows hear is no overlap, and a
speaker's short pause does not end their turn.

Windows are processed in batches, so memory follows the batch, not the episode.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from diarflow.domain.frames import FrameGrid, aggregate, run_edges
from diarflow.domain.turns import Turns

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

CONFIDENT_MARGIN = 0.3
"""Cosine margin over the next speaker at which a window speaker counts as certain (confidence 1)."""
WORD_BRIDGE = 0.3
"""Seconds of pause between two words of one speaker that still count as speech (annotators bridge them)."""
CHANGE_REACH = 0.25
"""Seconds either side of a change between two words' speakers where a second voice may be heard (chosen on the
sample and the re-cut suites; on the re-cut suites alone 0.5 s is now 0.02 point better, within noise)."""
SECOND_VOICE_AGREEMENT = 1.0
"""Share of the windows hearing a frame that must hear a second voice there for it to stay at a change.

All of them: on the re-cut episodes (spliced turns, no overlap) the second voice the windows blur into a
change is heard by some windows only; real overlaps are heard by all (chosen on the sample and the
re-cut suites: recut 2.0 -> 1.8 %, overlapped 3.2 -> 2.9 %)."""
AGREEMENT_SLACK = 1e-9
"""Activity is a mean of 0/1 over windows: 'every window' is compared with this much room for rounding."""


@dataclass(frozen=True, eq=False)
class WindowBatch:
    """Some consecutive windows: local activity (windows × frames × locals, 0/1), cluster and margin per local."""

    first_frames: IntArray
    activity: NDArray[np.float32] | NDArray[np.uint8]
    clusters: IntArray
    margins: FloatArray


@dataclass(frozen=True, eq=False)
class SpeakerFrames:
    """Per episode frame and speaker: averaged activity and confidence; and the overlap-aware speaker count."""

    activity: FloatArray
    confidence: FloatArray
    count: IntArray


def speaker_frames(batches: Iterable[WindowBatch], num_frames: int, num_speakers: int) -> SpeakerFrames:
    """Average every window's activity per speaker (and the count of voices) on the episode's frame grid."""
    activity = np.zeros((num_frames, num_speakers))
    confidence = np.zeros((num_frames, num_speakers))
    voices = np.zeros(num_frames)
    coverage = np.zeros(num_frames)
    for batch in batches:
        local = batch.activity.astype(np.float64)
        summed, seen = aggregate(local.sum(axis=2, keepdims=True), batch.first_frames, num_frames)
        voices += summed[:, 0]
        coverage += seen
        if num_speakers == 0:
            continue
        # Local speaker j of window w is speaker clusters[w, j] (distinct within a window): one column each.
        one_hot = np.zeros((*local.shape[:2], num_speakers))
        weighted = np.zeros_like(one_hot)
        sure = np.clip(np.nan_to_num(batch.margins, nan=0.0) / CONFIDENT_MARGIN, 0.0, 1.0)
        for j in range(local.shape[2]):
            speaker = batch.clusters[:, j]
            rows = np.flatnonzero(speaker >= 0)
            one_hot[rows, :, speaker[rows]] += local[rows, :, j]
            weighted[rows, :, speaker[rows]] += local[rows, :, j] * sure[rows, j][:, np.newaxis]
        activity += aggregate(one_hot, batch.first_frames, num_frames)[0]
        confidence += aggregate(weighted, batch.first_frames, num_frames)[0]
    heard = np.maximum(coverage, 1.0)
    count = np.rint(voices / heard).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.where(activity > 0, confidence / np.where(activity > 0, activity, 1.0), 0.0)
    return SpeakerFrames(activity / heard[:, np.newaxis], mean_confidence, count)


def voices_heard(activity: NDArray[np.uint8], first_frames: IntArray, first: int, stop: int) -> IntArray:
    """How many voices the windows hear at each episode frame in [first, stop) (as :func:`speaker_frames` counts).

    ``activity`` (windows × frames × locals, 0/1) must hold every window that hears those frames; frames no
    window hears count 0.
    """
    frames = activity.shape[1]
    index = first_frames[:, np.newaxis] + np.arange(frames)[np.newaxis, :] - first
    inside = (index >= 0) & (index < stop - first)
    heard = activity.sum(axis=2, dtype=np.int64)
    voices = np.bincount(index[inside], weights=heard[inside], minlength=stop - first)
    coverage = np.bincount(index[inside], minlength=stop - first)
    return np.rint(voices / np.maximum(coverage, 1)).astype(np.int64)


SILENCE_PROBABILITY = 0.1
"""A frame is surely silent where the voice-activity model's speech probability stays under this
within ``SILENCE_REACH`` of it (chosen on the meeting clips' train split: docs/local-diarizer.md)."""
SILENCE_REACH = 0.3
"""Seconds either side a frame must be quiet for: the onset and fade of speech score low too."""


def sure_silence(
    speech_probabilities: NDArray[np.floating],
    probability_step: float,
    centres: FloatArray,
    *,
    below: float = SILENCE_PROBABILITY,
    reach: float = SILENCE_REACH,
) -> NDArray[np.bool_]:
    """Per frame (``centres``, seconds): whether every speech probability within ``reach`` is under ``below``.

    ``speech_probabilities`` are a voice-activity model's, one per ``probability_step`` seconds
    from 0. Frames past the last probability count as not silent (nothing said they are).
    """
    from scipy.ndimage import maximum_filter1d  # imported here: `import diarflow` stays light

    probabilities = np.asarray(speech_probabilities, dtype=np.float64)
    if probabilities.size == 0:
        return np.zeros(len(centres), dtype=np.bool_)
    half = max(0, round(reach / probability_step))
    loudest = maximum_filter1d(probabilities, size=2 * half + 1, mode="nearest")
    index = np.floor(np.asarray(centres, dtype=np.float64) / probability_step).astype(np.int64)
    inside = (index >= 0) & (index < probabilities.size)
    silent = np.zeros(len(centres), dtype=np.bool_)
    silent[inside] = loudest[index[inside]] < below
    return silent


def without_silence(frames: SpeakerFrames, silent: NDArray[np.bool_]) -> SpeakerFrames:
    """``frames`` with no voice where ``silent`` (where the segmentation hears speech that the
    voice-activity model is sure is not there)."""
    if not silent.any():
        return frames
    keep = ~silent
    return SpeakerFrames(
        frames.activity * keep[:, np.newaxis], frames.confidence * keep[:, np.newaxis], frames.count * keep
    )


BLUR_SECONDS = 0.3
"""Longest run of a second voice that not every window hears, taken for the windows' blur at a change of
speaker rather than overlap (:func:`without_blur`). Chosen on ami-train as the longest that costs it nothing
(with :func:`bridge_pauses`, none 25.03 %; 0.2 / 0.3 / 0.4 s: 24.91 / 24.91 / 25.14 %); the podcast-like tuning
sets gain more the longer it is (recut from the audio alone 6.05 -> 5.28 / 4.98 / 4.81 %)."""


def without_blur(frames: SpeakerFrames, frame_step: float, *, longest: float = BLUR_SECONDS) -> SpeakerFrames:
    """``frames`` with one voice where a second is counted for less than ``longest`` seconds without every
    window that heard the frame hearing it.

    Each window draws a turn's edge a little apart from the others, so around a change of speaker some
    windows hear both voices for a few frames; people really talking over each other are heard by every
    window, or for longer. With a transcript :func:`bound_by_words` does the same from the words' changes.
    """
    num_frames, num_speakers = frames.activity.shape
    if num_speakers < 2 or num_frames == 0:
        return frames
    uncertain = (frames.count >= 2) & (_second_voice_share(frames.activity) < 1.0 - AGREEMENT_SLACK)
    first, stop = run_edges(uncertain)
    short = (stop - first) * frame_step < longest
    if not short.any():
        return frames
    blur, _ = _span_frames(first[short], stop[short])
    count = frames.count.copy()
    count[blur] = 1
    return SpeakerFrames(frames.activity, frames.confidence, count)


@dataclass(frozen=True, eq=False)
class SelectedSpeakers:
    """Frames × speakers, who speaks: overlapping (as many as ``count``) and exclusive (one at a time)."""

    overlapping: NDArray[np.bool_]
    """The ``count`` most active speakers of each frame."""
    exclusive: NDArray[np.bool_]
    """The most active of them alone (the one-at-a-time variant words are aligned to)."""


def select_speakers(frames: SpeakerFrames) -> SelectedSpeakers:
    """Each frame's ``count`` most active speakers, and the most active alone (one ranking serves both).

    Where one voice is heard, the most active counting each window by its confidence
    (:func:`_sure_single_voice`); the most active otherwise.
    """
    num_frames, num_speakers = frames.activity.shape
    if num_speakers == 0:
        nobody = np.zeros((num_frames, 0), dtype=np.bool_)
        return SelectedSpeakers(nobody, nobody)
    count = np.minimum(frames.count, num_speakers)
    sure = _sure_single_voice(frames)
    by = np.where(sure.max(axis=1, keepdims=True) > 0, sure, frames.activity)
    rank = np.argsort(np.argsort(-by, axis=1, kind="stable"), axis=1, kind="stable")
    overlapping = (rank < count[:, np.newaxis]) & (frames.activity > 0)
    return SelectedSpeakers(overlapping, overlapping & (rank == 0))


PAUSE_BRIDGE = 0.3
"""Seconds of a speaker's pause that still count as their speech when there are no words to say where speech
is (:func:`bridge_pauses`; ami-train from the audio alone: 0.1 / 0.2 / 0.3 / 0.5 / 0.75 / 1 s give 25.08 / 24.94 /
24.91 / 25.07 / 25.59 / 25.29 %, none 25.23 %). Annotators bridge such pauses (NIST's Rich Transcription rule for
reference turns), as :data:`WORD_BRIDGE` does between words."""


def bridge_pauses(
    selected: SelectedSpeakers, confidence: FloatArray, frame_step: float, *, pause: float = PAUSE_BRIDGE
) -> tuple[SelectedSpeakers, FloatArray]:
    """Each speaker's pauses shorter than ``pause`` seconds filled, and their frames' confidence with the
    confidence just before them.

    A pause is filled even where another voice is heard in it (a backchannel under a speaker who goes on:
    references mark both); in the one-at-a-time variant only where nobody speaks, so it stays one at a time.
    """
    longest = pause / frame_step
    overlapping = selected.overlapping.copy()
    exclusive = selected.exclusive.copy()
    confidence = confidence.copy()
    anyone = np.concatenate(([0], np.cumsum(selected.exclusive.any(axis=1))))
    for k in range(overlapping.shape[1]):
        first, stop = _inner_pauses(selected.overlapping[:, k], longest)
        frame_index, span_index = _span_frames(first, stop)
        overlapping[frame_index, k] = True
        confidence[frame_index, k] = confidence[first[span_index] - 1, k]
        first, stop = _inner_pauses(selected.exclusive[:, k], longest)
        quiet = anyone[stop] == anyone[first]
        frame_index, _ = _span_frames(first[quiet], stop[quiet])
        exclusive[frame_index, k] = True
    return SelectedSpeakers(overlapping, exclusive), confidence


def _inner_pauses(speaking: NDArray[np.bool_], longest: float) -> tuple[IntArray, IntArray]:
    """The runs of False in ``speaking`` shorter than ``longest`` frames with speech on both sides: [first, stop)."""
    first, stop = run_edges(~speaking)
    inner = (first > 0) & (stop < speaking.size) & (stop - first < longest)
    return first[inner], stop[inner]


def turns_from_frames(selected: NDArray[np.bool_], confidence: FloatArray, grid: FrameGrid, names: list[str]) -> Turns:
    """Each speaker's runs of selected frames as turns."""
    starts: list[float] = []
    ends: list[float] = []
    speakers: list[str] = []
    confidences: list[float] = []
    for k, name in enumerate(names):
        firsts, stops = run_edges(selected[:, k])
        for first, stop in zip(firsts.tolist(), stops.tolist(), strict=True):
            starts.append(max(0.0, float(grid.centre(first) - grid.step / 2)))
            ends.append(float(grid.centre(stop - 1) + grid.step / 2))
            speakers.append(name)
            confidences.append(float(np.clip(confidence[first:stop, k].mean(), 0.0, 1.0)))
    return Turns.from_columns(starts, ends, speakers, confidences)


def bound_by_words(
    frames: SpeakerFrames,
    centres: FloatArray,
    starts: FloatArray,
    ends: FloatArray,
    *,
    bridge: float = WORD_BRIDGE,
    reach: float = CHANGE_REACH,
    second_voice: float = SECOND_VOICE_AGREEMENT,
) -> SpeakerFrames:
    """Speech where the transcript's words are, each word spoken by the speaker the windows give it.

    ``centres`` are the frames' times; ``starts``/``ends`` the words' (any order). A word's speaker is
    the one most active over its single-voice frames, each window counting by its confidence (the
    most active over all its frames when it has none). A pause shorter than ``bridge`` between two
    words of one speaker is speech; other frames are silence. Where one voice speaks, it is the
    word's speaker; two voices stay two only within ``reach`` of a change between consecutive
    words' speakers with less than ``bridge`` between them, where people talk over each other, and
    only where the second voice's activity (the share of the windows hearing it) is at least
    ``second_voice`` (1: every window that heard the frame). A word no window heard a voice over takes
    its turn's speaker (:func:`_unheard_words_carried`); its frames keep the windows' confidence there.
    """
    num_frames, num_speakers = frames.activity.shape
    if num_speakers == 0 or num_frames == 0:
        return frames
    order = np.argsort(starts, kind="stable")
    starts, ends = np.asarray(starts, dtype=np.float64)[order], np.asarray(ends, dtype=np.float64)[order]
    first = np.searchsorted(centres, starts)
    stop = np.maximum(np.searchsorted(centres, ends), np.minimum(first + 1, num_frames))  # a word marks a frame
    sure = _sums_over(_sure_single_voice(frames), first, stop)
    heard = np.where(sure.max(axis=1, keepdims=True) > 0, sure, _sums_over(frames.activity, first, stop))
    close = starts[1:] - ends[:-1] <= bridge
    speaker = _unheard_words_carried(np.where(heard.max(axis=1) > 0, heard.argmax(axis=1), -1), close)

    same = (speaker[1:] == speaker[:-1]) & (speaker[1:] >= 0) & close
    # Across a pause that would end a turn, two speakers are not talking over each other: a second voice
    # heard there is the segmentation's blur at both turns' edges.
    changes = (speaker[1:] != speaker[:-1]) & (speaker[1:] >= 0) & (speaker[:-1] >= 0) & close
    spans_first = np.concatenate((first, stop[:-1][same]))
    spans_stop = np.concatenate((stop, first[1:][same]))
    spans_speaker = np.concatenate((speaker, speaker[:-1][same]))
    owner = np.full(num_frames, -1, dtype=np.int64)
    frame_index, span_index = _span_frames(spans_first, spans_stop)
    owner[frame_index] = spans_speaker[span_index]
    speech = np.zeros(num_frames, dtype=np.bool_)
    speech[frame_index] = True

    near = np.zeros(num_frames + 1, dtype=np.int64)
    np.add.at(near, np.searchsorted(centres, ends[:-1][changes] - reach), 1)
    np.add.at(near, np.searchsorted(centres, starts[1:][changes] + reach), -1)
    at_change = np.cumsum(near[:-1]) > 0
    if num_speakers > 1:
        # At a splice between turns the windows blur both voices into the frames next to it, but not all
        # alike: a voice really talking over another is heard by every window (docs/local-diarizer.md).
        at_change &= _second_voice_share(frames.activity) >= second_voice - AGREEMENT_SLACK

    count = np.where(speech, np.maximum(frames.count, 1), 0)
    count = np.where(at_change, count, np.minimum(count, 1))
    activity = frames.activity.copy()
    alone = np.flatnonzero((count == 1) & (owner >= 0))
    activity[alone] = 0.0
    activity[alone, owner[alone]] = 1.0
    return SpeakerFrames(activity, frames.confidence, count)


def _unheard_words_carried(speaker: IntArray, close: NDArray[np.bool_]) -> IntArray:
    """Each word's speaker (-1: no window heard a voice over it), an unheard word taking its turn's.

    A quiet voice's words can go unheard by every window while the words around them are heard: within
    a run of words no pause longer than the bridge separates (``close[i]``: words ``i`` and ``i + 1``),
    an unheard word is the previous heard word's speaker, or the next one's when it opens the run.
    Measured on the tuning episodes of three or four voices it recovers most of the quiet voices' missed
    words (docs/local-diarizer.md); words no heard word shares a run with stay unheard.
    """
    index = np.arange(speaker.size)
    run = np.concatenate(([0], np.cumsum(~close)))
    previous = np.maximum.accumulate(np.where(speaker >= 0, index, -1))
    following = np.minimum.accumulate(np.where(speaker >= 0, index, speaker.size)[::-1])[::-1]
    from_previous = (previous >= 0) & (run[np.maximum(previous, 0)] == run)
    from_following = (following < speaker.size) & (run[np.minimum(following, speaker.size - 1)] == run)
    carried = np.where(
        from_previous,
        speaker[np.maximum(previous, 0)],
        np.where(from_following, speaker[np.minimum(following, speaker.size - 1)], -1),
    )
    return np.where(speaker >= 0, speaker, carried)


def _sure_single_voice(frames: SpeakerFrames) -> FloatArray:
    """Activity with each window counted by its confidence, where one voice is heard (zero elsewhere).

    Where one voice is heard and the windows disagree about who it is, a window whose local speaker
    matched its cluster poorly (two voices mixed in it, or a cluster forced on it because another local
    speaker of its window took the nearest) is the likelier to be wrong: weighting by confidence lets
    the sure windows decide. Where two are heard, both windows' speakers are really there and the
    margins do not say which is the more present, so activity alone decides there.
    """
    return np.asarray(frames.activity * frames.confidence * (frames.count < 2)[:, np.newaxis], dtype=np.float64)


def _second_voice_share(activity: FloatArray) -> FloatArray:
    """Per frame, the second most active speaker's activity: the share of the windows hearing it (two or more
    speakers)."""
    second = activity.shape[1] - 2
    return np.asarray(np.partition(activity, second, axis=1)[:, second], dtype=np.float64)


def _sums_over(values: FloatArray, first: IntArray, stop: IntArray) -> FloatArray:
    """Per span [first, stop): the sum of ``values``' rows (frames × speakers)."""
    totals = np.vstack((np.zeros((1, values.shape[1])), np.cumsum(values, axis=0)))
    return np.asarray(totals[stop] - totals[first], dtype=np.float64)


def _span_frames(first: IntArray, stop: IntArray) -> tuple[IntArray, IntArray]:
    """Every frame of the spans [first, stop) with the span it belongs to (later spans win where they meet)."""
    lengths = np.maximum(stop - first, 0)
    span_index = np.repeat(np.arange(first.size), lengths)
    offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return first[span_index] + offsets, span_index
