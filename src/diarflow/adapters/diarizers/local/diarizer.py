"""The offline diarizer: PyAV decode, silero-vad, GE2E embeddings, diarflow's own clustering.

Streaming passes over the audio keep memory flat whatever the length:

1. decode → voice activity (one probability per 32 ms frame);
2. decode again → cut each planned piece out of a rolling buffer → mel → GE2E;
3. decode a third time → 1 s windows around the speaker changes that meet
   without a pause → GE2E → boundary refinement (skipped when there are none);
   a change inside an utterance that the windows do not confirm is undone, and
   the changes are refined again (a fourth decode, only when that happens).

Between 1 and 2, :func:`~diarflow.domain.speaker_clustering.plan_pieces` decides
the pieces from the transcript's words and utterances plus the VAD; after 2 the
domain code clusters, and after 3 it builds turns. Each decode costs ~1–5 s per
audio hour, far less than holding a 6.7-hour episode in memory (1.5 GB).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from numpy.typing import NDArray

from diarflow.adapters.audio_format import SAMPLE_RATE
from diarflow.adapters.diarizers.base import DiarizationJob, DiarizerOutput, ProgressCallback
from diarflow.adapters.diarizers.local import audio as audio_io
from diarflow.adapters.diarizers.local.encoder import (
    HOP,
    PARTIAL_FRAMES,
    SpeakerEncoder,
    normalize_level,
)
from diarflow.adapters.diarizers.local.vad import SileroVad, speech_regions
from diarflow.adapters.url_policy import UrlPolicy
from diarflow.domain.speaker_clustering import (
    BoundaryWindows,
    Clustering,
    RefinedChanges,
    cluster_pieces,
    confirm_changes,
    frames_to_turns,
    overlap_frames,
    plan_boundary_windows,
    plan_pieces,
    refine_boundaries,
    relabel,
    speech_frames,
)
from diarflow.domain.turns import Turns
from diarflow.errors import DiarizerUnavailable

if TYPE_CHECKING:
    from diarflow.config import Settings

MODEL_NAME = "diarflow-local-1 (silero-vad + resemblyzer-ge2e)"
PARTIAL_STEP = 20
"""Frames between GE2E windows inside a long piece (0.2 s): dense windows average out what is said."""
EMBED_BATCH = 256
"""Mel windows embedded per batch; bounds the memory of pass 2."""


@dataclass
class LocalDiarizer:
    """Diarizes real audio offline. Build with :func:`load_local_diarizer`."""

    encoder: SpeakerEncoder
    vad: SileroVad
    progress: ProgressCallback | None = None
    url_policy: UrlPolicy = field(default_factory=UrlPolicy)
    """Which hosts an ``http(s)`` audio download may reach (strict by default: public addresses only)."""
    block_seconds: float = audio_io.BLOCK_SECONDS
    source: Literal["local"] = "local"
    _warnings: list[str] = field(default_factory=list)

    def diarize(self, job: DiarizationJob) -> DiarizerOutput:
        with audio_io.job_audio_path(job, self.url_policy) as path:
            return self.diarize_file(path, job)

    def diarize_file(self, path: Path, job: DiarizationJob) -> DiarizerOutput:
        total = audio_io.probe_duration(path)
        probabilities, duration = self._voice_activity(path, total)
        if duration <= 0:
            return self._empty(f"{path.name} holds no audio samples (zero length): no speech to diarize")
        speech = speech_regions(probabilities, duration=duration)
        transcript = job.transcript
        # Words past the end of the audio (a transcript of another file, a truncated download) are ignored.
        inside = transcript.starts < duration
        word_starts = transcript.starts[inside]
        word_ends = np.minimum(transcript.ends[inside], duration)
        utterance_starts = np.array([u.start for u in transcript.utterances], dtype=np.float64)
        if speech.size == 0:
            return self._empty(f"no speech found in {path.name} (the voice-activity detector heard only silence)")
        pieces = plan_pieces(word_starts, word_ends, utterance_starts, speech)
        if pieces.size == 0:
            return self._empty(f"no transcribed speech overlaps the speech heard in {path.name}")
        embeddings = self._embed_pieces(path, pieces, duration)
        clustering = cluster_pieces(
            embeddings,
            pieces[:, 0],
            pieces[:, 1],
            num_speakers=job.num_speakers,
            min_speakers=job.min_speakers,
            max_speakers=job.max_speakers,
            utterance_starts=utterance_starts,
        )
        frames = speech_frames(pieces[:, 0], pieces[:, 1], speech, word_starts, word_ends, duration)
        frame_labels = clustering.labels[frames.owner]
        extra = None
        if clustering.num_speakers > 1:
            plan = plan_boundary_windows(frames, frame_labels)
            if len(plan):
                scores = self._score_windows(path, plan, clustering, duration)
                changes: RefinedChanges | None
                refined, changes = refine_boundaries(frame_labels, plan, scores, speech)
                labels = confirm_changes(
                    clustering.labels, pieces[:, 0], pieces[:, 1], utterance_starts, plan, scores, changes
                )
                if labels is not None:
                    # Some changes inside utterances did not hold: their pieces went back to the speaker
                    # before, so centroids and changes are planned again (one more decode, only then).
                    clustering = relabel(clustering, embeddings, pieces[:, 0], pieces[:, 1], labels)
                    refined = labels[frames.owner]
                    plan = plan_boundary_windows(frames, refined)
                    if len(plan):
                        scores = self._score_windows(path, plan, clustering, duration)
                        refined, changes = refine_boundaries(refined, plan, scores, speech)
                    else:
                        changes = None
                frame_labels = refined
                extra = overlap_frames(changes) if changes is not None else None
        # Confidence is each frame's speaker's probability (a refined frame may differ from its piece).
        exclusive = _turns(frames_to_turns(frames, frame_labels, clustering.probabilities))
        turns = exclusive
        if extra is not None and extra[0].size:
            turns = _turns(frames_to_turns(frames, frame_labels, clustering.probabilities, extra=extra))
        warnings = tuple(self._warnings)
        self._warnings = []
        return DiarizerOutput(turns=turns, exclusive=exclusive, model=MODEL_NAME, warnings=warnings)

    # --- pass 1 ----------------------------------------------------------------------------

    def _voice_activity(self, path: Path, total: float | None) -> tuple[NDArray[np.float32], float]:
        self.vad.reset()
        samples = 0
        for block in audio_io.stream_audio(path, self.block_seconds):
            self.vad.push(block)
            samples += block.size
            self._report("voice activity", samples / SAMPLE_RATE, total)
        return self.vad.finish(), samples / SAMPLE_RATE

    # --- pass 2 ----------------------------------------------------------------------------

    def _embed_pieces(self, path: Path, pieces: NDArray[np.float64], duration: float) -> NDArray[np.float32]:
        sums = np.zeros((len(pieces), 256), dtype=np.float64)
        windows: list[NDArray[np.float32]] = []
        owners: list[int] = []

        def flush() -> None:
            if windows:
                vectors = self.encoder.embed_partials(windows)
                np.add.at(sums, np.array(owners), vectors)
                windows.clear()
                owners.clear()

        for index, piece_audio in enumerate(self._piece_audio(path, pieces, duration)):
            for window in _mel_windows(self.encoder, piece_audio):
                windows.append(window)
                owners.append(index)
            if len(windows) >= EMBED_BATCH:
                flush()
        flush()
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        embeddings: NDArray[np.float32] = (sums / np.maximum(norms, 1e-12)).astype(np.float32)
        return embeddings

    # --- pass 3 ----------------------------------------------------------------------------

    def _score_windows(
        self, path: Path, plan: BoundaryWindows, clustering: Clustering, duration: float
    ) -> NDArray[np.float64]:
        """(windows, speakers) centred cosine of each refinement window with each centroid.

        Windows are embedded at their own length (no tiling: a 1 s window of one voice is
        long enough, and tiling would repeat the very words that straddle the change).
        Scores are kept, not embeddings, so memory is a few floats per window.
        """
        starts = plan.window_starts
        bounds = np.stack((starts, np.minimum(starts + plan.window, duration)), axis=1)
        frames = round(plan.window * SAMPLE_RATE / HOP)
        scores = np.zeros((len(bounds), clustering.num_speakers))
        batch: list[NDArray[np.float32]] = []
        done = 0

        def flush() -> None:
            nonlocal done
            if batch:
                scores[done : done + len(batch)] = clustering.window_scores(self.encoder.embed_partials(batch))
                done += len(batch)
                batch.clear()

        for window_audio in self._piece_audio(path, bounds, duration, stage="refining boundaries"):
            if window_audio.size < HOP * 2:  # a window cut off by the end of the audio: score it as silence
                window_audio = np.zeros(HOP * 2, dtype=np.float32)
            batch.append(self.encoder.mel(normalize_level(window_audio))[:frames])
            if len(batch) >= EMBED_BATCH:
                flush()
        flush()
        return scores

    def _piece_audio(
        self, path: Path, pieces: NDArray[np.float64], duration: float, *, stage: str = "speaker embeddings"
    ) -> Iterator[NDArray[np.float32]]:
        """Each piece's samples, in order, from one streaming decode with a rolling buffer."""
        bounds = np.round(pieces * SAMPLE_RATE).astype(np.int64)
        buffer = np.zeros(0, dtype=np.float32)
        buffer_start = 0  # absolute sample index of buffer[0]
        index = 0
        for block in audio_io.stream_audio(path, self.block_seconds):
            buffer = np.concatenate((buffer, block)) if buffer.size else block
            buffer_end = buffer_start + buffer.size
            while index < len(bounds) and bounds[index, 1] <= buffer_end:
                start, end = bounds[index]
                yield buffer[max(0, start - buffer_start) : max(0, end - buffer_start)]
                index += 1
            # Keep only what pieces not yet cut may need (pieces are sorted by start, so the
            # earliest start still to come bounds it; an overlapping long piece keeps more).
            keep_from = int(bounds[index:, 0].min()) if index < len(bounds) else buffer_end
            drop = min(max(0, keep_from - buffer_start), buffer.size)
            if drop:
                buffer = buffer[drop:].copy()
                buffer_start += drop
            self._report(stage, buffer_end / SAMPLE_RATE, duration)
        while index < len(bounds):  # pieces reaching past the decoded end
            start, end = bounds[index]
            yield buffer[max(0, start - buffer_start) : max(0, end - buffer_start)]
            index += 1

    # --- helpers ---------------------------------------------------------------------------

    def _empty(self, message: str) -> DiarizerOutput:
        self._warnings = []
        return DiarizerOutput(turns=Turns.empty(), exclusive=Turns.empty(), model=MODEL_NAME, warnings=(message,))

    def _report(self, stage: str, done: float, total: float | None) -> None:
        if self.progress is not None:
            self.progress(stage, done, total)


