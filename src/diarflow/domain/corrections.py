"""A person's speaker corrections applied to a diarization's turns (docs/corrections.md).

Three operations, applied in order, each seeing the result of the ones before:

- ``rename``: a speaker is shown under a name (it wins over a voiceprint match);
- ``merge``: another speaker's turns become this speaker's;
- ``assign``: everything said in ``[start, end)`` goes to a speaker, existing
  or new: turns are cut at the bounds and the part inside changes hands.

Corrections name the raw diarization's speaker keys. A correction that does
not fit the episode raises :class:`~diarflow.errors.InvalidCorrection` naming
its field (``corrections[2].speaker``), so nothing half-applied is ever written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from diarflow.contracts.corrections import Assign, Merge, Rename
from diarflow.domain.turns import Turns
from diarflow.errors import InvalidCorrection

CORRECTED_CONFIDENCE = 1.0
"""Confidence of speech a person assigned: they heard it, the diarizer guessed."""
NEW_SPEAKER_PREFIX = "CORRECTION_"
"""Key of a speaker an ``assign`` created for a name nobody had (``CORRECTION_3``: made by correction 3)."""


@dataclass(frozen=True, slots=True)
class NameOrigin:
    """Where a speaker's name came from: which correction, by whom, when."""

    name: str
    author: str
    created_at: str
    index: int
    voiceprint_id: str | None = None
    """The voiceprint the correction enrolled (``rename --enroll``)."""


@dataclass(frozen=True)
class CorrectedTurns:
    """The turns after every correction, and the names corrections gave (by speaker key)."""

    segments: Turns
    exclusive: Turns | None
    names: dict[str, NameOrigin]


def default_field(index: int) -> str:
    return f"corrections[{index}]"


def apply_corrections(
    segments: Turns,
    exclusive: Turns | None,
    corrections: Sequence[Rename | Merge | Assign],
    *,
    episode_end: float,
    field_of: Callable[[int], str] = default_field,
) -> CorrectedTurns:
    """Apply ``corrections`` in order; ``field_of(i)`` is how an error names correction ``i``."""
    state = CorrectedTurns(segments, exclusive, {})
    for index, correction in enumerate(corrections):
        where = field_of(index)
        if isinstance(correction, Rename):
            state = _rename(state, correction, index, where)
        elif isinstance(correction, Merge):
            state = _merge(state, correction, where)
        else:
            state = _assign(state, correction, index, where, episode_end)
    present = set(speakers_of(state))
    return CorrectedTurns(state.segments, state.exclusive, {k: v for k, v in state.names.items() if k in present})


def speakers_of(state: CorrectedTurns) -> list[str]:
    """Speakers that have turns, segments' first (in order of appearance), then exclusive-only ones."""
    present = _present(state.segments)
    if state.exclusive is not None:
        present += [name for name in _present(state.exclusive) if name not in present]
    return present


def _present(turns: Turns) -> list[str]:
    counts = np.bincount(turns.speakers, minlength=len(turns.speaker_names)) if len(turns) else np.zeros(0)
    return [name for name, count in zip(turns.speaker_names, counts.tolist(), strict=False) if count]


def _existing(state: CorrectedTurns, speaker: str, where: str) -> str:
    speakers = speakers_of(state)
    if speaker not in speakers:
        listed = ", ".join(speakers) if speakers else "none"
        raise InvalidCorrection(where, f"no speaker {speaker!r} (speakers: {listed})")
    return speaker


def _rename(state: CorrectedTurns, rename: Rename, index: int, where: str) -> CorrectedTurns:
    speaker = _existing(state, rename.speaker, f"{where}.speaker")
    origin = NameOrigin(rename.name, rename.author, rename.created_at, index, rename.voiceprint_id)
    return CorrectedTurns(state.segments, state.exclusive, {**state.names, speaker: origin})


def _merge(state: CorrectedTurns, merge: Merge, where: str) -> CorrectedTurns:
    kept = _existing(state, merge.speaker, f"{where}.speaker")
    gone = _existing(state, merge.merged, f"{where}.merged")
    if kept == gone:
        raise InvalidCorrection(f"{where}.merged", f"{gone!r} is the speaker it would be merged into")
    names = dict(state.names)
    merged_name = names.pop(gone, None)
    if kept not in names and merged_name is not None:  # the name a person gave survives the merge
        names[kept] = merged_name
    relabel = {gone: kept}
    exclusive = _relabelled(state.exclusive, relabel) if state.exclusive is not None else None
    return CorrectedTurns(_relabelled(state.segments, relabel), exclusive, names)


def _assign(state: CorrectedTurns, assign: Assign, index: int, where: str, episode_end: float) -> CorrectedTurns:
    if assign.end <= assign.start:
        raise InvalidCorrection(f"{where}.end", f"{assign.end} is not after start {assign.start}")
    if assign.end > episode_end:
        raise InvalidCorrection(f"{where}.end", f"{assign.end} is past the end of the episode ({episode_end:g} s)")
    names = dict(state.names)
    if assign.speaker is not None:
        target = _existing(state, assign.speaker, f"{where}.speaker")
    else:
        assert assign.name is not None  # the contract requires one of the two
        target = _speaker_named(state, assign.name) or _new_speaker_key(state, index)
        if target not in names:
            names[target] = NameOrigin(assign.name, assign.author, assign.created_at, index)
    if not _overlapping(state.segments, assign.start, assign.end).any():
        raise InvalidCorrection(
            f"{where}.start",
            f"no speech between {assign.start:g} and {assign.end:g} s: nothing to assign (widen the range)",
        )
    exclusive = state.exclusive
    if exclusive is not None:
        exclusive = _cut_and_assign(exclusive, assign.start, assign.end, target)
    return CorrectedTurns(_cut_and_assign(state.segments, assign.start, assign.end, target), exclusive, names)


