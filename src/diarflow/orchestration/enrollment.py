"""Enrolling a voice: from a clip of one person to registry entries (``diarflow voiceprints enroll``).

Checks come first and fail with a message that says what to change:
the ids and the name before any I/O, then the clip: speech must be heard
(silero-vad), its two halves must sound like one person (CAM++), and for a
pyannoteAI voiceprint it must be at most 30 s (pyannoteAI's limit; we refuse
rather than trim, because which 30 s to keep is the user's call).

Enrolment writes one ``campplus-cn-en-common`` entry (matched locally) and,
with ``PYANNOTEAI_API_KEY`` set, one ``pyannoteai-precision-2`` entry (sent
to ``/v1/identify``); both or neither are stored.

Migration (``diarflow voiceprints migrate``) re-embeds each entry of the
previous local model (``resemblyzer-ge2e``) from its recorded source clip, in
place (same id, so audits keep naming it), when that audio can be found;
the others are listed for re-enrolment.
"""

from __future__ import annotations

import secrets
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

import numpy as np
from numpy.typing import NDArray

from diarflow.adapters.audio_format import SAMPLE_RATE
from diarflow.adapters.registry import VoiceprintRegistry
from diarflow.adapters.tempfiles import temporary_directory
from diarflow.config import Settings
from diarflow.contracts import (
    LOCAL_VOICEPRINT_MODEL,
    PYANNOTE_VOICEPRINT_MODEL,
    VoiceprintEntry,
    VoiceprintSource,
    keys,
    utc_now,
    validate_id,
)
from diarflow.contracts.voiceprints import GE2E_VOICEPRINT_MODEL, check_display_name
from diarflow.domain.json_values import TIME_RANGE, is_time
from diarflow.errors import DiarflowError, InvalidInput, RemoteServiceError

if TYPE_CHECKING:
    from diarflow.adapters.speaker_embedding import VoiceEmbedder

PYANNOTE_VOICEPRINT_SECONDS = 30.0
MAX_ENROL_SECONDS = 300.0
"""A local voiceprint from more than 5 minutes of audio is almost surely not one person: choose a range."""
MIN_SPEECH_SECONDS = 1.0
SAME_SPEAKER_MIN = 0.35
"""Refuse a clip whose halves match below this (CAM++ cosine). On meeting speech the halves of one-voice
clips scored 0.47-0.89, two voices joined 50/50 0.09-0.18, 70/30 0.13-0.56 (docs/identification.md)."""
HALVES_MIN_SECONDS = 4.0
"""Each half needs ~2 s of speech for its embedding to mean anything; shorter clips skip the check."""
PYANNOTE_VOICEPRINT_WAIT = 600.0


@dataclass(frozen=True)
class Enrolled:
    key: str
    entry: VoiceprintEntry


def check_range(start: float | None, end: float | None) -> None:
    """``start``/``end`` make sense (before any I/O): times from 0 to ``MAX_SECONDS``, end after start."""
    for field, value in (("start", start), ("end", end)):
        if value is not None and not is_time(value):  # NaN and infinity too
            raise InvalidInput(field, f"must be {TIME_RANGE}, got {value}")
    if end is not None and end <= (start or 0.0):
        raise InvalidInput("end", f"must be after `start` ({start or 0.0}), got {end}")


def new_voiceprint_id(name: str) -> str:
    """``diane-3fa2c1``: a slug of the name (ASCII) and 6 random hex digits."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = "".join(ch if ch.isalnum() else "-" for ch in ascii_name.lower())
    slug = "-".join(part for part in slug.split("-") if part)[:100] or "voice"
    return f"{slug}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class ClipAdvice:
    """What a refused clip's message tells the user to change (enrolment from a file, or from a correction)."""

    field: str = "audio"
    no_speech: str = "check the file and `start`/`end`"
    two_voices: str = "choose a range where only this person speaks with `start`/`end`"
    too_long_for_pyannote: str = "choose a shorter range with `start`/`end`"


FILE_ADVICE = ClipAdvice()


