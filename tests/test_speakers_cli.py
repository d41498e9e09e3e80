"""``diarflow speakers`` as a user runs it on the bundled sample: fix the speakers, see every artifact follow."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from diarflow.adapters.stores import LocalStore, get_json
from diarflow.contracts import AuditArtifact, EnrichedTranscript, PipelineResult, keys
from diarflow.samples import sample_episode
from tests.test_cli import diarflow

EPISODE = "FIX1"
SKIPPED_DIARIZER = "↷ deepgram-fallback-v1 (checkpoint reused)"


@pytest.fixture
def episode(tmp_path: Path) -> Path:
    """The sample episode run with the transcript's own speakers (A: Diane's voice, B: Sheila's), exported."""
    store = tmp_path / "store"
    sample = sample_episode()
    run = ("run", "--episode-id", EPISODE, "--transcript", str(sample.transcript), "--diarizer", "deepgram", "-q")
    done = diarflow(*run, "--store", str(store))
    assert done.returncode == 0, done.stderr
    assert diarflow("export", EPISODE, "--format", "all", "--store", str(store)).returncode == 0
    return store


def speakers(store: Path, *args: str) -> PipelineResult:
    done = diarflow("speakers", *args, "--author", "tester", "--store", str(store))
    assert done.returncode == 0, done.stderr
    assert SKIPPED_DIARIZER in done.stderr, done.stderr  # corrected without diarizing again
    return PipelineResult.model_validate_json(done.stdout)


def word_speakers(store: Path, start: float, end: float) -> set[str | None]:
    enriched = EnrichedTranscript.model_validate(get_json(LocalStore(store), keys.enriched_key(EPISODE)))
    return {w.speaker for w in enriched.words if start <= w.start < end}


def test_rename_merge_and_assign_reach_the_transcript_the_exports_and_the_audit(episode: Path) -> None:
    store = LocalStore(episode)
    raw = store.get_bytes(keys.diarization_key(EPISODE))

    speakers(episode, "rename", EPISODE, "A", "Diane")
    speakers(episode, "rename", EPISODE, "SPEAKER_1", "Sheila")  # a speaker key works as well as a label
    speakers(episode, "assign", EPISODE, "--from", "24.0", "--to", "28.5", "Diane")  # Sheila's turn, Diane's voice
    speakers(episode, "assign", EPISODE, "--from", "14.4", "--to", "17.8", "Guest")  # a name nobody has: new speaker
    result = speakers(episode, "merge", EPISODE, "Sheila", "Guest")  # the guest was Sheila after all

    assert result.status == "completed"
    assert result.stats.num_speakers == 2
    assert word_speakers(episode, 24.0, 28.5) == {"Diane"}
    assert word_speakers(episode, 14.4, 17.7) == {"Sheila"}
    assert word_speakers(episode, 0.0, 100.0) == {"Diane", "Sheila"}
    assert store.get_bytes(keys.diarization_key(EPISODE)) == raw  # the diarizer's output is never edited

    audit = AuditArtifact.model_validate(get_json(store, keys.audit_key(EPISODE)))
    named = {c.mapped_to: c.named_by for c in audit.clusters}
    assert set(named) == {"Diane", "Sheila"}
    assert all(by is not None and by.author == "tester" for by in named.values())
    assert named["Sheila"] is not None
    assert named["Sheila"].correction == 1

    text = store.get_bytes(f"{keys.exports_prefix(EPISODE)}{EPISODE}.txt").decode()  # rewritten in the store
    assert "Diane:" in text
    assert "Sheila:" in text
    assert " A:" not in text
    rttm = store.get_bytes(f"{keys.exports_prefix(EPISODE)}{EPISODE}.rttm").decode()
    assert {line.split()[7] for line in rttm.splitlines()} == {"Diane", "Sheila"}

    listed = diarflow("speakers", "list", EPISODE, "--json", "--store", str(episode))
    assert listed.returncode == 0, listed.stderr
    items = orjson.loads(listed.stdout)
    assert [item["op"] for item in items] == ["rename", "rename", "assign", "assign", "merge"]
    assert items[3] == {
        "author": "tester",
        "created_at": items[3]["created_at"],
        "op": "assign",
        "start": 14.4,
        "end": 17.8,
        "speaker": None,
        "name": "Guest",
    }
    table = diarflow("speakers", "list", EPISODE, "--store", str(episode))
    assert "CORRECTION_3 into SPEAKER_1" in table.stdout