def _mel_windows(encoder: SpeakerEncoder, samples: NDArray[np.float32]) -> list[NDArray[np.float32]]:
    """GE2E windows of one piece: 1.6 s windows every 0.2 s; a shorter piece is repeated to fill one.

    Repeating (tiling) a short piece gives the LSTM a full-length input of the same voice, which
    scores better than a short or zero-padded one (zeros are silence the model was not trained on).
    """
    if samples.size < HOP:
        samples = np.zeros(HOP * 2, dtype=np.float32) if samples.size == 0 else samples
    wav = normalize_level(samples.astype(np.float32, copy=False))
    needed = PARTIAL_FRAMES * HOP
    if wav.size < needed:
        wav = np.tile(wav, int(np.ceil(needed / wav.size)))[: needed + 1]
    mel = encoder.mel(wav)
    if len(mel) <= PARTIAL_FRAMES:
        return [mel[:PARTIAL_FRAMES]]
    starts = list(range(0, len(mel) - PARTIAL_FRAMES + 1, PARTIAL_STEP))
    if starts[-1] + PARTIAL_FRAMES < len(mel):
        starts.append(len(mel) - PARTIAL_FRAMES)
    return [mel[s : s + PARTIAL_FRAMES] for s in starts]


def _turns(columns: tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]]) -> Turns:
    starts, ends, labels, confidences = columns
    names = [f"SPEAKER_{int(label):02d}" for label in labels.tolist()]
    return Turns.from_columns(starts, ends, names, confidences)