@dataclass(frozen=True)
class VoiceIdentity:
    """Who is enrolled, checked before any I/O: the podcast, the display name, the entry ids to write."""

    podcast_id: str
    display_name: str
    ids: list[str]
    """The local entry's id, then the pyannoteAI entry's when a key is set."""


def voice_identity(settings: Settings, *, podcast_id: str, name: str, voiceprint_id: str | None) -> VoiceIdentity:
    """Check the ids and the name (:class:`InvalidInput` naming the field): a typo must not cost a model load."""
    validate_id(podcast_id, "podcast_id")
    try:
        display_name = check_display_name(name)
    except ValueError as exc:
        raise InvalidInput("name", str(exc)) from None
    if voiceprint_id is not None:
        base_id = validate_id(voiceprint_id, "voiceprint_id")
    else:
        base_id = new_voiceprint_id(display_name)
    ids = [base_id] + ([f"{base_id[:119]}-pyannote"] if settings.pyannote_api_key is not None else [])
    for vp_id in ids:
        keys.voiceprint_key(podcast_id, vp_id)
    return VoiceIdentity(podcast_id, display_name, ids)


def enroll_voice(
    registry: VoiceprintRegistry,
    settings: Settings,
    *,
    podcast_id: str,
    name: str,
    audio: str,
    start: float | None = None,
    end: float | None = None,
    voiceprint_id: str | None = None,
) -> list[Enrolled]:
    """Check the clip, compute the voiceprints, store them; returns what was stored."""
    from diarflow.adapters.diarizers.local.audio import local_audio_path
    from diarflow.adapters.speaker_embedding import read_segments
    from diarflow.adapters.url_policy import UrlPolicy, check_fetch_target

    identity = voice_identity(settings, podcast_id=podcast_id, name=name, voiceprint_id=voiceprint_id)
    check_range(start, end)
    policy = UrlPolicy.from_settings(settings, local_run=True)
    check_fetch_target(audio, policy, field="audio")
    begin = start or 0.0
    limit = end if end is not None else begin + MAX_ENROL_SECONDS + 1.0
    with local_audio_path(audio, policy) as path:
        clip = read_segments(path, [np.array([[begin, limit]])])[0]
    if clip.size == 0:
        raise InvalidInput("audio", f"holds no audio between {begin:g} s and {limit:g} s: check `start`/`end`")
    if end is None and clip.size / SAMPLE_RATE > MAX_ENROL_SECONDS:
        raise InvalidInput(
            "audio",
            f"is longer than {MAX_ENROL_SECONDS:g} s: pass `start` and `end` around one person speaking alone",
        )
    source = VoiceprintSource(audio=shown_source(audio), start=start, end=end)
    return enroll_clip(registry, settings, identity, clip, source)


def enroll_clip(
    registry: VoiceprintRegistry,
    settings: Settings,
    identity: VoiceIdentity,
    clip: NDArray[np.float32],
    source: VoiceprintSource,
    advice: ClipAdvice = FILE_ADVICE,
) -> list[Enrolled]:
    """Check a clip already read (length for pyannoteAI, speech, one voice), embed it and store the entries.

    Both entries (local, pyannoteAI) or neither are stored.
    """
    from diarflow.adapters.speaker_embedding import load_voice_embedder

    embedder = load_voice_embedder(LOCAL_VOICEPRINT_MODEL)
    seconds = clip.size / SAMPLE_RATE
    use_pyannote = len(identity.ids) > 1
    if use_pyannote and seconds > PYANNOTE_VOICEPRINT_SECONDS + 0.05:
        raise InvalidInput(
            advice.field,
            f"the clip lasts {seconds:.1f} s; pyannoteAI voiceprints take at most {PYANNOTE_VOICEPRINT_SECONDS:g} s "
            f"of one speaker: {advice.too_long_for_pyannote}",
        )
    embedding, speech = voiceprint_of(embedder, clip, advice)
    created = utc_now()
    common = {
        "podcast_id": identity.podcast_id,
        "display_name": identity.display_name,
        "source": source,
        "speech_seconds": round(speech, 3),
        "created_at": created,
    }
    entries = [
        VoiceprintEntry(
            voiceprint_id=identity.ids[0],
            model=LOCAL_VOICEPRINT_MODEL,
            embedding=[round(float(x), 6) for x in embedding],
            **common,
        )
    ]
    if use_pyannote:
        voiceprint = _pyannote_voiceprint(settings, clip, identity.podcast_id, identity.ids[1])
        entries.append(
            VoiceprintEntry(
                voiceprint_id=identity.ids[1], model=PYANNOTE_VOICEPRINT_MODEL, voiceprint=voiceprint, **common
            )
        )
    stored: list[Enrolled] = []
    try:
        for entry in entries:
            stored.append(Enrolled(registry.add(entry), entry))
    except DiarflowError:
        for done in stored:  # both or neither: a half-enrolled person would match by one model only
            registry.remove(identity.podcast_id, done.entry.voiceprint_id)
        raise
    return stored


