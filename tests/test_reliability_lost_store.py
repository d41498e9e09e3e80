"""The store removed during a run: the run fails (retryable), it never reports artifacts that are gone.

An outside attack deleted the store just after the diarization checkpoint
appeared; in 3 of 8 trials the run still printed ``"status": "completed"``
(exit 0) with keys naming files that no longer existed: the later steps
worked from what they had in memory and wrote their own artifacts into a
fresh directory. Here the removal happens at an exact point, not in a race:

* local engine: the runner's step observer (the CLI's progress hook) removes
  the store as a step's checkpoint is written — the whole directory
  (``rm -rf``) locally, every object of the prefix on SeaweedFS;
* Inngest engine (``inngest.experimental.mocked``, SeaweedFS): a real store
  whose objects are all deleted right after the enriched transcript is
  written.

The check is the pipeline's own step ``verify-artifacts-v1`` (written once,
so both engines run it): every artifact the result names must read back with
the digest its step returned.
"""

from __future__ import annotations

import shutil
from typing import Any

import inngest
import pytest
from inngest.experimental import mocked

from diarflow.adapters.stores import LocalStore, ObjectStore, get_json
from diarflow.config import Settings
from diarflow.contracts import (
    DIARIZATION_FAILED,
    TRANSCRIBED,
    EnrichedTranscript,
    ErrorArtifact,
    PipelineResult,
    keys,
)
from diarflow.errors import StepFailed
from diarflow.orchestration import RunOptions, run_locally
from diarflow.orchestration.pipeline import VERIFY_STEP
from diarflow.orchestration.steps import Event
from diarflow.service.functions import DIARIZE_FUNCTION, build_functions
from tests.episodes import SPEC_TURNS, ingest, transcript_from_turns
from tests.reliability import record

#: Where the store disappears (the checkpoint just written) -> the step that stops the run, its error, the keys named.
REMOVAL_POINTS: dict[str, tuple[str, str, list[str]]] = {
    # The attack: identify and enrich work from what they hold in memory and recreate the store around their
    # own artifacts; only the end-of-run check sees the diarization is gone.
    "deepgram-fallback-v1": (VERIFY_STEP, "ArtifactLost", ["diarization/{id}.json"]),
    # Enrich reads the audit back from the store: it stops the run itself.
    "identify-speakers-v1": ("enrich-transcript-v1", "ArtifactNotFound", ["diarization/{id}.audit.json"]),
    "enrich-transcript-v1": (
        VERIFY_STEP,
        "ArtifactLost",
        ["diarization/{id}.json", "diarization/{id}.audit.json", "diarization/{id}.enriched.json"],
    ),
}


def remove_store(store: ObjectStore) -> None:
    """What the attacker did: the local directory removed whole; on S3, every object of the prefix."""
    if isinstance(store, LocalStore):
        shutil.rmtree(store.root)
    else:
        for key in list(store.list("")):
            store.delete(key)


class RemoveStoreAfter:
    """A step observer that removes the store when ``step`` has finished (its checkpoint written)."""

    def __init__(self, store: ObjectStore, step: str) -> None:
        self.store = store
        self.step = step
        self.removed = False

    def step_started(self, name: str) -> None:
        pass

    def step_finished(self, name: str, seconds: float, *, skipped: bool) -> None:
        if name == self.step and not self.removed:
            remove_store(self.store)
            self.removed = True

    def step_failed(self, name: str, error: StepFailed) -> None:
        pass

    def sleeping(self, name: str, seconds: float) -> None:
        pass


