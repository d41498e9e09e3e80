"""``diarflow speakers rename|merge|assign|apply|list``: a person's fixes to an episode's speakers.

Each recording command checks its correction against the diarization, appends
it to ``diarization/<id>.corrections.json`` and derives the enriched
transcript, audit, report and stored exports again without re-diarizing
(docs/corrections.md). What the user types for a speaker (a label as the
audit, report and exports show it, a diarization speaker key, or a current
display name) is resolved to the speaker key the artifact records.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from diarflow.cli._common import (
    EXIT_FAILED,
    EXIT_OK,
    StoreOption,
    as_text,
    configure_logging,
    read_input_file,
    reported_errors,
    stderr_console,
    stdout_console,
)
from diarflow.errors import classify

if TYPE_CHECKING:
    from diarflow.adapters.stores import ObjectStore
    from diarflow.domain.corrections import KnownSpeaker
    from diarflow.orchestration.corrections import CorrectionT
    from diarflow.orchestration.recurring import RecurringVoices

speakers_app = typer.Typer(
    name="speakers",
    help="Fix who spoke in an episode: rename, merge and reassign speakers without diarizing again.",
    no_args_is_help=True,
)

AuthorOption = Annotated[
    str | None, typer.Option("--author", help="Who made the correction (default: your user name on this machine).")
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")]
EpisodeArgument = Annotated[str, typer.Argument(help="Episode id.")]
CORRECTION = "correction"
"""How a single correction's errors name it before the command spells the field as its own argument."""


def register(app: typer.Typer) -> None:
    app.add_typer(speakers_app, name="speakers")


@speakers_app.command("rename")
def rename(
    episode_id: EpisodeArgument,
    speaker: Annotated[str, typer.Argument(help="The speaker: its label (A), its key (SPEAKER_00) or its name.")],
    name: Annotated[str, typer.Argument(help="The name to show, e.g. 'Diane'.")],
    enroll: Annotated[
        bool,
        typer.Option(
            "--enroll",
            help="Also enrol the speaker's best speech as a voiceprint of the episode's podcast, so later "
            "episodes name the voice by themselves (needs the audio and podcast id of the episode's last run).",
        ),
    ] = False,
    author: AuthorOption = None,
    store: StoreOption = None,
    quiet: QuietOption = False,
) -> None:
    """Show a speaker under a name (it wins over a voiceprint match) and derive the episode's artifacts again.

    With --enroll the voice is learnt too, through the checks of `voiceprints enroll` (speech heard,
    one voice): a refusal exits 2 and records nothing.
    """

    def build(speakers: Sequence[KnownSpeaker], _: ObjectStore) -> list[dict[str, Any]]:
        from diarflow.domain.corrections import resolve_speaker

        key = resolve_speaker(speaker, speakers, field="LABEL")
        return [{"op": "rename", "speaker": key, "name": name, **({"enroll": True} if enroll else {})}]

    _record(
        episode_id,
        store,
        author,
        quiet,
        build,
        {f"{CORRECTION}[0].name": "NAME", f"{CORRECTION}[0].enroll": "--enroll"},
    )


@speakers_app.command("merge")
def merge(
    episode_id: EpisodeArgument,
    speaker: Annotated[str, typer.Argument(help="The speaker that stays (label, key or name).")],
    merged: Annotated[str, typer.Argument(help="The speaker whose turns become the first one's.")],
    author: AuthorOption = None,
    store: StoreOption = None,
    quiet: QuietOption = False,
) -> None:
    """Merge two speakers the diarizer split: LABEL_B's turns become LABEL_A's."""

    def build(speakers: Sequence[KnownSpeaker], _: ObjectStore) -> list[dict[str, Any]]:
        from diarflow.domain.corrections import resolve_speaker

        kept = resolve_speaker(speaker, speakers, field="LABEL_A")
        return [{"op": "merge", "speaker": kept, "merged": resolve_speaker(merged, speakers, field="LABEL_B")}]

    _record(episode_id, store, author, quiet, build, {f"{CORRECTION}[0].merged": "LABEL_B"})


