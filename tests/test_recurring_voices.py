"""``diarflow speakers recurring``: unnamed voices grouped across a podcast's episodes, then named once.

The grouping on its own (``domain/recurring.py``), then the loop on real speech
of the shipped sample: Diane is named with ``--enroll`` in episode 1, so in
episodes 1-3 only Sheila's clusters stay unnamed; ``recurring`` groups them,
``--name 1 Sheila`` enrols her and every episode names her.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest

from diarflow.adapters.registry import VoiceprintRegistry
from diarflow.adapters.stores import LocalStore
from diarflow.domain.recurring import group_voices
from tests import recut
from tests.test_cli import diarflow
from tests.test_correction_enrollment import PODCAST, EpisodeFiles, _audit, _halves, _run, _truth, pytestmark

__all__ = ["pytestmark"]  # the same models are needed as for the enrolment tests


def test_voices_group_across_episodes_above_the_threshold_and_never_within_one() -> None:
    one, other = np.eye(4)[0], np.eye(4)[1]
    near = one + 0.1 * np.eye(4)[2]
    vectors = np.array([one, near, one, other, other])
    episodes = ["E1", "E2", "E1", "E2", "E3"]

    groups = group_voices(vectors, episodes, threshold=0.9)

    # Rows 0 and 2 are one voice but both of E1: the diarizer told them apart, so they stay apart.
    assert sorted(groups) == [[0, 1], [2], [3, 4]]
    assert group_voices(vectors, episodes, threshold=0.999) == [[3, 4], [0], [1], [2]]
    assert group_voices(np.zeros((0, 4)), [], threshold=0.5) == []


def test_a_podcasts_worth_of_unnamed_clusters_groups_into_its_voices() -> None:
    """Two hundred episodes, up to three unnamed clusters each, five recurring guests plus one-off voices."""
    rng = np.random.default_rng(11)
    guests = rng.normal(0, 1, (5, 192))
    rows, episodes, truth = [], [], []
    for episode in range(200):
        for guest in rng.choice(5, size=int(rng.integers(1, 3)), replace=False):
            rows.append(guests[guest] + rng.normal(0, 0.6, 192))
            truth.append(int(guest))
            episodes.append(f"E{episode}")
        if episode % 10 == 0:  # somebody heard once
            rows.append(rng.normal(0, 1, 192))
            truth.append(-1 - episode)
            episodes.append(f"E{episode}")

    groups = group_voices(np.array(rows), episodes, threshold=0.55)

    recurring = [group for group in groups if len(group) > 1]
    assert len(recurring) == 5
    for group in recurring:
        assert len({truth[i] for i in group}) == 1  # one voice per group
        assert len({episodes[i] for i in group}) == len(group)  # never two clusters of one episode
    assert sum(len(group) for group in recurring) == sum(t >= 0 for t in truth)


@pytest.fixture(scope="module")
def three_episodes(tmp_path_factory: pytest.TempPathFactory) -> list[EpisodeFiles]:
    folder = tmp_path_factory.mktemp("recurring")
    first, second = _halves()
    made = []
    for name, seed, lines in (("E1", 3, first), ("E2", 4, second), ("E3", 6, second)):
        built = recut.build_episode(45.0, seed=seed, lines=lines)
        wav, _, transcript = built.write(folder, name)
        made.append(EpisodeFiles(built, wav, transcript))
    return made


def test_a_recurring_guest_is_grouped_across_episodes_and_named_once(
    tmp_path: Path, three_episodes: list[EpisodeFiles]
) -> None:
    folder = tmp_path / "store"
    store = LocalStore(folder)
    _run(folder, "E1", three_episodes[0])
    diane = next(key for key, who in _truth(store, "E1", three_episodes[0].built).items() if who == "Diane")
    rename = ("speakers", "rename", "E1", diane, "Diane", "--enroll", "-q", "--store", str(folder))
    assert diarflow(*rename).returncode == 0
    for episode_id, files in zip(("E2", "E3"), three_episodes[1:], strict=True):
        assert _run(folder, episode_id, files).stats.identified_speakers == 1  # Diane, by her voice

    listed = diarflow("speakers", "recurring", "--podcast-id", PODCAST, "--json", "--store", str(folder))
    assert listed.returncode == 0, listed.stderr
    (group,) = orjson.loads(listed.stdout)
    assert group["episodes"] == ["E1", "E2", "E3"]
    truths = {
        episode_id: _truth(store, episode_id, files.built)
        for episode_id, files in zip(("E1", "E2", "E3"), three_episodes, strict=True)
    }
    assert {truths[c["episode_id"]][c["speaker_key"]] for c in group["clusters"]} == {"Sheila"}
    table = diarflow("speakers", "recurring", "--podcast-id", PODCAST, "--store", str(folder))
    assert "E1, E2, E3" in table.stdout

    named = diarflow(
        "speakers", "recurring", "--podcast-id", PODCAST, "--name", "1", "Sheila", "-q", "--store", str(folder)
    )
    assert named.returncode == 0, named.stderr
    assert len(named.stdout.splitlines()) == 3  # one result per episode
    assert {e.display_name for e in VoiceprintRegistry(store).entries(PODCAST)} == {"Diane", "Sheila"}
    for episode_id in ("E1", "E2", "E3"):
        audit = _audit(store, episode_id)
        assert {c.mapped_to for c in audit.clusters} == {"Diane", "Sheila"}, episode_id
        assert all(c.mapped_to == truths[episode_id][c.speaker_key] for c in audit.clusters)

    nothing = diarflow("speakers", "recurring", "--podcast-id", PODCAST, "--json", "--store", str(folder))
    assert orjson.loads(nothing.stdout) == []  # every voice has a name now


def test_naming_a_group_that_does_not_exist_exits_2(tmp_path: Path) -> None:
    done = diarflow("speakers", "recurring", "--podcast-id", PODCAST, "--name", "3", "X", "--store", str(tmp_path))
    assert done.returncode == 2
    assert "GROUP: no group 3 (groups: none: nothing recurs)" in done.stderr
