"""``diarflow voiceprints enroll|list|migrate|remove``: the podcast's voiceprint registry."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer

from diarflow.cli._common import StoreOption, configure_logging, reported_errors, spelled, visible_controls

if TYPE_CHECKING:
    from diarflow.config import Settings

voiceprints_app = typer.Typer(
    name="voiceprints",
    help="Enrol, list and remove the voices a podcast's episodes are matched against.",
    no_args_is_help=True,
)

PodcastOption = Annotated[str, typer.Option("--podcast-id", help="Podcast id: 1-128 of A-Z a-z 0-9 _ -.")]
ENROLL_OPTIONS = {
    "audio": "AUDIO",
    "podcast_id": "--podcast-id",
    "name": "--name",
    "voiceprint_id": "--id",
    "start": "--start",
    "end": "--end",
}
"""The fields enrolment's errors name, as ``enroll`` spells them."""
MIGRATE_OPTIONS = {"audio_dir": "--audio-dir", "podcast_id": "--podcast-id"}
"""The fields migration's reasons name, as ``migrate`` spells them."""


def register(app: typer.Typer) -> None:
    app.add_typer(voiceprints_app, name="voiceprints")


@voiceprints_app.command("enroll")
def enroll(
    audio: Annotated[str, typer.Argument(help="Audio of this person alone: a path or an http(s) URL.")],
    podcast_id: PodcastOption,
    name: Annotated[str, typer.Option("--name", help="Display name in transcripts, e.g. 'Diane'.")],
    start: Annotated[float | None, typer.Option("--start", help="Start of the clip in seconds (default 0).")] = None,
    end: Annotated[float | None, typer.Option("--end", help="End of the clip in seconds (default: file end).")] = None,
    voiceprint_id: Annotated[
        str | None, typer.Option("--id", help="Voiceprint id (default: from the name plus 6 random hex digits).")
    ] = None,
    store: StoreOption = None,
) -> None:
    """Compute this person's voiceprint from a clip and add it to the podcast's registry.

    The clip must hold one speaker and some speech. A local CAM++ voiceprint is
    always made; with PYANNOTEAI_API_KEY set a pyannoteAI voiceprint too, which
    needs a clip of at most 30 s (longer clips are refused, not trimmed: pick
    the range with --start/--end). Prints one JSON line per stored entry.

    Exit codes: 0 enrolled, 1 the store or pyannoteAI failed, 2 invalid input
    (bad id or name, no speech, two voices, clip too long).
    """
    with reported_errors(ENROLL_OPTIONS):
        from diarflow.adapters.registry import VoiceprintRegistry
        from diarflow.adapters.stores import open_store
        from diarflow.config import Settings
        from diarflow.contracts import validate_id
        from diarflow.orchestration.enrollment import check_range, enroll_voice

        validate_id(podcast_id, "--podcast-id")  # before anything else: an id is part of a storage key
        check_range(start, end)
        settings = Settings.from_env(store=store)
        configure_logging(settings.log_level)
        registry = VoiceprintRegistry(open_store(settings.store))
        stored = enroll_voice(
            registry,
            settings,
            podcast_id=podcast_id,
            name=name,
            audio=audio,
            start=start,
            end=end,
            voiceprint_id=voiceprint_id,
        )
        for item in stored:
            line = {
                "voiceprint_id": item.entry.voiceprint_id,
                "display_name": item.entry.display_name,
                "model": item.entry.model,
                "speech_seconds": item.entry.speech_seconds,
                "key": item.key,
            }
            sys.stdout.write(orjson.dumps(line).decode() + "\n")
        note = short_enrolment_note(stored[0].entry.speech_seconds, settings)
        if note:
            sys.stderr.write(note + "\n")


def short_enrolment_note(speech_seconds: float | None, settings: Settings) -> str | None:
    """What a voiceprint of little speech means for matching, or None when it has enough."""
    from diarflow.domain.identification import SHORT_ENROLMENT_SECONDS, short_enrolment_bar

    if speech_seconds is None or speech_seconds >= SHORT_ENROLMENT_SECONDS:
        return None
    needed = short_enrolment_bar(settings.match_threshold, settings.short_enrolment_threshold)
    stricter = (
        f" and names a speaker only from a score of {needed:.3g} (instead of {settings.match_threshold:.3g})"
        if needed > settings.match_threshold
        else ""
    )
    return (
        f"note: the clip holds {speech_seconds:.1f} s of speech; a voiceprint from under "
        f"{SHORT_ENROLMENT_SECONDS:g} s of speech names fewer of its speaker's clusters{stricter}. Enrol 10 s or "
        "more of this person speaking alone for names you can rely on (docs/identification.md)"
    )


