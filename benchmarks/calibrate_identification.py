"""Calibrate identification (CAM++ voiceprints) on real meeting speakers: the 14 AMI clips.

Method (docs/identification.md):

* **Clusters** of each clip come from the offline ``local`` diarizer (``local``:
  segmentation-3.0 + CAM++, from audio alone) or from the reference (``oracle``:
  each speaker's solo speech, "when the diarization is right"). A cluster's true
  speaker is the reference speaker it overlaps most; it is embedded exactly as
  ``identify-speakers-v1`` does (its best exclusive turns, up to 30 s, joined,
  CAM++), or, for ``local-own``, its clusters keep the diarizer's own
  embedding (its windows' embeddings averaged, as the raw diarization's
  ``cluster_embeddings`` carry it; ``cross`` mode only, since that embedding also
  heard the speech ``within`` mode enrols from).
* **Enrolments** are D seconds (3, 5, 10, 30) of one speaker's solo reference speech,
  joined, and enrolled as ``enroll`` enrols a clip (``voiceprint_of``): refused when the
  voice-activity detector hears under 1 s of speech in it or its halves sound like two
  people, else the speech it hears embedded, and that speech's length recorded (it is
  what decides whether a voiceprint is short). Reference "speech" is not always audible:
  a 10 s enrolment holds 6.3-9.2 s that the detector hears, and one inaudible meeting
  voice's 3 s none. ``cross``: taken from the speaker's *other* clips (speakers recur
  across dev00/dev01, tst00/tst01, trn07/trn08 and a few train clips), up to two
  pieces (offsets) per speaker. ``within``: taken from the start of the speaker's solo
  speech in the clip itself, and that speech is cut out of the clusters before they
  are embedded (the cluster is tested on the rest).
* **Runs**: each clip's clusters against a registry of every speaker's voiceprint
  that the mode allows, most of them strangers to the clip (a calibration clip's registry holds
  the 23 calibration speakers only, so no test speech reaches a choice; a test clip's all 27), then
  once more per enrolled speaker of the clip with that speaker's voiceprint left
  out (open set: their cluster must stay unnamed). Clusters whose speaker has no
  voiceprint are unenrolled clusters too.
* **Figures** per split group (calibration = train + development, test apart and
  never tuned on), cluster source, mode and enrolment duration: EER over (cluster,
  voiceprint) cosine scores; the share of enrolled clusters named right / wrong /
  left unnamed (all, and those with >= 10 s of speech); the false-accept rate (share
  of unenrolled clusters given a name).
* **Two-voice check**: halves of one-voice clips (a speaker's solo speech) against
  halves of two-voice clips (two speakers of one meeting joined 50/50 and 70/30).

The default threshold and margin are chosen on the calibration group only: the
highest share of >= 10 s clusters named right from 10 s enrolments (oracle and local
clusters, both modes, one cluster per person) with false accepts <= 1 % at every
enrolment duration. Then the split-voice gap (when a second cluster may take a
person too) at that threshold and margin, over every cluster source (the diarizer's,
``local`` and ``local-own``, and the oracle's): see :func:`choose_gap`. Last, the
threshold *short* voiceprints are held to (:func:`choose_short_threshold`: no source's
false accepts over 1 %, counted or predicted from the impostor scores), short being
less speech heard than every 10 s enrolment holds (:func:`speech_limit`): the figures
at the chosen defaults then hold short enrolments to it, as identification does.

Run: ``make eval-data`` then
``.venv/bin/python benchmarks/calibrate_identification.py [--data .eval-data] [--cache DIR]``
(needs ``diarflow[local]`` and the CAM++ weights). The first run took ~25 min on a shared,
loaded 2-core machine, mostly diarizing (that run also diarized with v1, since removed);
diarizations and embeddings are cached in ``--cache``, so later runs take a minute or two.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import pickle
import sys
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from diarflow.adapters.audio_format import SAMPLE_RATE  # noqa: E402
from diarflow.domain.frames import run_edges  # noqa: E402
from diarflow.domain.identification import (  # noqa: E402
    DEFAULT_SPLIT_VOICE_GAP,
    MAX_REPRESENTATIVE_SECONDS,
    SHORT_ENROLMENT_SECONDS,
    enrolment_thresholds,
    identify_clusters,
    representative_segments,
)
from diarflow.eval_data import EvalClip, load_split  # noqa: E402

GRID = 0.01
"""Seconds per frame of the masks speech is described with."""
DURATIONS = (3.0, 5.0, 10.0, 30.0)
OFFSETS = 2
"""Enrolment pieces per speaker and duration (the k-th D seconds of their solo speech)."""
LONG_CLUSTER = 10.0
"""The target is stated for clusters with at least this much speech."""
TARGET_ENROLMENT = 10.0
"""The target names those clusters from enrolments of this many seconds: voiceprints holding less speech than
every such enrolment are *short* (:func:`speech_limit`)."""
GROUPS = {"calibration": ("train", "development"), "test": ("test",)}
SOURCES = ("oracle", "local", "local-own")
MODES = ("cross", "within")
THRESHOLDS = np.round(np.arange(0.20, 0.701, 0.025), 3)
MARGINS = (0.02, 0.04, 0.06, 0.08, 0.10)
GAPS: tuple[float | None, ...] = (0.0, 0.025, 0.05, 0.075, 0.10, 0.15, 0.20, None)
"""Split-voice gaps tried (None: strictly one cluster per person)."""
MAX_FALSE_ACCEPTS = 0.01
MIN_IMPOSTOR_SCORES = 50
"""Fewer impostor scores than this fit no distribution: such a group predicts nothing."""
SHORT_THRESHOLDS = np.round(np.arange(0.30, 0.801, 0.005), 3)
"""The short-enrolment thresholds tried: finer than the grid, since the predicted rate moves smoothly with it."""

Mask = NDArray[np.bool_]


@dataclass
class Clip:
    clip_id: str
    group: str
    samples: NDArray[np.float32]
    solo: dict[str, Mask]
    """Frames where each reference speaker speaks alone (inside the UEM)."""
    active: dict[str, Mask]
    """Frames where each reference speaker speaks at all."""


@dataclass
class Cluster:
    """One cluster of a clip as a frame mask of its (exclusive) turns, with its true speaker."""

    clip_id: str
    label: str
    turns: Mask
    truth: str
    confidence: NDArray[np.float64] | None = None
    own: NDArray[np.float32] | None = None
    """The diarizer's own embedding of the cluster (``local-own``), used instead of embedding its audio."""