def assert_failed_for_lost_artifacts(
    result: PipelineResult, store: ObjectStore, episode: str, failure: tuple[str, str, list[str]]
) -> None:
    step, error_type, named = failure
    assert result.status == "failed", result
    assert result.error is not None
    assert result.error.type == error_type
    assert all(key.format(id=episode) in result.error.message for key in named), result.error.message
    assert (result.s3_enriched_key, result.s3_audit_key) == (None, None)
    if keys.diarization_key(episode) in result.error.message:
        assert result.s3_diarization_key is None
    # The error artifact could still be written, in the store as it is now.
    assert result.s3_error_key == keys.error_key(episode)
    logged = ErrorArtifact.model_validate(get_json(store, result.s3_error_key))
    assert logged.status == "failed"
    assert (logged.errors[-1].step, logged.errors[-1].type) == (step, error_type)
    if error_type == "ArtifactLost":
        assert "Rerun the episode" in result.error.message
        assert logged.errors[-1].retryable


@pytest.mark.parametrize("step", list(REMOVAL_POINTS))
def test_a_store_removed_during_a_local_run_fails_it_and_a_rerun_completes(store: ObjectStore, step: str) -> None:
    episode = "GONE" + str(list(REMOVAL_POINTS).index(step))
    request = ingest(store, episode, transcript_from_turns(SPEC_TURNS))
    observer = RemoveStoreAfter(store, step)
    events: list[Event] = []

    result, _ = run_locally(
        store,
        request,
        RunOptions(diarizer="deepgram"),
        settings=Settings.from_env({}),
        observer=observer,
        event_sink=events.extend,
    )

    assert observer.removed
    assert_failed_for_lost_artifacts(result, store, episode, REMOVAL_POINTS[step])
    assert [event["name"] for event in events] == [DIARIZATION_FAILED]

    # A rerun (the transcript handed in again, as `diarflow run` does) writes everything again.
    request = ingest(store, episode, transcript_from_turns(SPEC_TURNS))
    rerun, _ = run_locally(store, request, RunOptions(diarizer="deepgram"), settings=Settings.from_env({}))
    assert rerun.status == "completed"
    for key in (rerun.s3_diarization_key, rerun.s3_audit_key, rerun.s3_enriched_key):
        assert key is not None
        assert store.exists(key)
    assert len(EnrichedTranscript.model_validate(get_json(store, keys.enriched_key(episode))).words) == 12
    assert not store.exists(keys.error_key(episode))
    record(
        f"lost store: removed after {step} ({'local' if isinstance(store, LocalStore) else 's3'}), local engine",
        scenarios=1,
        result=f"failed at {REMOVAL_POINTS[step][0]} with {REMOVAL_POINTS[step][1]}; rerun completed",
    )


class RemovedAfterWriting:
    """A real store whose objects are all deleted right after ``key`` is written (the store removed mid-run)."""

    def __init__(self, inner: ObjectStore, key: str) -> None:
        self.inner = inner
        self.url = inner.url
        self.key = key
        self.removed = False

    def put_bytes(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        self.inner.put_bytes(key, data, content_type=content_type)
        if key == self.key and not self.removed:
            remove_store(self.inner)
            self.removed = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_store_emptied_during_an_inngest_run_fails_it(s3_store: ObjectStore) -> None:
    request = ingest(s3_store, "GONE9", transcript_from_turns(SPEC_TURNS))
    emptied = RemovedAfterWriting(s3_store, keys.enriched_key("GONE9"))
    settings = Settings.from_env({"DIARFLOW_DIARIZER": "deepgram", "DIARFLOW_FUNCTION_RETRIES": "0"})
    client = mocked.Inngest(app_id="diarflow-test")
    functions = {fn.local_id: fn for fn in build_functions(client, settings, emptied)}

    run = mocked.trigger(
        functions[DIARIZE_FUNCTION],
        inngest.Event(name=TRANSCRIBED, data=request.model_dump(exclude_none=True)),
        client,
    )

    assert emptied.removed
    assert run.status is mocked.Status.COMPLETED, run.error  # the function ends normally, with a failed result
    assert_failed_for_lost_artifacts(
        PipelineResult.model_validate(run.output), s3_store, "GONE9", REMOVAL_POINTS["enrich-transcript-v1"]
    )
    record("lost store: emptied after enrich (s3), Inngest engine", scenarios=1, result="failed, ArtifactLost")
