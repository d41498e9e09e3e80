"""The Python API: open a store, run an episode on this machine, read what it wrote, export it.

Each function wraps what the matching command runs (``diarflow run``,
``diarflow export``), so a notebook and a shell get the same results, the
same artifacts and the same errors. Heavy modules (pydantic models, numpy,
the pipeline) are imported on first call, so ``import diarflow`` stays cheap.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from diarflow.adapters.stores import ObjectStore
    from diarflow.config import DiarizerChoice, Settings
    from diarflow.contracts import EnrichedTranscript, PipelineResult
    from diarflow.domain.exports import CaptionOptions
    from diarflow.domain.exports.formats import FormatName
    from diarflow.orchestration import StepObserver

TranscriptSource = str | os.PathLike[str] | bytes | Mapping[str, Any]
"""A transcript to run on: a file's path, its bytes, or the decoded JSON (a Deepgram response or ``{"words": …}``)."""


def open_store(url: str | os.PathLike[str] | None = None) -> ObjectStore:
    """The store where artifacts live: a directory, ``file:///path`` or ``s3://bucket[/prefix]``.

    Without ``url``: ``$DIARFLOW_STORE``, else ``./diarflow-data``. Opening
    does no I/O; a bad URL raises :class:`~diarflow.errors.InvalidConfig`.
    """
    from diarflow.adapters.stores import open_store as open_url

    return open_url(None if url is None else os.fspath(url))


def run(
    store: ObjectStore,
    episode_id: str,
    transcript: TranscriptSource | None = None,
    *,
    audio: str | os.PathLike[str] | None = None,
    podcast_id: str | None = None,
    diarizer: DiarizerChoice | None = None,
    num_speakers: int | None = None,
    min_speakers: int | None = None,
    max_speakers: int | None = None,
    force: bool = False,
    drop_corrections: bool = False,
    settings: Settings | None = None,
    observer: StepObserver | None = None,
) -> PipelineResult:
    """Diarize one episode on this machine, as ``diarflow run`` does, and return its result.

    ``transcript`` is stored at the episode's key first (without it, the one
    stored is used, or ``audio`` is transcribed when ``DEEPGRAM_API_KEY`` is
    set). ``audio`` (a path or an http(s) URL) is what the local and channels
    diarizers listen to; ``diarizer`` defaults to ``settings.diarizer``
    (``auto``: pyannoteAI with a key, else the local diarizer when installed,
    else Deepgram's own labels). ``settings`` default to the environment's.

    A rerun resumes from the checkpoints under ``runs/<episode_id>/`` (``force``
    recomputes every step, and keeps the episode's speaker corrections unless
    ``drop_corrections``). A step that fails does not raise: the result's
    ``status`` is ``partial`` or ``failed`` and ``error`` says why. Invalid
    input raises :class:`~diarflow.errors.InvalidInput` before anything runs,
    and a second run of the episode meanwhile :class:`~diarflow.errors.EpisodeBusy`.
    """
    from diarflow.config import Settings
    from diarflow.contracts import validate_id
    from diarflow.orchestration import RunOptions, Workspace
    from diarflow.orchestration.local import run_episode

    validate_id(episode_id)
    if podcast_id is not None:
        validate_id(podcast_id, "podcast_id")
    settings = settings or Settings.from_env()
    if diarizer is not None:
        settings = replace(settings, diarizer=diarizer)
    options = RunOptions(
        diarizer=settings.diarizer, num_speakers=num_speakers, min_speakers=min_speakers, max_speakers=max_speakers
    )
    return run_episode(
        Workspace(store=store, settings=settings),
        episode_id,
        transcript=_transcript_bytes(transcript, settings.max_transcript_bytes),
        audio=None if audio is None else os.fspath(audio),
        podcast_id=podcast_id,
        options=options,
        force=force,
        drop_corrections=drop_corrections,
        observer=observer,
    )


def read_enriched_transcript(store: ObjectStore, episode_id: str) -> EnrichedTranscript:
    """The episode's enriched transcript as typed objects: every word with its speaker, and the speakers.

    Validated against the artifact's contract. Raises
    :class:`~diarflow.errors.ArtifactNotFound` when the episode has not run,
    and :class:`~diarflow.errors.InvalidInput` naming the field when the
    stored file does not match the contract.
    """
    from diarflow.adapters.stores import get_json
    from diarflow.contracts import EnrichedTranscript, keys, parse_contract, validate_id

    key = keys.enriched_key(validate_id(episode_id))
    return parse_contract(EnrichedTranscript, get_json(store, key), where=key)


def export(
    store: ObjectStore, episode_id: str, format: FormatName = "srt", *, options: CaptionOptions | None = None
) -> str:
    """The episode in one standard format, as ``diarflow export --format`` prints it.

    ``rttm`` (turns, for scorers), ``srt`` and ``vtt`` (captions, shaped by
    ``options``), ``txt`` and ``md`` (the transcript by turn) or ``json``
    (turns). Raises :class:`~diarflow.errors.ArtifactNotFound` naming the
    artifact the format needs when the episode has not run.
    """
    from diarflow.contracts import validate_id
    from diarflow.domain.exports import CaptionOptions, get_format
    from diarflow.orchestration.exports import read_episode_export

    chosen = get_format(format)
    episode = read_episode_export(store, validate_id(episode_id), [chosen])
    return chosen.write(episode, options or CaptionOptions())


def _transcript_bytes(transcript: TranscriptSource | None, limit: int) -> bytes | None:
    if transcript is None or isinstance(transcript, bytes):
        return transcript
    if isinstance(transcript, Mapping):
        import orjson

        from diarflow.errors import InvalidTranscript

        try:
            return orjson.dumps(dict(transcript))
        except TypeError as exc:  # orjson.JSONEncodeError: a value JSON cannot hold
            raise InvalidTranscript("transcript", f"cannot be written as JSON: {exc}") from None
    from diarflow.adapters.input_files import read_input_file

    return read_input_file(Path(transcript), "transcript", limit)