@voiceprints_app.command("list")
def list_voiceprints(
    podcast_id: PodcastOption,
    store: StoreOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line instead of a table.")] = False,
) -> None:
    """List the podcast's voiceprints (id, name, model, state, speech seconds, source, created).

    State ``current`` is matched as is; ``outdated`` (a previous local model) is not matched
    until ``diarflow voiceprints migrate`` re-embeds it.
    """
    with reported_errors():
        from diarflow.adapters.registry import VoiceprintRegistry
        from diarflow.adapters.stores import open_store
        from diarflow.contracts import validate_id

        validate_id(podcast_id, "--podcast-id")
        entries = VoiceprintRegistry(open_store(store)).entries(podcast_id)
        if as_json:
            for entry in entries:
                summary = entry.to_json_dict()
                summary.pop("embedding", None)  # 256 numbers nobody reads; the voiceprint string likewise
                summary.pop("voiceprint", None)
                summary["state"] = entry.state
                sys.stdout.write(orjson.dumps(summary).decode() + "\n")
            return
        if not entries:
            sys.stderr.write(f"no voiceprints for podcast {podcast_id}: add one with diarflow voiceprints enroll\n")
            return
        rows = [("ID", "NAME", "MODEL", "STATE", "SPEECH", "SOURCE", "CREATED")]
        for entry in entries:
            span = entry.source.audio
            if entry.source.start is not None or entry.source.end is not None:
                span += f" [{entry.source.start or 0:g}-{'' if entry.source.end is None else f'{entry.source.end:g}'}]"
            speech = "" if entry.speech_seconds is None else f"{entry.speech_seconds:.1f}s"
            state = "outdated: migrate" if entry.state == "outdated" else entry.state
            rows.append((entry.voiceprint_id, entry.display_name, entry.model, state, speech, span, entry.created_at))
        printed = [[visible_controls(cell) for cell in row] for row in rows]  # a hand-edited entry may hold an ESC
        widths = [max(len(row[i]) for row in printed) for i in range(len(printed[0]))]
        for row in printed:
            sys.stdout.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n")


@voiceprints_app.command("migrate")
def migrate(
    podcast_id: PodcastOption,
    audio_dirs: Annotated[
        list[Path] | None,
        typer.Option("--audio-dir", help="Folder to find source clips recorded as file names in (repeatable)."),
    ] = None,
    store: StoreOption = None,
) -> None:
    """Re-embed the podcast's outdated voiceprints with the current model, from their source clips.

    Each ``resemblyzer-ge2e`` entry is re-embedded in place (same id) from the clip it was
    enrolled from: a file name is looked for in each --audio-dir (default: the current
    folder), a URL is fetched again. Prints one JSON line per outdated entry: ``migrated``,
    or ``re-enrol`` with the reason (enrol that person again with diarflow voiceprints enroll).

    Exit codes: 0 every outdated entry migrated (or none), 1 the store failed, 2 invalid
    input, 3 some entries need re-enrolment.
    """
    with reported_errors(MIGRATE_OPTIONS):
        from diarflow.adapters.registry import VoiceprintRegistry
        from diarflow.adapters.stores import open_store
        from diarflow.config import Settings
        from diarflow.contracts import validate_id
        from diarflow.orchestration.enrollment import migrate_voiceprints

        validate_id(podcast_id, "--podcast-id")
        settings = Settings.from_env(store=store)
        configure_logging(settings.log_level)
        registry = VoiceprintRegistry(open_store(settings.store))
        done = migrate_voiceprints(registry, settings, podcast_id=podcast_id, audio_dirs=audio_dirs or [Path.cwd()])
        if not done:
            sys.stderr.write(f"no outdated voiceprints in podcast {podcast_id}\n")
        for item in done:
            line = {
                "voiceprint_id": item.entry.voiceprint_id,
                "display_name": item.entry.display_name,
                "outcome": item.outcome,
                "model": item.entry.model,
                "reason": None if item.reason is None else spelled(item.reason, MIGRATE_OPTIONS),
            }
            sys.stdout.write(orjson.dumps(line).decode() + "\n")
        if any(item.outcome == "re-enrol" for item in done):
            raise typer.Exit(3)


@voiceprints_app.command("remove")
def remove(
    voiceprint_ids: Annotated[list[str], typer.Argument(help="Voiceprint ids to remove (see list).")],
    podcast_id: PodcastOption,
    store: StoreOption = None,
) -> None:
    """Remove voiceprints from the podcast's registry; prints each removed key.

    Exit codes: 0 removed, 1 the store failed, 2 an id is invalid or unknown
    (nothing is removed then).
    """
    with reported_errors():
        from diarflow.adapters.registry import VoiceprintRegistry
        from diarflow.adapters.stores import open_store
        from diarflow.contracts import keys, validate_id

        validate_id(podcast_id, "--podcast-id")
        for voiceprint_id in voiceprint_ids:
            validate_id(voiceprint_id, "voiceprint_id")
        registry = VoiceprintRegistry(open_store(store))
        for voiceprint_id in voiceprint_ids:
            registry.get(podcast_id, voiceprint_id)  # all known before any is removed
        for voiceprint_id in voiceprint_ids:
            registry.remove(podcast_id, voiceprint_id)
            sys.stdout.write(keys.voiceprint_key(podcast_id, voiceprint_id) + "\n")