def voiceprint_of(
    embedder: VoiceEmbedder, clip: NDArray[np.float32], advice: ClipAdvice = FILE_ADVICE
) -> tuple[NDArray[np.float32], float]:
    """The clip's embedding and seconds of speech, after the speech and one-voice checks (:class:`InvalidInput`)."""
    from diarflow.adapters.speaker_embedding import speech_seconds

    speech, regions = speech_seconds(clip)
    if speech < MIN_SPEECH_SECONDS:
        raise InvalidInput(
            advice.field,
            f"no speech heard in the clip ({speech:.1f} s of voice activity, {MIN_SPEECH_SECONDS:g} s needed): "
            f"{advice.no_speech}",
        )
    voiced = _voiced(clip, regions)
    _check_one_speaker(embedder, voiced, advice)
    return embedder.embed(voiced), speech


def _voiced(clip: NDArray[np.float32], regions: NDArray[np.float64]) -> NDArray[np.float32]:
    """The clip's speech regions, joined (leading and trailing silence say nothing about the voice)."""
    parts = [clip[round(a * SAMPLE_RATE) : round(b * SAMPLE_RATE)] for a, b in regions.tolist()]
    parts = [p for p in parts if p.size]
    return np.concatenate(parts) if parts else clip


def _check_one_speaker(embedder: VoiceEmbedder, voiced: NDArray[np.float32], advice: ClipAdvice = FILE_ADVICE) -> None:
    """Refuse a clip whose first and second halves sound like two different people."""
    if voiced.size < HALVES_MIN_SECONDS * SAMPLE_RATE:
        return
    middle = voiced.size // 2
    halves = embedder.embed_many([voiced[:middle], voiced[middle:]])
    similarity = float(halves[0] @ halves[1])
    if similarity < SAME_SPEAKER_MIN:
        raise InvalidInput(
            advice.field,
            f"the clip seems to hold more than one voice (its halves match at {similarity:.2f}, one person "
            f"scores above {SAME_SPEAKER_MIN}): {advice.two_voices}",
        )


def shown_source(audio: str) -> str:
    """A file name or a URL without query and fragment (a signed URL's query is a credential)."""
    parts = urlsplit(audio)
    if parts.scheme.lower() in ("http", "https"):
        return parts._replace(query="", fragment="").geturl()
    return Path(parts.path if parts.scheme.lower() == "file" else audio).name


def _pyannote_voiceprint(settings: Settings, clip: NDArray[np.float32], podcast_id: str, voiceprint_id: str) -> str:
    """Upload the clip and run a /v1/voiceprint job; its base64 voiceprint."""
    from diarflow.adapters.speaker_embedding import write_wav
    from diarflow.orchestration.pyannote_flow import pyannote_client

    with temporary_directory("enrol") as folder:
        wav = folder / "voice.wav"
        wav.write_bytes(write_wav(clip))
        with pyannote_client(settings) as client:
            url = client.upload_file(wav, f"media://diarflow/voiceprints/{podcast_id}/{voiceprint_id}.wav")
            job_id = client.voiceprint(url).job_id
            waited, interval = 0.0, settings.pyannote_poll_interval
            while True:
                job = client.get_job(job_id)
                if job.finished:
                    break
                if waited >= PYANNOTE_VOICEPRINT_WAIT:
                    raise RemoteServiceError(
                        f"pyannoteAI voiceprint job {job_id} still {job.status} after {waited:g} s"
                    )
                time.sleep(interval)
                waited += interval
                interval = min(interval * 1.5, 30.0)
    if job.status != "succeeded" or job.output is None or not job.output.voiceprint:
        reason = job.output.error if job.output is not None and job.output.error else job.status
        raise RemoteServiceError(f"pyannoteAI voiceprint job {job_id} gave no voiceprint ({reason})")
    return job.output.voiceprint