@dataclass
class Run:
    """One identification: the clusters' scores against a registry, and what is true."""

    group: str
    source: str
    mode: str
    duration: float
    scores: NDArray[np.float64]
    truths: list[str]
    speech: NDArray[np.float64]
    people: list[str]
    left_out: str | None = None
    enrolled: NDArray[np.float64] | None = None
    """Seconds of speech each person's voiceprint was enrolled from, as the detector heard it (None: all long)."""

    def bars(self, threshold: float, short_threshold: float | None) -> NDArray[np.float64]:
        """The threshold each voiceprint is held to, as identification holds it (``short_threshold``: None, the
        plain one for all)."""
        if short_threshold is None or self.enrolled is None:
            return np.full(len(self.people), threshold)
        return enrolment_thresholds(self.enrolled.tolist(), threshold=threshold, short_threshold=short_threshold)


@dataclass
class Tally:
    right: int = 0
    wrong: int = 0
    unnamed: int = 0
    long_right: int = 0
    long_wrong: int = 0
    long_unnamed: int = 0
    unenrolled: int = 0
    false_accepts: int = 0
    misses: list[str] = field(default_factory=list)

    @property
    def enrolled(self) -> int:
        return self.right + self.wrong + self.unnamed

    @property
    def long(self) -> int:
        return self.long_right + self.long_wrong + self.long_unnamed


# --- data -------------------------------------------------------------------------------------------


def frames_of(seconds: float) -> int:
    return round(seconds / GRID)


def load_clips(data: Path) -> list[Clip]:
    from diarflow.adapters.speaker_embedding import decode_clip

    clips = []
    for group, splits in GROUPS.items():
        for split in splits:
            for item in load_split(split, data):  # type: ignore[arg-type]
                clips.append(_clip(item, group, decode_clip(item.audio)))
    return clips


def _clip(item: EvalClip, group: str, samples: NDArray[np.float32]) -> Clip:
    count = frames_of(samples.size / SAMPLE_RATE)
    times = (np.arange(count) + 0.5) * GRID
    scored = np.zeros(count, dtype=bool)
    for start, end in item.uem:
        scored |= (times >= start) & (times < end)
    active: dict[str, Mask] = defaultdict(lambda: np.zeros(count, dtype=bool))
    for start, end, speaker in item.reference:
        active[speaker] |= (times >= start) & (times < end)
    talking = np.sum(list(active.values()), axis=0)
    solo = {speaker: mask & (talking == 1) & scored for speaker, mask in active.items()}
    return Clip(item.clip_id, group, samples, solo, dict(active))


def spans_of(mask: Mask) -> NDArray[np.float64]:
    starts, ends = run_edges(mask)
    return np.stack((starts * GRID, ends * GRID), axis=1).astype(np.float64).reshape(-1, 2)


def audio_of(clip: Clip, mask: Mask) -> NDArray[np.float32]:
    rows = [clip.samples[round(a * SAMPLE_RATE) : round(b * SAMPLE_RATE)] for a, b in spans_of(mask).tolist()]
    return np.concatenate(rows) if rows else np.zeros(0, dtype=np.float32)


def piece(mask: Mask, skip: float, seconds: float) -> Mask | None:
    """The frames of ``mask`` after its first ``skip`` seconds, ``seconds`` of them; None when too few."""
    chosen = np.flatnonzero(mask)
    first, last = frames_of(skip), frames_of(skip + seconds)
    if chosen.size < last:
        return None
    out = np.zeros_like(mask)
    out[chosen[first:last]] = True
    return out


# --- diarizer clusters ---------------------------------------------------------------------------------