def test_run_force_keeps_the_corrections_and_drop_corrections_forgets_them(episode: Path) -> None:
    speakers(episode, "rename", EPISODE, "A", "Diane")
    again = ("run", "--episode-id", EPISODE, "--diarizer", "deepgram", "--store", str(episode), "-q")

    forced = diarflow(*again, "--force")
    assert forced.returncode == 0, forced.stderr
    assert "Diane" in word_speakers(episode, 0.0, 100.0)

    dropped = diarflow(*again, "--drop-corrections")
    assert dropped.returncode == 0, dropped.stderr
    assert word_speakers(episode, 0.0, 100.0) == {"A", "B"}
    assert not LocalStore(episode).exists(keys.corrections_key(EPISODE))


def test_a_bad_corrections_file_exits_2_naming_the_field_and_records_nothing(episode: Path, tmp_path: Path) -> None:
    bad = tmp_path / "corrections.json"
    bad.write_bytes(
        orjson.dumps(
            [
                {"op": "rename", "speaker": "A", "name": "Diane"},
                {"op": "merge", "speaker": "B", "merged": "SPEAKER_9"},
            ]
        )
    )
    done = diarflow("speakers", "apply", EPISODE, str(bad), "--store", str(episode))

    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: corrections[1].merged: no speaker 'SPEAKER_9' (speakers: SPEAKER_0, SPEAKER_1)"
    )
    assert not LocalStore(episode).exists(keys.corrections_key(EPISODE))

    bad.write_bytes(orjson.dumps([{"op": "assign", "start": 5, "end": 500, "speaker": "A"}]))
    done = diarflow("speakers", "apply", EPISODE, str(bad), "--store", str(episode))
    assert done.returncode == 2
    assert "corrections[0].end: 500.0 is past the end of the episode" in done.stderr


def test_a_file_of_corrections_is_applied_in_order(episode: Path, tmp_path: Path) -> None:
    good = tmp_path / "corrections.json"
    good.write_bytes(
        orjson.dumps(
            [{"op": "rename", "speaker": "A", "name": "Diane"}, {"op": "rename", "speaker": "B", "name": "Sheila"}]
        )
    )
    result = speakers(episode, "apply", EPISODE, str(good))

    assert result.stats.identified_speakers == 2
    assert word_speakers(episode, 0.0, 100.0) == {"Diane", "Sheila"}


def test_an_unknown_label_exits_2_listing_the_speakers(episode: Path) -> None:
    done = diarflow("speakers", "rename", EPISODE, "Z", "Zoe", "--store", str(episode))
    assert done.returncode == 2
    assert "LABEL: no speaker 'Z' in this episode (speakers: A = SPEAKER_0, B = SPEAKER_1)" in done.stderr


def test_assign_gives_whole_turns_away_by_a_time_inside_each(episode: Path) -> None:
    raw = get_json(LocalStore(episode), keys.diarization_key(EPISODE))
    turns = raw["exclusive_segments"] or raw["segments"]
    under = [next((t["start"], t["end"]) for t in turns if t["start"] <= time < t["end"]) for time in (15.0, 23.0)]

    speakers(episode, "assign", EPISODE, "Guest", "--turn", "15.0", "--turn", "23.0")

    listed = orjson.loads(diarflow("speakers", "list", EPISODE, "--json", "--store", str(episode)).stdout)
    assert [(c["op"], c["start"], c["end"], c["name"]) for c in listed] == [
        ("assign", start, end, "Guest") for start, end in under
    ]
    for start, end in under:
        assert word_speakers(episode, start, end - 0.05) == {"Guest"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--turn", "3.0"], "--turn[0]: no turn at 3 s (the turn before ends at none, the next starts at"),
        (["--turn", "15.0", "--from", "1", "--to", "2"], "--turn: give either --turn or --from/--to, not both"),
        (["--from", "1"], "--to: give --from and --to, or --turn"),
    ],
)
def test_assign_refuses_a_time_outside_every_turn_and_mixed_options(
    episode: Path, args: list[str], message: str
) -> None:
    done = diarflow("speakers", "assign", EPISODE, "Guest", *args, "--store", str(episode))
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert not LocalStore(episode).exists(keys.corrections_key(EPISODE))
