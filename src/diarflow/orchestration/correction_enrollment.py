"""Enrolling the voice a correction named (``diarflow speakers rename --enroll``, docs/corrections.md).

A rename that asks for it enrols the speaker's best speech — the representative
turns identification embeds (:func:`~diarflow.domain.identification.representative_segments`),
after every correction — as a voiceprint of the episode's podcast, through the
checks ``voiceprints enroll`` applies (speech heard, one voice, pyannoteAI's 30 s).
The next episode then names the voice by itself. The entry's source says which
episode, speaker, correction and author it came from; the rename records the
voiceprint id, which the audit shows in the cluster's ``namedBy``.

Enrolment needs the episode's audio and podcast id: those of its last local run
(``runs/<id>/request.json``). It happens before the corrections are recorded, so a
refused enrolment records nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from diarflow.adapters.registry import VoiceprintRegistry
from diarflow.contracts import DiarizeRequested, VoiceprintSource, keys
from diarflow.contracts.corrections import Rename
from diarflow.domain.corrections import CorrectedTurns
from diarflow.domain.identification import speaker_segments
from diarflow.errors import DiarflowError, InvalidCorrection, InvalidInput
from diarflow.orchestration.corrections import CorrectionT
from diarflow.orchestration.enrollment import ClipAdvice, Enrolled, enroll_clip, shown_source, voice_identity
from diarflow.orchestration.workspace import JSONDocument, Workspace

ENROL_ADVICE = ClipAdvice(
    no_speech="fix the speaker's turns first (`diarflow speakers assign`), or enrol a clip of them with "
    "`diarflow voiceprints enroll`",
    two_voices="the speaker's turns mix voices: fix them first (`diarflow speakers assign`/`merge`), or enrol a "
    "clip where only they speak with `diarflow voiceprints enroll --start --end`",
    too_long_for_pyannote="enrol a shorter clip with `diarflow voiceprints enroll --start --end`",
)


def enrol_renamed_speakers(
    ws: Workspace,
    request: DiarizeRequested,
    corrected: CorrectedTurns,
    document: JSONDocument,
    corrections: Sequence[CorrectionT],
    *,
    first_new: int,
    field_of: Callable[[int], str],
) -> list[CorrectionT]:
    """Enrol each new rename (index ``first_new`` on) that asks for it; the new corrections, voiceprint ids set.

    ``corrected``: every correction applied. All enrolments or none are kept: a later refusal removes
    the voiceprints stored before it, so the user can fix the file and apply it again.
    """
    added = list(corrections[first_new:])
    wanted = [
        (index, c) for index, c in enumerate(corrections) if index >= first_new and isinstance(c, Rename) and c.enroll
    ]
    if not wanted:
        return added
    registry = VoiceprintRegistry(ws.store)
    stored: list[Enrolled] = []
    try:
        for index, rename in wanted:
            where = f"{field_of(index)}.enroll"
            enrolled = _enrol_one(ws, registry, request, corrected, document, rename, index, where)
            stored += enrolled
            added[index - first_new] = rename.model_copy(update={"voiceprint_id": enrolled[0].entry.voiceprint_id})
    except DiarflowError:
        for done in stored:
            registry.remove(done.entry.podcast_id, done.entry.voiceprint_id)
        raise
    return added


def _enrol_one(
    ws: Workspace,
    registry: VoiceprintRegistry,
    request: DiarizeRequested,
    corrected: CorrectedTurns,
    document: JSONDocument,
    rename: Rename,
    index: int,
    where: str,
) -> list[Enrolled]:
    audio, podcast_id = _episode_audio(request, where)
    identity = voice_identity(ws.settings, podcast_id=podcast_id, name=rename.name, voiceprint_id=rename.voiceprint_id)
    speaker = _speaker_named_by(corrected, index, where)
    spans = speaker_segments(corrected.exclusive or corrected.segments, speaker)
    if not len(spans):
        raise InvalidCorrection(where, f"{speaker} has no turn of its own to enrol: give it some speech first")
    clip = _read_speech(ws, request.episode_id, audio, spans, speaker, document)
    source = VoiceprintSource(
        audio=shown_source(audio),
        episode_id=request.episode_id,
        speaker_key=speaker,
        correction=index,
        author=rename.author,
        segments=[(round(a, 3), round(b, 3)) for a, b in spans.tolist()],
    )
    return enroll_clip(registry, ws.settings, identity, clip, source, replace(ENROL_ADVICE, field=where))


def _episode_audio(request: DiarizeRequested, where: str) -> tuple[str, str]:
    """The audio and podcast id the episode's last run was given; refused, saying how to give them, when absent."""
    audio, podcast_id = request.audio_url, request.podcast_id
    if audio and podcast_id:
        return audio, podcast_id
    missing = [what for what, value in (("audio", audio), ("podcast id", podcast_id)) if not value]
    episode = request.episode_id
    why = " (an audio URL that carries credentials, such as a pre-signed one, is never kept)" if not audio else ""
    raise InvalidInput(
        where,
        f"enrolling needs the episode's audio and podcast id, and the last run of {episode} "
        f"({keys.run_request_key(episode)}) had no {' and no '.join(missing)}{why}: run it once with "
        f"`diarflow run --episode-id {episode} --audio FILE --podcast-id PODCAST`, then correct again",
    )


def _speaker_named_by(corrected: CorrectedTurns, index: int, where: str) -> str:
    """The speaker that, after every correction, still carries the name correction ``index`` gave."""
    for speaker, origin in corrected.names.items():
        if origin.index == index:
            return speaker
    raise InvalidCorrection(
        where, "a later correction renamed or merged this speaker away: there is no speaker left to enrol"
    )


def _read_speech(
    ws: Workspace, episode_id: str, audio: str, spans: NDArray[np.float64], speaker: str, document: JSONDocument
) -> NDArray[np.float32]:
    """The spans' audio, joined, heard on the speaker's own track when the episode has one."""
    from diarflow.adapters.diarizers.local.audio import local_audio_path
    from diarflow.adapters.speaker_embedding import read_segments
    from diarflow.adapters.url_policy import UrlPolicy, check_fetch_target
    from diarflow.orchestration.identification import listening_tracks
    from diarflow.orchestration.stages import read_speaker_tracks

    tracks = read_speaker_tracks(keys.diarization_key(episode_id), document)
    policy = UrlPolicy.from_settings(ws.settings, local_run=True)
    check_fetch_target(audio, policy, field="audio")
    with local_audio_path(audio, policy) as path:
        return read_segments(path, [spans], tracks=listening_tracks([speaker], tracks, path))[0]
