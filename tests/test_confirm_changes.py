"""confirm_changes: a speaker change inside an utterance stands only if the refinement windows confirm it."""

from __future__ import annotations

import numpy as np

from diarflow.domain.speaker_clustering import BoundaryWindows, RefinedChanges, confirm_changes


def _case(after_margin: float, *, utterance_starts: list[float]) -> np.ndarray | None:
    # Pieces 0-1.5 (speaker 0), 1.5-3 and 3-4 (speaker 1); one change at 1.5 s, refined to 1.5 s.
    starts, ends = np.array([0.0, 1.5, 3.0]), np.array([1.5, 3.0, 4.0])
    labels = np.array([0, 1, 1])
    centres = np.arange(0.55, 2.5, 0.1)
    margins = np.where(centres < 1.5, -0.5, after_margin)
    scores = np.stack((-margins / 2, margins / 2), axis=1)  # columns: speaker 0, speaker 1
    plan = BoundaryWindows(
        region_starts=np.array([0.5]),
        region_ends=np.array([2.5]),
        before=np.array([0]),
        after=np.array([1]),
        centres=centres,
        region_of=np.zeros(centres.size, np.int64),
        window=1.0,
        step=0.1,
        times=np.array([1.5]),
    )
    changes = RefinedChanges(
        np.array([1.5]), plan.before, plan.after, np.array([False]), plan.region_starts, plan.region_ends
    )
    return confirm_changes(labels, starts, ends, np.array(utterance_starts), plan, scores, changes)


def test_an_unconfirmed_change_inside_an_utterance_is_undone_to_the_utterance_end() -> None:
    updated = _case(0.02, utterance_starts=[0.0, 3.0])
    assert updated is not None
    assert updated.tolist() == [0, 0, 1]  # the piece of the next utterance keeps its speaker


def test_a_confirmed_change_stands() -> None:
    assert _case(0.4, utterance_starts=[0.0, 3.0]) is None


def test_a_change_at_an_utterance_boundary_needs_no_confirmation() -> None:
    assert _case(0.02, utterance_starts=[0.0, 1.5, 3.0]) is None
