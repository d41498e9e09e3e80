"""Unnamed voices that recur across a podcast's episodes (``diarflow speakers recurring``, docs/corrections.md).

A podcast's episodes are those whose last local run was given its id
(``runs/<id>/request.json``). Their audits' clusters that nobody named — no
voiceprint matched, no correction renamed — and that carry a CAM++ embedding
(identification keeps it) are grouped by voice (:mod:`diarflow.domain.recurring`).
Naming a group enrols its longest cluster (as ``speakers rename --enroll`` does,
recorded as that correction) and runs the group's other episodes again from
identification, so the new voiceprint names them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from diarflow.adapters.stores import ObjectStore, get_json
from diarflow.contracts import AuditArtifact, PipelineResult, keys, parse_contract, utc_now
from diarflow.contracts.corrections import parse_corrections
from diarflow.contracts.run_record import RunRecord
from diarflow.domain.recurring import MIN_GROUPED_SECONDS, group_voices
from diarflow.errors import ArtifactNotFound, InvalidInput
from diarflow.orchestration.local_runner import StepObserver
from diarflow.orchestration.workspace import Workspace

RUNS_PREFIX = "runs/"
RUN_RECORD = "/request.json"
NAME_FIELD = "--name"
"""How errors of the rename that naming a group records name it (``--name[0].enroll``)."""


@dataclass(frozen=True)
class UnnamedVoice:
    """One unnamed cluster of one episode."""

    episode_id: str
    speaker_key: str
    label: str
    seconds: float
    clip_key: str | None
    embedding: list[float]


@dataclass(frozen=True)
class VoiceGroup:
    """Unnamed clusters of several episodes that sound like one person; ``number`` is how the user names it."""

    number: int
    voices: list[UnnamedVoice]
    """Longest first: the first is the group's best clip, and the one enrolled when the group is named."""

    @property
    def episodes(self) -> list[str]:
        return sorted({voice.episode_id for voice in self.voices})

    @property
    def seconds(self) -> float:
        return sum(voice.seconds for voice in self.voices)

    @property
    def best(self) -> UnnamedVoice:
        return self.voices[0]


@dataclass(frozen=True)
class RecurringVoices:
    groups: list[VoiceGroup]
    episodes: list[str]
    """Every episode of the podcast that was looked at."""
    not_comparable: list[str]
    """Episodes with unnamed clusters but no embeddings (identified before embeddings were kept, or against an
    empty registry by a diarizer that gives none): enrolling one voice and running them again fixes it."""


def podcast_episodes(store: ObjectStore, podcast_id: str) -> list[str]:
    """Episodes whose last local run was given ``podcast_id``, by id."""
    found = []
    for key in store.list(RUNS_PREFIX):
        if not key.endswith(RUN_RECORD):
            continue
        record = parse_contract(RunRecord, get_json(store, key), where=key)
        if record.request.podcast_id == podcast_id:
            found.append(record.request.episode_id)
    return sorted(found)


def recurring_voices(store: ObjectStore, podcast_id: str, threshold: float) -> RecurringVoices:
    """The podcast's unnamed voices heard in at least two episodes, most episodes (then most speech) first."""
    episodes = podcast_episodes(store, podcast_id)
    voices: list[UnnamedVoice] = []
    not_comparable = []
    for episode_id in episodes:
        unnamed, missing_embedding = _unnamed_voices(store, episode_id)
        voices += unnamed
        if missing_embedding:
            not_comparable.append(episode_id)
    if not voices:
        return RecurringVoices([], episodes, not_comparable)
    grouped = group_voices(
        np.array([voice.embedding for voice in voices]), [voice.episode_id for voice in voices], threshold
    )
    recurring = [[voices[i] for i in group] for group in grouped if len({voices[i].episode_id for i in group}) > 1]
    recurring.sort(key=lambda group: (-len(group), -sum(v.seconds for v in group)))
    groups = [
        VoiceGroup(number, sorted(group, key=lambda v: -v.seconds)) for number, group in enumerate(recurring, start=1)
    ]
    return RecurringVoices(groups, episodes, not_comparable)


def _unnamed_voices(store: ObjectStore, episode_id: str) -> tuple[list[UnnamedVoice], bool]:
    """The episode's unnamed clusters with enough speech and an embedding; True when some lacked the embedding."""
    key = keys.audit_key(episode_id)
    try:
        audit = parse_contract(AuditArtifact, get_json(store, key), where=key)
    except ArtifactNotFound:
        return [], False
    unnamed = [c for c in audit.clusters if c.mapped_to is None and c.duration >= MIN_GROUPED_SECONDS]
    voices = [
        UnnamedVoice(
            episode_id,
            cluster.speaker_key,
            cluster.label,
            cluster.duration,
            cluster.representative.clip_key if cluster.representative else None,
            cluster.embedding,
        )
        for cluster in unnamed
        if cluster.embedding is not None
    ]
    return voices, len(voices) < len(unnamed)


def name_group(
    ws: Workspace,
    podcast_id: str,
    number: int,
    name: str,
    *,
    threshold: float,
    author: str,
    observer: StepObserver | None = None,
) -> list[PipelineResult]:
    """Enrol group ``number`` as ``name`` and run its episodes again; one result per episode, the enrolled first.

    The enrolment is a ``rename --enroll`` correction of the group's longest cluster, so its episode
    names it and the registry entry records where it came from; the group's other episodes are named
    by the new voiceprint when they match it, like any enrolled voice.
    """
    from diarflow.orchestration.local import record_corrections, rerun_episode

    found = recurring_voices(ws.store, podcast_id, threshold)
    if not 1 <= number <= len(found.groups):
        listed = f"1 to {len(found.groups)}" if found.groups else "none: nothing recurs"
        raise InvalidInput("GROUP", f"no group {number} (groups: {listed}); list them with `speakers recurring`")
    group = found.groups[number - 1]
    best = group.best
    item = {"op": "rename", "speaker": best.speaker_key, "name": name, "enroll": True}
    rename = parse_corrections([{**item, "author": author, "created_at": utc_now()}], where=NAME_FIELD)
    results = [record_corrections(ws, best.episode_id, rename, where=NAME_FIELD, observer=observer)]
    for episode_id in _others(group.episodes, best.episode_id):
        results.append(rerun_episode(ws, episode_id, observer=observer))
    return results


def _others(episodes: Sequence[str], enrolled: str) -> list[str]:
    return [episode for episode in episodes if episode != enrolled]