# --- progress ------------------------------------------------------------------------------------


class StderrProgress:
    """A one-line progress bar on stderr for long files (> ``min_seconds`` of audio), throttled."""

    def __init__(self, min_seconds: float = 600.0, interval: float = 0.5) -> None:
        self.min_seconds = min_seconds
        self.interval = interval
        self._last = 0.0
        self._stage = ""

    def __call__(self, stage: str, done: float, total: float | None) -> None:
        if total is None or total < self.min_seconds:
            return
        now = time.monotonic()
        finished = done >= total - 1e-6
        if stage == self._stage and now - self._last < self.interval and not finished:
            return
        self._last, self._stage = now, stage
        share = min(1.0, done / total)
        bar = "#" * int(share * 30)
        sys.stderr.write(f"\rdiarflow local: {stage:<18} [{bar:<30}] {share:6.1%} of {_clock(total)}")
        if finished:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


# --- factory -------------------------------------------------------------------------------------

_INSTALL_HINT = "pip install 'diarflow[local]' && pip install --no-deps resemblyzer==0.1.4"


def local_diarizer_available() -> bool:
    """Whether the ``[local]`` extra and the GE2E weights are installed (imports nothing heavy)."""
    import importlib.util

    from diarflow.adapters.diarizers.local.encoder import find_weights
    from diarflow.adapters.diarizers.local.vad import vad_available

    if any(importlib.util.find_spec(name) is None for name in ("torch", "scipy")):
        return False
    return vad_available() and find_weights() is not None


def load_local_diarizer(
    settings: Settings | None = None,
    *,
    progress: bool | ProgressCallback | None = True,
    threads: int | None = None,
) -> LocalDiarizer:
    """Load the models; :class:`DiarizerUnavailable` naming the install command when something is missing.

    ``settings``: only its audio-URL policy is used (``allow_private_urls`` lets downloads
    reach loopback and private addresses); without settings, downloads reach public
    addresses only. ``progress``: True (default) for a stderr bar on files longer than
    10 minutes, a callback, or None/False for none.
    """
    url_policy = UrlPolicy.from_settings(settings) if settings is not None else UrlPolicy()
    missing = [name for name in ("torch", "onnxruntime", "av", "scipy") if _missing(name)]
    if missing:
        raise DiarizerUnavailable(
            f"the local diarizer needs {', '.join(missing)}, which are not installed: {_INSTALL_HINT}"
        )
    try:
        encoder = SpeakerEncoder.load(threads=threads)
        vad = SileroVad.load()
    except DiarizerUnavailable as exc:
        raise DiarizerUnavailable(f"{exc.message} ({_INSTALL_HINT})") from None
    callback: ProgressCallback | None
    if progress is True:
        callback = StderrProgress()
    elif progress is False or progress is None:
        callback = None
    else:
        callback = progress
    return LocalDiarizer(encoder=encoder, vad=vad, progress=callback, url_policy=url_policy)


def _missing(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is None