def _speaker_named(state: CorrectedTurns, name: str) -> str | None:
    """The speaker a correction already gave ``name``, if one has it."""
    present = set(speakers_of(state))
    return next((key for key, origin in state.names.items() if origin.name == name and key in present), None)


def _new_speaker_key(state: CorrectedTurns, index: int) -> str:
    taken = set(state.segments.speaker_names) | set(state.exclusive.speaker_names if state.exclusive else ())
    key = f"{NEW_SPEAKER_PREFIX}{index}"
    while key in taken:  # a diarizer that happens to use our spelling
        key += "_"
    return key


def _overlapping(turns: Turns, start: float, end: float) -> NDArray[np.bool_]:
    """Turns that share some time with ``[start, end)`` (a zero-length turn at ``start`` counts)."""
    return (turns.starts < end) & ((turns.ends > start) | (turns.starts >= start))


def _names_column(turns: Turns) -> NDArray[np.object_]:
    return np.array(turns.speaker_names, dtype=object)[turns.speakers] if len(turns) else np.empty(0, dtype=object)


def _relabelled(turns: Turns, relabel: dict[str, str]) -> Turns:
    names = [relabel.get(name, name) for name in _names_column(turns).tolist()]
    return Turns.from_columns(turns.starts, turns.ends, names, turns.confidences)


def _cut_and_assign(turns: Turns, start: float, end: float, target: str) -> Turns:
    """Cut the turns that cross ``start`` or ``end`` there; the pieces inside ``[start, end)`` become ``target``'s."""
    names = _names_column(turns)
    inside = _overlapping(turns, start, end)
    before = inside & (turns.starts < start)
    after = inside & (turns.ends > end)
    kept = ~inside
    n_inside, n_before, n_after = int(inside.sum()), int(before.sum()), int(after.sum())
    pieces = [
        (turns.starts[kept], turns.ends[kept], names[kept], turns.confidences[kept]),
        (turns.starts[before], np.full(n_before, start), names[before], turns.confidences[before]),
        (
            np.maximum(turns.starts[inside], start),
            np.minimum(turns.ends[inside], end),
            np.full(n_inside, target, dtype=object),
            np.full(n_inside, CORRECTED_CONFIDENCE),
        ),
        (np.full(n_after, end), turns.ends[after], names[after], turns.confidences[after]),
    ]
    starts, ends, speakers, confidences = (np.concatenate(column) for column in zip(*pieces, strict=True))
    order = np.lexsort((ends, starts))  # so speakers are numbered in order of appearance, like a diarizer's
    return Turns.from_columns(starts[order], ends[order], speakers[order].tolist(), confidences[order])


# --- what a person types, to a speaker key -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class KnownSpeaker:
    """A speaker as the audit, the report and the exports show it."""

    key: str
    label: str
    name: str | None


def find_speaker(text: str, speakers: Sequence[KnownSpeaker], *, field: str) -> str | None:
    """The key of the speaker ``text`` names, or None: a speaker key, else a label (``A``), else a display name.

    A name two speakers share is refused (naming their labels): a correction must not guess.
    """
    for attribute in ("key", "label"):
        for speaker in speakers:
            if getattr(speaker, attribute) == text:
                return speaker.key
    named = [s for s in speakers if s.name == text] or [
        s for s in speakers if s.name is not None and s.name.casefold() == text.casefold()
    ]
    if len(named) > 1:
        labels = ", ".join(s.label for s in named)
        raise InvalidCorrection(field, f"{text!r} names more than one speaker ({labels}): give the label instead")
    return named[0].key if named else None


def resolve_speaker(text: str, speakers: Sequence[KnownSpeaker], *, field: str) -> str:
    """Like :func:`find_speaker`, but a name nobody has is an error listing who there is."""
    key = find_speaker(text, speakers, field=field)
    if key is None:
        raise InvalidCorrection(
            field, f"no speaker {text!r} in this episode (speakers: {listed(speakers)}): give a label, key or name"
        )
    return key


def listed(speakers: Sequence[KnownSpeaker]) -> str:
    """``A = SPEAKER_00 (Diane), B = SPEAKER_01``."""
    shown = [f"{s.label} = {s.key}" + (f" ({s.name})" if s.name else "") for s in speakers]
    return ", ".join(shown) if shown else "none"


def turns_at(turns: Turns, times: Sequence[float], *, field: str) -> list[tuple[float, float]]:
    """The [start, end) of the turn under each time (one-at-a-time turns), in the order given.

    How a person points at turns: a time they see in the transcript or the report. A time no turn
    covers is refused, naming the nearest turns.
    """
    order = np.argsort(turns.starts, kind="stable")
    starts, ends = turns.starts[order], turns.ends[order]
    found: list[tuple[float, float]] = []
    for index, time in enumerate(times):
        candidate = int(np.searchsorted(starts, time, side="right")) - 1
        if candidate < 0 or time >= ends[candidate]:
            before = f"{ends[candidate]:g}" if candidate >= 0 else "none"
            after = f"{starts[candidate + 1]:g}" if candidate + 1 < starts.size else "none"
            raise InvalidCorrection(
                f"{field}[{index}]",
                f"no turn at {time:g} s (the turn before ends at {before}, the next starts at {after}): "
                "give a time inside a turn, or a range with --from/--to",
            )
        found.append((float(starts[candidate]), float(ends[candidate])))
    return found