def diarized(
    clips: list[Clip], data: Path, cache: Path, sources: tuple[str, ...]
) -> dict[str, dict[str, list[Cluster]]]:
    """Per source and clip, the clusters (diarizations cached in ``cache``)."""
    unknown = [s for s in sources if s not in SOURCES]
    if unknown:
        raise SystemExit(f"unknown cluster source(s) {', '.join(unknown)}: use {', '.join(SOURCES)}")
    out: dict[str, dict[str, list[Cluster]]] = {"oracle": {}}
    for clip in clips:
        out["oracle"][clip.clip_id] = [
            Cluster(clip.clip_id, speaker, mask, speaker) for speaker, mask in sorted(clip.solo.items()) if mask.any()
        ]
    for source in (s for s in sources if s != "oracle"):
        # One local diarizer run gives both sources: its turns (local) and its own embeddings (local-own).
        path = cache / "diarization-local.json"
        turns = json.loads(path.read_text()) if path.is_file() else {}
        if not turns or not any(key.endswith(":embeddings") for key in turns):
            turns = _diarize_local(clips, data)  # also a cache written before it kept the embeddings
            path.write_text(json.dumps(turns))
        out[source] = {clip.clip_id: _clusters(clip, turns[clip.clip_id]) for clip in clips}
        if source == "local-own":
            for clip in clips:
                own = turns.get(f"{clip.clip_id}:embeddings", {})  # none when no speech was found
                for cluster in out[source][clip.clip_id]:
                    cluster.own = np.array(own[cluster.label], dtype=np.float32)
    return out


def _diarize_local(clips: list[Clip], data: Path) -> dict[str, Any]:
    """Each clip's exclusive turns ``[start, end, label, confidence]`` and, under ``<clip>:embeddings``,
    the diarizer's own embedding of each cluster."""
    from diarflow.adapters.diarizers.local.overlap import load_overlap_diarizer

    diarizer = load_overlap_diarizer(threads=2)
    found: dict[str, Any] = {}
    for clip in clips:
        path = data / "ami" / f"{clip.clip_id}.wav"
        output = diarizer.diarize_file(path)
        turns = output.exclusive if output.exclusive is not None else output.turns
        found[clip.clip_id] = [
            [float(s), float(e), turns.speaker_names[k], float(c)]
            for s, e, k, c in zip(turns.starts, turns.ends, turns.speakers, turns.confidences, strict=True)
        ]
        if output.speaker_embeddings is not None:
            found[f"{clip.clip_id}:embeddings"] = {
                name: list(vector) for name, vector in output.speaker_embeddings.vectors.items()
            }
        print(f"  local {clip.clip_id}: {len({t[2] for t in found[clip.clip_id]})} clusters", flush=True)
    return found


def _clusters(clip: Clip, turns: list[list[Any]]) -> list[Cluster]:
    count = next(iter(clip.solo.values())).size
    times = (np.arange(count) + 0.5) * GRID
    clusters = []
    for label in sorted({t[2] for t in turns}):
        mask = np.zeros(count, dtype=bool)
        confidence = np.full(count, np.nan)
        for start, end, who, conf in turns:
            if who == label:
                inside = (times >= start) & (times < end)
                mask |= inside
                confidence[inside] = conf
        shared = {speaker: int((mask & active).sum()) for speaker, active in clip.active.items()}
        clusters.append(Cluster(clip.clip_id, label, mask, max(shared, key=shared.__getitem__), confidence))
    return clusters


def representative(cluster: Cluster, removed: Mask | None) -> Mask:
    """The frames identification would embed for this cluster (its best turns, up to 30 s)."""
    mask = cluster.turns & ~removed if removed is not None else cluster.turns
    spans = spans_of(mask)
    if not spans.size:
        return mask
    if cluster.confidence is None:
        conf = np.full(len(spans), np.nan)
    else:
        conf = np.array([np.nanmean(cluster.confidence[frames_of(a) : frames_of(b)]) for a, b in spans.tolist()])
    chosen = representative_segments(spans[:, 0], spans[:, 1], conf, max_seconds=MAX_REPRESENTATIVE_SECONDS)
    out = np.zeros_like(mask)
    for a, b in chosen.tolist():
        out[frames_of(a) : frames_of(b)] = True
    return out & mask if out.any() else out


# --- embeddings ----------------------------------------------------------------------------------------


class Embeddings:
    """CAM++ embeddings of (clip, frame mask) audio, cached on disk by content."""

    def __init__(self, clips: list[Clip], cache: Path) -> None:
        from diarflow.adapters.speaker_embedding import CamClipEmbedder

        self.embedder = CamClipEmbedder.load(threads=2)
        self.clips = {clip.clip_id: clip for clip in clips}
        self.path = cache / "embeddings.pkl"
        self.known: dict[str, NDArray[np.float32]] = pickle.loads(self.path.read_bytes()) if self.path.is_file() else {}
        self.enrolled_path = cache / "voiceprints.pkl"
        self.enrolled: dict[str, tuple[NDArray[np.float32], float] | str] = (
            pickle.loads(self.enrolled_path.read_bytes()) if self.enrolled_path.is_file() else {}
        )
        self.added = 0

    def of(self, parts: Iterable[tuple[str, Mask]]) -> NDArray[np.float32] | None:
        """The embedding of the parts' audio joined (None below half a second)."""
        parts = list(parts)
        key = self._key(parts)
        if key not in self.known:
            audio = self._joined(parts)
            if audio.size < SAMPLE_RATE // 2:
                return None
            self.known[key] = self.embedder.embed(audio)
            self.added += 1
            if self.added % 200 == 0:
                self.save()
        return self.known[key]

    def voiceprint(self, parts: list[tuple[str, Mask]]) -> tuple[NDArray[np.float32], float] | str:
        """The voiceprint ``enroll`` makes of the parts' audio joined, with the seconds of speech it heard, or
        why ``enroll`` refuses the clip (too little speech heard, or two voices)."""
        from diarflow.errors import InvalidInput
        from diarflow.orchestration import enrollment

        # enroll's checks are part of the answer: a cached one from other settings is not reused
        checks = (enrollment.MIN_SPEECH_SECONDS, enrollment.SAME_SPEAKER_MIN, enrollment.HALVES_MIN_SECONDS)
        key = f"{checks}:{self._key(parts)}"
        if key not in self.enrolled:
            try:
                vector, speech = enrollment.voiceprint_of(self.embedder, self._joined(parts))
                self.enrolled[key] = (vector, float(speech))
            except InvalidInput as refused:
                self.enrolled[key] = str(refused)
        return self.enrolled[key]

    def _joined(self, parts: list[tuple[str, Mask]]) -> NDArray[np.float32]:
        """The parts' audio, end to end."""
        return np.concatenate([audio_of(self.clips[c], m) for c, m in parts] or [np.zeros(0, np.float32)])

    @staticmethod
    def _key(parts: Iterable[tuple[str, Mask]]) -> str:
        digest = hashlib.sha1()
        for clip_id, mask in parts:
            digest.update(clip_id.encode())
            digest.update(np.packbits(mask).tobytes())
        return digest.hexdigest()

    def save(self) -> None:
        self.path.write_bytes(pickle.dumps(self.known))
        self.enrolled_path.write_bytes(pickle.dumps(self.enrolled))