@speakers_app.command("assign")
def assign(
    episode_id: EpisodeArgument,
    speaker: Annotated[
        str, typer.Argument(help="Who said it: a label, key or name of a speaker, or a new name for a new speaker.")
    ],
    start: Annotated[float | None, typer.Option("--from", help="Start of the range, in seconds.")] = None,
    end: Annotated[float | None, typer.Option("--to", help="End of the range (excluded), in seconds.")] = None,
    turns: Annotated[
        list[float] | None,
        typer.Option("--turn", help="A time (seconds) inside a turn to give away whole; repeat for several turns."),
    ] = None,
    author: AuthorOption = None,
    store: StoreOption = None,
    quiet: QuietOption = False,
) -> None:
    """Give everything said between --from and --to, or the turns at each --turn, to one speaker.

    A range cuts the turns at both ends; --turn takes the whole one-at-a-time turn under that time.
    """

    def build(speakers: Sequence[KnownSpeaker], objects: ObjectStore) -> list[dict[str, Any]]:
        from diarflow.domain.corrections import find_speaker

        key = find_speaker(speaker, speakers, field="SPEAKER")
        target = {"speaker": key} if key is not None else {"name": speaker}
        ranges = _ranges(objects, episode_id, start, end, turns)
        return [{"op": "assign", "start": a, "end": b, **target} for a, b in ranges]

    fields = {f"{CORRECTION}[0].{name}": option for name, option in (("start", "--from"), ("end", "--to"))}
    _record(episode_id, store, author, quiet, build, {**fields, f"{CORRECTION}[0].name": "SPEAKER"})


def _ranges(
    store: ObjectStore, episode_id: str, start: float | None, end: float | None, turns: list[float] | None
) -> list[tuple[float, float]]:
    """The ranges an ``assign`` gives away: --from/--to, or the turns under each --turn (not both)."""
    from diarflow.errors import InvalidCorrection

    if turns:
        if start is not None or end is not None:
            raise InvalidCorrection("--turn", "give either --turn or --from/--to, not both")
        return _turns_under(store, episode_id, turns)
    if start is None or end is None:
        raise InvalidCorrection("--from" if start is None else "--to", "give --from and --to, or --turn")
    return [(start, end)]


@speakers_app.command("apply")
def apply(
    episode_id: EpisodeArgument,
    corrections_file: Annotated[
        Path, typer.Argument(metavar="FILE", help="JSON: a list of corrections (what `speakers list --json` prints).")
    ],
    author: AuthorOption = None,
    store: StoreOption = None,
    quiet: QuietOption = False,
) -> None:
    """Record every correction of a file, in order, and derive the episode's artifacts again.

    Each item is {"op": "rename", "speaker", "name"}, {"op": "merge", "speaker", "merged"} or
    {"op": "assign", "start", "end", "speaker" | "name"}; speakers may be labels, keys or names.
    A rename with "enroll": true also enrols the speaker's voice (as `rename --enroll`).
    Items without author or created_at get --author and the current time.
    """

    def build(speakers: Sequence[KnownSpeaker], _: ObjectStore) -> list[dict[str, Any]]:
        from diarflow.config import Settings

        data = read_input_file(corrections_file, "FILE", Settings.from_env().max_transcript_bytes)
        return _resolved_items(_decoded_list(data), speakers)

    _record(episode_id, store, author, quiet, build, {}, where="corrections")