# --- migration -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Migration:
    """What ``migrate`` did with one outdated entry."""

    entry: VoiceprintEntry
    outcome: Literal["migrated", "re-enrol"]
    reason: str | None = None
    """Why the entry needs re-enrolment (its source clip cannot be found or no longer passes the checks)."""


def migrate_voiceprints(
    registry: VoiceprintRegistry, settings: Settings, *, podcast_id: str, audio_dirs: Sequence[Path]
) -> list[Migration]:
    """Re-embed the podcast's outdated local entries from their source clips, in place; one outcome per entry.

    A source recorded as a file name is looked for in ``audio_dirs`` (the name alone is
    recorded: a full path would leak the enrolling machine's layout); an http(s) source is
    fetched again under the usual URL policy. An entry whose person already has a current
    entry is migrated too (it is the same voice from another clip).
    """
    validate_id(podcast_id, "podcast_id")
    outdated = [e for e in registry.entries(podcast_id) if e.model == GE2E_VOICEPRINT_MODEL]
    if not outdated:
        return []
    from diarflow.adapters.speaker_embedding import load_voice_embedder

    embedder = load_voice_embedder(LOCAL_VOICEPRINT_MODEL)
    done: list[Migration] = []
    for entry in outdated:
        try:
            clip = _source_clip(entry, settings, audio_dirs)
            embedding, speech = voiceprint_of(embedder, clip)
        except DiarflowError as exc:
            if not isinstance(exc, InvalidInput | RemoteServiceError) and exc.retryable:
                raise  # the store or the network is down: nothing to conclude about the entry
            done.append(Migration(entry, "re-enrol", exc.message))
            continue
        migrated = entry.model_copy(
            update={
                "model": LOCAL_VOICEPRINT_MODEL,
                "embedding": [round(float(x), 6) for x in embedding],
                "speech_seconds": round(speech, 3),
                "migrated_from": entry.model,
            }
        )
        registry.replace(VoiceprintEntry.model_validate(migrated.to_json_dict()))
        done.append(Migration(migrated, "migrated"))
    return done


def _source_clip(entry: VoiceprintEntry, settings: Settings, audio_dirs: Sequence[Path]) -> NDArray[np.float32]:
    from diarflow.adapters.diarizers.local.audio import local_audio_path
    from diarflow.adapters.speaker_embedding import read_segments
    from diarflow.adapters.url_policy import UrlPolicy, check_fetch_target

    source = entry.source
    if urlsplit(source.audio).scheme.lower() in ("http", "https"):
        audio = source.audio
    else:
        found = [folder / source.audio for folder in audio_dirs if (folder / source.audio).is_file()]
        if not found:
            where = ", ".join(str(folder) for folder in audio_dirs) or "no folder"
            raise InvalidInput(
                "audio", f"source clip {source.audio} not found in {where} (give its folder as `audio_dir`)"
            )
        audio = str(found[0])
    policy = UrlPolicy.from_settings(settings, local_run=True)
    check_fetch_target(audio, policy, field="audio")
    begin = source.start or 0.0
    limit = source.end if source.end is not None else begin + MAX_ENROL_SECONDS + 1.0
    with local_audio_path(audio, policy) as path:
        clip = read_segments(path, [np.array([[begin, limit]])])[0]
    if clip.size == 0:
        raise InvalidInput("audio", f"source clip {source.audio} holds no audio between {begin:g} s and {limit:g} s")
    return clip