# --- runs ----------------------------------------------------------------------------------------------


def enrolment(
    clips: list[Clip], speaker: str, duration: float, offset: int, excluded: str
) -> list[tuple[str, Mask]] | None:
    """The k-th ``duration`` seconds of ``speaker``'s solo speech over their clips other than ``excluded``."""
    mine = [(c.clip_id, c.solo[speaker]) for c in clips if speaker in c.solo and c.clip_id != excluded]
    total = sum(float(m.sum()) * GRID for _, m in mine)
    if total < (offset + 1) * duration - 1e-9:
        return None
    parts, skip, wanted = [], offset * duration, duration
    for clip_id, mask in mine:
        have = float(mask.sum()) * GRID
        if skip >= have:
            skip -= have
            continue
        take = min(wanted, have - skip)
        chosen = piece(mask, skip, take)
        if chosen is not None and chosen.any():
            parts.append((clip_id, chosen))
        wanted -= take
        skip = 0.0
        if wanted <= 1e-9:
            break
    return parts


def collect_runs(clips: list[Clip], clusters: dict[str, dict[str, list[Cluster]]], embeddings: Embeddings) -> list[Run]:
    runs: list[Run] = []
    started = time.monotonic()
    calibration = [c for c in clips if c.group == "calibration"]
    refused: dict[float, set[str]] = defaultdict(set)
    for clip in clips:
        # A calibration clip's registry holds calibration speakers only: voiceprints made from test speech
        # would let the test split into the choices. A test clip is scored against everyone (reported only).
        pool = clips if clip.group == "test" else calibration
        speakers = sorted({s for c in pool for s in c.solo})
        for duration in DURATIONS:
            for offset in range(OFFSETS):
                for mode in MODES:
                    people: list[str] = []
                    vectors: list[NDArray[np.float32]] = []
                    enrolled: list[float] = []
                    removed = np.zeros(next(iter(clip.solo.values())).size, dtype=bool)
                    for speaker in speakers:
                        from_this_clip = mode == "within" and speaker in clip.solo
                        if from_this_clip:
                            chosen = piece(clip.solo[speaker], offset * duration, duration)
                            parts = None if chosen is None else [(clip.clip_id, chosen)]
                        else:
                            parts = enrolment(pool, speaker, duration, offset, clip.clip_id)
                        if parts is None:
                            continue
                        voiceprint = embeddings.voiceprint(parts)
                        if isinstance(voiceprint, str):
                            where = "+".join(dict.fromkeys(c for c, _ in parts))
                            refused[duration].add(f"{speaker} ({where}): {voiceprint}")
                            continue
                        people.append(speaker)
                        vectors.append(voiceprint[0])
                        enrolled.append(voiceprint[1])
                        if from_this_clip:
                            # Only speech a voiceprint was made from leaves the clusters: a refused
                            # enrolment leaves no voiceprint, so that speaker is a stranger here, heard whole.
                            removed |= parts[0][1]
                    if mode == "within" and not removed.any():
                        continue
                    if mode == "cross" and not people:
                        continue  # a clip whose speakers nobody enrolled still tests false accepts: kept
                    for source, by_clip in clusters.items():
                        if source == "local-own" and mode == "within":
                            continue  # the diarizer's embedding heard the enrolment speech too
                        runs += _runs_of(
                            clip,
                            source,
                            mode,
                            duration,
                            by_clip[clip.clip_id],
                            people,
                            vectors,
                            np.array(enrolled),
                            removed if mode == "within" else None,
                            embeddings,
                        )
        print(f"  {clip.clip_id}: {len(runs)} runs, {time.monotonic() - started:.0f} s", flush=True)
    embeddings.save()
    print("enrolments enroll refuses, by duration (no voiceprint for them; their clusters count as unenrolled):")
    for duration in DURATIONS:
        print(f"  {duration:g} s: {len(refused[duration])}")
        for reason in sorted(refused[duration]):
            print(f"    {reason}")
    return runs