@speakers_app.command("list")
def list_corrections(
    episode_id: EpisodeArgument,
    as_json: Annotated[bool, typer.Option("--json", help="Print them as JSON (what `apply` reads).")] = False,
    store: StoreOption = None,
) -> None:
    """List an episode's corrections, oldest first: what changed, who changed it, when."""
    with reported_errors():
        import orjson

        from diarflow.adapters.stores import open_store
        from diarflow.contracts import validate_id
        from diarflow.orchestration.corrections import read_corrections

        validate_id(episode_id)
        corrections = read_corrections(open_store(store), episode_id)
    if as_json:
        items = [correction.to_json_dict() for correction in corrections]
        sys.stdout.write(orjson.dumps(items, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    _print_table(episode_id, corrections)


@speakers_app.command("recurring")
def recurring(
    podcast_id: Annotated[str, typer.Option("--podcast-id", help="Podcast id: 1-128 of A-Z a-z 0-9 _ -.")],
    name: Annotated[
        tuple[int, str] | None,
        typer.Option(
            "--name",
            metavar="GROUP NAME",
            help="Name group GROUP (as listed): enrol its longest cluster as NAME and run its episodes again.",
        ),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option("--threshold", min=-1.0, max=1.0, help="Cosine at which voices group (default: calibrated)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the groups as JSON.")] = False,
    author: AuthorOption = None,
    store: StoreOption = None,
    quiet: QuietOption = False,
) -> None:
    """Voices nobody named that recur across the podcast's episodes, grouped; --name names a group once.

    Each group lists its episodes, talk time and best clip (its longest cluster). Naming it enrols
    that cluster (as `rename --enroll`, same checks) and runs the group's episodes again without
    diarizing: the new voiceprint names the voice wherever it matches.
    """
    with reported_errors({"--name[0].enroll": "--name", "--name[0].name": "--name"}):
        from diarflow.adapters.stores import open_store
        from diarflow.cli.run import ConsoleObserver
        from diarflow.config import Settings
        from diarflow.contracts import validate_id
        from diarflow.domain.recurring import SAME_VOICE_THRESHOLD
        from diarflow.orchestration import Workspace
        from diarflow.orchestration.recurring import name_group, recurring_voices

        validate_id(podcast_id, "--podcast-id")
        settings = Settings.from_env(store=store)
        configure_logging(settings.log_level)
        ws = Workspace(store=open_store(settings.store), settings=settings)
        level = SAME_VOICE_THRESHOLD if threshold is None else threshold
        if name is None:
            _print_groups(recurring_voices(ws.store, podcast_id, level), as_json)
            return
        observer = None if quiet else ConsoleObserver(stderr_console(), {})
        results = name_group(
            ws, podcast_id, name[0], name[1], threshold=level, author=author or _os_user(), observer=observer
        )
    for result in results:
        sys.stdout.write(result.model_dump_json(by_alias=True) + "\n")
    failed = [result for result in results if result.status == "failed"]
    raise typer.Exit(EXIT_FAILED if failed else EXIT_OK)


def _print_groups(found: RecurringVoices, as_json: bool) -> None:
    if as_json:
        import orjson

        groups = [
            {
                "group": group.number,
                "episodes": group.episodes,
                "seconds": round(group.seconds, 1),
                "best": {
                    "episode_id": group.best.episode_id,
                    "label": group.best.label,
                    "clip_key": group.best.clip_key,
                },
                "clusters": [
                    {"episode_id": v.episode_id, "speaker_key": v.speaker_key, "label": v.label, "seconds": v.seconds}
                    for v in group.voices
                ],
            }
            for group in found.groups
        ]
        sys.stdout.write(orjson.dumps(groups, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        _groups_table(found)
    if found.not_comparable:
        listed = ", ".join(found.not_comparable)
        stderr_console().print(
            f"not compared (unnamed speakers without embeddings): {as_text(listed)}; enrol one voice "
            "(`voiceprints enroll` or `speakers rename --enroll`) and run them again"
        )


def _groups_table(found: RecurringVoices) -> None:
    from rich.table import Table

    table = Table(title=f"{len(found.groups)} recurring voice(s) in {len(found.episodes)} episode(s)")
    for column in ("group", "episodes", "talk time", "best clip"):
        table.add_column(column)
    for group in found.groups:
        best = group.best
        clip = best.clip_key or f"{best.episode_id} speaker {best.label}"
        row = (str(group.number), ", ".join(group.episodes), f"{group.seconds:.0f} s", clip)
        table.add_row(*(as_text(cell) for cell in row))
    stdout_console().print(table)


def _print_table(episode_id: str, corrections: Sequence[CorrectionT]) -> None:
    from rich.table import Table

    from diarflow.contracts.corrections import Merge, Rename

    table = Table(title=f"{episode_id} · {len(corrections)} correction(s)")
    for column in ("#", "op", "change", "author", "when"):
        table.add_column(column)
    for index, correction in enumerate(corrections):
        if isinstance(correction, Rename):
            change = f"{correction.speaker} → {correction.name}"
            if correction.voiceprint_id is not None:
                change += f" (enrolled as {correction.voiceprint_id})"
        elif isinstance(correction, Merge):
            change = f"{correction.merged} into {correction.speaker}"
        else:
            change = f"{correction.start:g}–{correction.end:g} s → {correction.speaker or correction.name}"
        row = (str(index), correction.op, change, correction.author, correction.created_at)
        table.add_row(*(as_text(cell) for cell in row))
    stdout_console().print(table)


def _record(
    episode_id: str,
    store_url: str | None,
    author: str | None,
    quiet: bool,
    build: Callable[[Sequence[KnownSpeaker], ObjectStore], list[dict[str, Any]]],
    options: dict[str, str],
    *,
    where: str = CORRECTION,
) -> None:
    """Build the corrections from what the user typed, record them, rerun; print the result as ``run`` does."""
    with reported_errors(options):
        from diarflow.adapters.stores import open_store
        from diarflow.cli.run import ConsoleObserver
        from diarflow.config import Settings
        from diarflow.contracts import utc_now, validate_id
        from diarflow.contracts.corrections import parse_corrections
        from diarflow.orchestration import Workspace
        from diarflow.orchestration.corrections import read_corrections
        from diarflow.orchestration.exports import refresh_stored_exports
        from diarflow.orchestration.local import record_corrections

        validate_id(episode_id)
        settings = Settings.from_env(store=store_url)
        configure_logging(settings.log_level)
        ws = Workspace(store=open_store(settings.store), settings=settings)
        stamp = {"author": author or _os_user(), "created_at": utc_now()}
        items = [{**stamp, **item} for item in build(_known_speakers(ws.store, episode_id), ws.store)]
        added = parse_corrections(items, where=where)
        console = stderr_console()
        result = record_corrections(
            ws, episode_id, added, where=where, observer=None if quiet else ConsoleObserver(console, options)
        )
        exports = refresh_stored_exports(ws.store, episode_id) if result.status != "failed" else []
        recorded = read_corrections(ws.store, episode_id)[-len(added) :] if added else []  # with voiceprint ids
    if not quiet:
        from diarflow.contracts.corrections import Rename

        console.print(f"recorded {len(recorded)} correction(s) for {as_text(episode_id)}")
        for correction in recorded:
            if isinstance(correction, Rename) and correction.voiceprint_id is not None:
                console.print(f"enrolled {as_text(correction.name)} as voiceprint {as_text(correction.voiceprint_id)}")
        for key in exports:
            console.print(f"[dim]rewrote {as_text(key)}[/]")
    sys.stdout.write(result.model_dump_json(by_alias=True) + "\n")
    if result.status == "failed":
        raise typer.Exit(classify(result.error.type).exit_code if result.error is not None else EXIT_FAILED)
    raise typer.Exit(EXIT_OK)


def _known_speakers(store: ObjectStore, episode_id: str) -> list[KnownSpeaker]:
    """The speakers as the episode's audit shows them (labels, keys, names): what the user sees and types."""
    from diarflow.adapters.stores import get_json
    from diarflow.contracts import AuditArtifact, keys, parse_contract
    from diarflow.domain.corrections import KnownSpeaker
    from diarflow.errors import ArtifactNotFound

    key = keys.audit_key(episode_id)
    try:
        audit = parse_contract(AuditArtifact, get_json(store, key), where=key)
    except ArtifactNotFound:
        raise ArtifactNotFound(
            f"episode {episode_id} has no audit in {store.url} ({key}): run `diarflow run` first", key=key
        ) from None
    return [KnownSpeaker(c.speaker_key, c.label, c.mapped_to) for c in audit.clusters]


def _turns_under(store: ObjectStore, episode_id: str, times: list[float]) -> list[tuple[float, float]]:
    """The one-at-a-time turns under ``times`` in the diarization the episode's artifacts come from."""
    from diarflow.adapters.stores import get_json
    from diarflow.contracts import keys
    from diarflow.domain.corrections import turns_at
    from diarflow.domain.turns import Turns

    corrected, raw = keys.diarizations_in_use(episode_id)
    key = corrected if store.exists(corrected) else raw
    document = get_json(store, key)
    field = "exclusive_segments" if document.get("exclusive_segments") else "segments"
    return turns_at(Turns.from_segments(document[field], path=f"{key}:{field}"), times, field="--turn")


def _decoded_list(data: bytes) -> list[Any]:
    """The file's corrections: a JSON list, or an object with one under ``corrections`` (the stored artifact)."""
    import orjson

    from diarflow.errors import InvalidCorrection

    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidCorrection("FILE", f"is not JSON: {exc}") from None
    if isinstance(document, dict) and isinstance(document.get("corrections"), list):
        document = document["corrections"]
    if not isinstance(document, list):
        raise InvalidCorrection("FILE", "must hold a JSON list of corrections")
    return document


def _resolved_items(items: list[Any], speakers: Sequence[KnownSpeaker]) -> list[Any]:
    """Items whose speakers are written as labels or names, rewritten with speaker keys (others left as they are)."""
    from diarflow.domain.corrections import find_speaker

    resolved: list[Any] = []
    for index, item in enumerate(items):
        if isinstance(item, dict):
            item = dict(item)
            for field in ("speaker", "merged"):
                if isinstance(item.get(field), str):
                    found = find_speaker(item[field], speakers, field=f"corrections[{index}].{field}")
                    item[field] = found or item[field]
        resolved.append(item)
    return resolved


def _os_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no user name in a bare container
        return "unknown"