def _runs_of(
    clip: Clip,
    source: str,
    mode: str,
    duration: float,
    clusters: list[Cluster],
    people: list[str],
    vectors: list[NDArray[np.float32]],
    enrolled: NDArray[np.float64],
    removed: Mask | None,
    embeddings: Embeddings,
) -> list[Run]:
    rows, truths, speech = [], [], []
    for cluster in clusters:
        frames = representative(cluster, removed)
        if cluster.own is not None:
            vector: NDArray[np.float32] | None = cluster.own / np.linalg.norm(cluster.own)
        else:
            vector = embeddings.of([(clip.clip_id, frames)]) if frames.any() else None
        rows.append(vector)
        truths.append(cluster.truth)
        kept = cluster.turns & ~removed if removed is not None else cluster.turns
        speech.append(float(kept.sum()) * GRID)
    scores = np.full((len(rows), len(people)), -np.inf)
    references = np.array(vectors, dtype=np.float64).reshape(len(people), -1)
    for i, row in enumerate(rows):
        if row is not None:
            scores[i] = references @ row.astype(np.float64)
    base = Run(clip.group, source, mode, duration, scores, truths, np.array(speech), people, enrolled=enrolled)
    out = [base]
    for speaker in sorted(set(truths) & set(people)):
        keep = [j for j, p in enumerate(people) if p != speaker]
        out.append(
            Run(
                clip.group,
                source,
                mode,
                duration,
                scores[:, keep],
                truths,
                base.speech,
                [people[j] for j in keep],
                left_out=speaker,
                enrolled=enrolled[keep],
            )
        )
    return out


# --- figures ---------------------------------------------------------------------------------------


def tally(
    runs: Iterable[Run],
    threshold: float,
    margin: float,
    gap: float | None = DEFAULT_SPLIT_VOICE_GAP,
    short_threshold: float | None = None,
) -> Tally:
    """What identification decides on ``runs``; short enrolments held to ``short_threshold`` when given."""
    out = Tally()
    for run in runs:
        bars = run.bars(threshold, short_threshold)
        decisions = identify_clusters(run.scores, threshold=bars, margin=margin, split_voice_gap=gap).decisions
        for d, truth, seconds in zip(decisions, run.truths, run.speech, strict=True):
            named = None if d.reference is None else run.people[d.reference]
            if truth not in run.people:
                if run.left_out is not None and truth != run.left_out:
                    continue  # counted in the full run already
                out.unenrolled += 1
                out.false_accepts += named is not None
                if named is not None:
                    out.misses.append(
                        f"false accept {run.source}/{run.mode} {run.duration:g}s: {truth} named {named} ({d.score:.2f})"
                    )
                continue
            if run.left_out is not None:
                continue  # enrolled clusters are scored in the full run
            right, wrong = named == truth, named is not None and named != truth
            out.right += right
            out.wrong += wrong
            out.unnamed += named is None
            if seconds >= LONG_CLUSTER:
                out.long_right += right
                out.long_wrong += wrong
                out.long_unnamed += named is None
                if not right:
                    best = "none" if d.score is None else f"{d.score:.2f}"
                    what = f"named {named}" if wrong else f"unnamed (best {best})"
                    out.misses.append(f"{run.source}/{run.mode} {run.duration:g}s: {truth} ({seconds:.1f} s) {what}")
    return out


def trial_scores(runs: Iterable[Run]) -> tuple[NDArray[np.float64], NDArray[np.float64], list[int]]:
    """Every cluster's scores against its own person's voiceprint and against other people's, and how many
    of the latter each cluster met (open-set reruns left out: they repeat clusters already scored)."""
    same: list[float] = []
    other: list[float] = []
    rivals: list[int] = []
    for run in (r for r in runs if r.left_out is None):
        for row, truth in zip(run.scores, run.truths, strict=True):
            finite = [(score, person) for score, person in zip(row, run.people, strict=True) if np.isfinite(score)]
            same += [score for score, person in finite if person == truth]
            others = [score for score, person in finite if person != truth]
            other += others
            rivals.append(len(others))
    return np.array(same), np.array(other), rivals


@dataclass(frozen=True)
class ImpostorFit:
    """A normal fit of impostor scores (a cluster against another person's voiceprint), and K: how many
    other people's voiceprints a cluster met (the median)."""

    count: int
    mean: float
    sd: float
    highest: float
    rivals: int

    @classmethod
    def of(cls, runs: Iterable[Run]) -> ImpostorFit | None:
        """The fit of ``runs``' impostor scores (None with fewer than ``MIN_IMPOSTOR_SCORES``)."""
        _, scores, rivals = trial_scores(runs)
        if scores.size < MIN_IMPOSTOR_SCORES:
            return None
        mean, sd = float(scores.mean()), float(scores.std(ddof=1))
        return cls(int(scores.size), mean, sd, float(scores.max()), int(np.median(rivals)))

    def false_accepts(self, bar: float, margin: float) -> float:
        """The share of unenrolled clusters named: a cluster alone in the running is named a stranger when
        one of its K impostor scores reaches the bar plus the margin, 1 - Phi((bar + margin - mean) / sd) ** K.

        A rough model: it ignores that one cluster's scores are correlated, that rival clusters shrink a
        margin, and the split-voice rule's second route to a name.
        """
        from scipy.stats import norm

        return 1.0 - float(norm.cdf((bar + margin - self.mean) / self.sd)) ** self.rivals


def impostor_fits(runs: list[Run]) -> dict[tuple[str, float], ImpostorFit]:
    """The calibration group's impostor fits per cluster source and enrolment duration (both modes pooled)."""
    tuned = [r for r in runs if r.group == "calibration"]
    fits = {}
    for source, duration in itertools.product(SOURCES, DURATIONS):
        fit = ImpostorFit.of(r for r in tuned if (r.source, r.duration) == (source, duration))
        if fit is not None:
            fits[source, duration] = fit
    return fits


def eer(runs: Iterable[Run]) -> tuple[float, int, int]:
    a, b, _ = trial_scores(runs)
    if not a.size or not b.size:
        return float("nan"), a.size, b.size
    grid = np.sort(np.concatenate((a, b)))
    miss = np.searchsorted(np.sort(a), grid, side="left") / a.size
    accept = 1 - np.searchsorted(np.sort(b), grid, side="left") / b.size
    k = int(np.argmin(np.abs(miss - accept)))
    return float((miss[k] + accept[k]) / 2), a.size, b.size


def pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} % ({part}/{whole})" if whole else "—"


def choose(runs: list[Run]) -> tuple[float, float]:
    """Threshold and margin from the calibration group (see the module docstring for the rule).

    Feasible: false accepts <= 1 % at every enrolment duration. Among the feasible points with
    the highest share of >= 10 s clusters named right from 10 s enrolments, the margin with the
    most such thresholds (the widest plateau; ties: the larger margin) and the middle of its
    thresholds (the upper one of two middles: false accepts cost more than misses).
    """
    tuned = [r for r in runs if r.group == "calibration" and r.source in ("oracle", "local")]
    feasible: list[tuple[float, float, float]] = []
    print("\ncalibration grid (oracle + local, both modes): threshold margin | right>=10s@10s | FA per duration")
    for margin in MARGINS:
        for threshold in THRESHOLDS.tolist():
            ten = tally([r for r in tuned if r.duration == TARGET_ENROLMENT], threshold, margin, None)
            fas = [tally([r for r in tuned if r.duration == d], threshold, margin, None) for d in DURATIONS]
            worst = max(t.false_accepts / t.unenrolled for t in fas if t.unenrolled)
            share = ten.long_right / ten.long if ten.long else 0.0
            counts = " ".join(f"{t.false_accepts}/{t.unenrolled}" for t in fas)
            print(f"  {threshold:.3f} {margin:.2f} | {share:.3f} | {counts}", flush=True)
            if worst <= MAX_FALSE_ACCEPTS:
                feasible.append((share, margin, threshold))
    if not feasible:
        raise SystemExit("no threshold keeps false accepts at or below 1 %")
    top = max(share for share, _, _ in feasible)
    plateau: dict[float, list[float]] = defaultdict(list)
    for share, margin, threshold in feasible:
        if share >= top - 1e-12:
            plateau[margin].append(threshold)
    margin = max(plateau, key=lambda m: (len(plateau[m]), m))
    thresholds = sorted(plateau[margin])
    return thresholds[len(thresholds) // 2], margin


def choose_gap(runs: list[Run], threshold: float, margin: float) -> float | None:
    """The split-voice gap at the chosen threshold and margin, from the calibration group.

    Over every cluster source, pooled (the diarizer's, ``local`` and ``local-own``: splitting a voice in
    two is what diarizers do; and the oracle's, which never does), and both modes: no more false
    accepts than strictly exclusive naming at any enrolment duration; among those, the highest
    share of >= 10 s clusters named right from 10 s enrolments, and the middle of that plateau
    (the upper one of two middles).
    """
    tuned = [r for r in runs if r.group == "calibration"]
    print("\nsplit-voice gap (every source, both modes): gap | right>=10s@10s | FA per duration")
    exclusive = [tally([r for r in tuned if r.duration == d], threshold, margin, None) for d in DURATIONS]
    rows: list[tuple[float, float | None]] = []
    for gap in GAPS:
        ten = tally([r for r in tuned if r.duration == TARGET_ENROLMENT], threshold, margin, gap)
        fas = [tally([r for r in tuned if r.duration == d], threshold, margin, gap) for d in DURATIONS]
        share = ten.long_right / ten.long if ten.long else 0.0
        counts = " ".join(f"{t.false_accepts}/{t.unenrolled}" for t in fas)
        print(f"  {gap} | {share:.3f} ({ten.long_right}/{ten.long}) | {counts}", flush=True)
        if all(t.false_accepts <= e.false_accepts for t, e in zip(fas, exclusive, strict=True)):
            rows.append((share, gap))
    top = max(share for share, _ in rows)
    plateau = [gap for share, gap in rows if share >= top - 1e-12]
    if None in plateau:
        return None  # sharing a person between clusters gains nothing here
    return sorted(g for g in plateau if g is not None)[len(plateau) // 2]


def speech_limit(runs: list[Run], duration: float = TARGET_ENROLMENT) -> float:
    """The short-enrolment limit in seconds of speech heard (what ``enroll`` records and identification
    compares): the least speech heard in the calibration group's ``duration`` s enrolments, rounded down to
    half a second, so that every one of them counts as long. Reference speech holds pauses and stretches the
    detector does not hear, so this is less than ``duration``.

    It must also tell the durations apart: a shorter enrolment holding as much speech would count as long.
    """
    heard: dict[float, list[float]] = defaultdict(list)
    for run in runs:
        if run.group == "calibration" and run.left_out is None and run.enrolled is not None:
            heard[run.duration] += run.enrolled.tolist()
    print("\nspeech heard in calibration enrolments, by enrolment duration (least - most):")
    for d in DURATIONS:
        if heard[d]:
            print(f"  {d:g} s: {min(heard[d]):.2f} - {max(heard[d]):.2f} s")
    if not heard[duration]:
        raise SystemExit(f"no calibration enrolment of {duration:g} s")
    limit = float(np.floor(min(heard[duration]) * 2) / 2)
    shorter = [seconds for d, values in heard.items() if d < duration for seconds in values]
    if shorter and max(shorter) >= limit:
        raise SystemExit(
            f"a shorter enrolment holds {max(shorter):.2f} s of speech and some {duration:g} s ones {limit:g} s: "
            "no limit in speech heard tells them apart"
        )
    return limit


def choose_short_threshold(
    runs: list[Run],
    fits: dict[tuple[str, float], ImpostorFit],
    threshold: float,
    margin: float,
    gap: float | None,
    limit: float = TARGET_ENROLMENT,
) -> float:
    """The threshold for short voiceprints (enrolled from under ``limit`` seconds), from the calibration
    group (its impostor ``fits``: :func:`impostor_fits`).

    A short enrolment is a noisy reference, so strangers score higher against it. Over every cluster
    source and both modes, with enrolments shorter than ``limit``: the lowest threshold, from the chosen
    one up, at which no source has more than 1 % false accepts, neither counted nor predicted by the
    impostor fit at any such duration (the target, met by each source on its own rather than pooled, so
    a source with few trials is not outvoted).
    """
    short = [r for r in runs if r.group == "calibration" and r.duration < limit]
    sources = sorted({r.source for r in short})
    fits = {key: fit for key, fit in fits.items() if key[1] < limit}
    print(
        f"\nthreshold for enrolments under {limit:g} s (every source, both modes): "
        "threshold | per source: named right, false accepts counted, worst predicted"
    )
    for candidate in (t for t in SHORT_THRESHOLDS.tolist() if t >= threshold - 1e-9):
        tallies = {src: tally([r for r in short if r.source == src], candidate, margin, gap) for src in sources}
        predicted = {
            src: max((fit.false_accepts(candidate, margin) for (s, _), fit in fits.items() if s == src), default=0.0)
            for src in sources
        }
        cells = "  ".join(
            f"{src} {t.right}/{t.enrolled} {t.false_accepts}/{t.unenrolled} {100 * predicted[src]:.2f} %"
            for src, t in tallies.items()
        )
        print(f"  {candidate:.3f} | {cells}", flush=True)
        counted = all(t.false_accepts <= MAX_FALSE_ACCEPTS * t.unenrolled for t in tallies.values())
        if counted and max(predicted.values(), default=0.0) <= MAX_FALSE_ACCEPTS:
            return float(candidate)
    raise SystemExit(f"no threshold keeps false accepts from enrolments under {limit:g} s at or below 1 %")


def report(runs: list[Run], threshold: float, margin: float, gap: float | None, short_threshold: float) -> None:
    print(
        f"\nfigures at threshold {threshold:.3f} (enrolments of under {SHORT_ENROLMENT_SECONDS:g} s of speech heard: "
        f"{short_threshold:.3f}), margin {margin:.2f}, split-voice gap {gap}"
    )
    print(
        "| group | clusters | mode | enrolment | EER | named right | wrong | unnamed | right, >= 10 s clusters "
        "| false accepts |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    misses: list[str] = []
    for group in GROUPS:
        for source in SOURCES:
            for mode in MODES:
                for duration in DURATIONS:
                    chosen = [
                        r for r in runs if (r.group, r.source, r.mode, r.duration) == (group, source, mode, duration)
                    ]
                    if not chosen:
                        continue
                    t = tally(chosen, threshold, margin, gap, short_threshold)
                    rate, _, _ = eer(chosen)
                    print(
                        f"| {group} | {source} | {mode} | {duration:g} s | {100 * rate:.1f} % | "
                        f"{pct(t.right, t.enrolled)} | {pct(t.wrong, t.enrolled)} | {pct(t.unnamed, t.enrolled)} | "
                        f"{pct(t.long_right, t.long)} | {pct(t.false_accepts, t.unenrolled)} |"
                    )
                    misses += [f"{group} {m}" for m in t.misses]
    print("\nmisses (>= 10 s clusters not named right; false accepts):")
    for line in misses:
        print("  " + line)


def impostor_tails(runs: list[Run], threshold: float, margin: float, gap: float | None, short_threshold: float) -> None:
    """False accepts as the impostor fit predicts them (:class:`ImpostorFit`), beside the counts observed.

    A few dozen unenrolled clusters with no false accept cannot show a rate of 1 % (zero of 31 is
    consistent with up to 9 %), but every cluster is scored against every voiceprint, so the impostor
    scores are many more. Per split group, cluster source and enrolment duration, both modes pooled.
    """
    print(
        "\nimpostor scores and the false accepts they predict at the defaults (both modes):\n"
        "| group | clusters | enrolment | impostor scores | mean | sd | max | voiceprints | predicted | observed |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for group, source, duration in itertools.product(GROUPS, SOURCES, DURATIONS):
        chosen = [r for r in runs if (r.group, r.source, r.duration) == (group, source, duration)]
        fit = ImpostorFit.of(chosen)
        if fit is None:
            continue
        bars = np.concatenate([r.bars(threshold, short_threshold) for r in chosen])
        predicted = fit.false_accepts(float(np.median(bars)), margin)
        observed = tally(chosen, threshold, margin, gap, short_threshold)
        print(
            f"| {group} | {source} | {duration:g} s | {fit.count} | {fit.mean:.3f} | {fit.sd:.3f} | "
            f"{fit.highest:.3f} | {fit.rivals} | {100 * predicted:.2f} % | "
            f"{pct(observed.false_accepts, observed.unenrolled)} |"
        )


# --- two voices in one enrolment clip ------------------------------------------------------------------


def two_voice_check(clips: list[Clip], embeddings: Embeddings) -> None:
    """Halves similarity of one-voice and two-voice clips, and how a refusal threshold sorts them."""
    print(
        "\ntwo-voice check: halves cosine (one-voice clips: a speaker's solo speech; two-voice: two speakers of "
        "one meeting joined)"
    )
    rows: dict[tuple[str, str, float], list[float]] = defaultdict(list)
    for clip in clips:
        speakers = sorted(s for s, m in clip.solo.items() if m.sum() * GRID >= 4.0)
        for length in (6.0, 10.0):
            for speaker in speakers:
                for offset in range(3):
                    whole = piece(clip.solo[speaker], offset * length, length)
                    if whole is None:
                        continue
                    first = piece(whole, 0, length / 2)
                    second = piece(whole, length / 2, length / 2)
                    assert first is not None
                    assert second is not None
                    rows[(clip.group, "one voice", length)].append(_halves(clip, embeddings, [first], [second]))
            for a in speakers:
                for b in speakers:
                    if a == b:
                        continue
                    for share, kind in ((0.5, "two voices 50/50"), (0.7, "two voices 70/30")):
                        own, other = (
                            piece(clip.solo[a], 0, share * length),
                            piece(clip.solo[b], 0, (1 - share) * length),
                        )
                        if own is None or other is None:
                            continue
                        # The clip as heard: A's speech then B's; its halves by time.
                        split = piece(own, 0, length / 2)
                        rest = own & ~split if split is not None else None
                        if split is None or rest is None:
                            continue
                        rows[(clip.group, kind, length)].append(_halves(clip, embeddings, [split], [rest, other]))
    print("| group | clip | length | clips | min | 5th pct | median | max |")
    print("|---|---|---|---|---|---|---|---|")
    for (group, kind, length), values in sorted(rows.items()):
        v = np.array(values)
        print(
            f"| {group} | {kind} | {length:g} s | {v.size} | {v.min():.2f} | {np.percentile(v, 5):.2f} | "
            f"{np.median(v):.2f} | {v.max():.2f} |"
        )
    for limit in (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5):
        parts = []
        for (group, kind, length), values in sorted(rows.items()):
            v = np.array(values)
            parts.append(f"{group}/{kind}/{length:g}s refused {pct(int((v < limit).sum()), v.size)}")
        print(f"  refuse below {limit:.2f}: " + "; ".join(parts))


def _halves(clip: Clip, embeddings: Embeddings, first: list[Mask], second: list[Mask]) -> float:
    a = embeddings.of([(clip.clip_id, m) for m in first])
    b = embeddings.of([(clip.clip_id, m) for m in second])
    assert a is not None
    assert b is not None
    return float(a.astype(np.float64) @ b.astype(np.float64))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(".eval-data"))
    parser.add_argument("--cache", type=Path, default=Path("/tmp/diarflow-calibrate-identification"))
    parser.add_argument("--sources", default=",".join(SOURCES), help="cluster sources, comma-separated")
    parser.add_argument("--threshold", type=float, help="report at this threshold instead of the chosen one")
    parser.add_argument("--margin", type=float, help="report at this margin instead of the chosen one")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    clips = load_clips(args.data)
    speakers = {s for c in clips for s in c.solo}
    print(f"{len(clips)} clips, {len(speakers)} speakers")
    clusters = diarized(clips, args.data, args.cache, tuple(args.sources.split(",")))
    embeddings = Embeddings(clips, args.cache)
    runs = collect_runs(clips, clusters, embeddings)
    threshold, margin = choose(runs)
    print(f"\nchosen on calibration: threshold {threshold:.3f}, margin {margin:.2f}")
    threshold, margin = args.threshold or threshold, args.margin or margin
    gap = choose_gap(runs, threshold, margin)
    print(f"split-voice gap chosen on calibration: {gap}")
    fits = impostor_fits(runs)
    heard = speech_limit(runs)
    print(f"short enrolments: under {TARGET_ENROLMENT:g} s, i.e. under {heard:g} s of speech heard")
    if heard != SHORT_ENROLMENT_SECONDS:
        print(
            f"  identification holds voiceprints of under {SHORT_ENROLMENT_SECONDS:g} s of speech heard to the short "
            f"threshold (SHORT_ENROLMENT_SECONDS): the figures below use that, not {heard:g} s"
        )
    short = choose_short_threshold(runs, fits, threshold, margin, gap)
    print(f"threshold for short enrolments chosen on calibration: {short:.3f}")
    report(runs, threshold, margin, gap, short)
    impostor_tails(runs, threshold, margin, gap, short)
    two_voice_check(clips, embeddings)
    embeddings.save()


if __name__ == "__main__":
    main()
