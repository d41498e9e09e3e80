"""The step boundary: argument models refuse what does not fit, result models declare what a checkpoint depends on."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from diarflow.adapters.stores import ObjectStore
from diarflow.contracts import (
    DiarizationInfo,
    EnrichmentInfo,
    ErrorLogInfo,
    ErrorSummary,
    IdentificationInfo,
    TranscriptInfo,
    VerificationInfo,
)
from diarflow.contracts.results import (
    DiarizerChosen,
    EventsSent,
    JobStatus,
    ReportInfo,
    StepResult,
    StoredRef,
    SubmittedJob,
    TranscriptionInfo,
    TranscriptionStats,
)
from diarflow.contracts.step_args import EnrichArgs, StepArgs
from diarflow.errors import InvalidInput
from diarflow.orchestration import LocalRunner, Workspace, stages
from diarflow.orchestration.inngest_engine import InngestSteps
from diarflow.orchestration.steps import Step
from diarflow.orchestration.workspace import digest

TRANSCRIPT = StoredRef(key="transcripts/E1/deepgram.json", digest=digest(b"transcript"))
DIARIZATION = StoredRef(key="diarization/E1.json", digest=digest(b"diarization"))
AUDIT = StoredRef(key="diarization/E1.audit.json", digest=digest(b"audit"))


# --- argument models ----------------------------------------------------------------------------


def test_an_argument_model_refuses_a_missing_field_naming_it() -> None:
    with pytest.raises(ValidationError) as refused:
        EnrichArgs(episode_id="E1", transcript=TRANSCRIPT, diarization=DIARIZATION)  # type: ignore[call-arg]
    assert [error["loc"] for error in refused.value.errors()] == [("audit",)]


def test_an_argument_model_refuses_a_key_and_digest_swapped_naming_the_field() -> None:
    with pytest.raises(ValidationError) as refused:
        StoredRef(key=TRANSCRIPT.digest, digest=TRANSCRIPT.key)
    assert [error["loc"] for error in refused.value.errors()] == [("digest",)]


def test_an_argument_model_refuses_an_unknown_field_naming_it() -> None:
    with pytest.raises(ValidationError) as refused:
        EnrichArgs(
            episode_id="E1",
            transcript=TRANSCRIPT,
            diarization=DIARIZATION,
            audit=AUDIT,
            transcript_digest=TRANSCRIPT.digest,  # type: ignore[call-arg]  # the old positional spelling
        )
    assert [error["loc"] for error in refused.value.errors()] == [("transcript_digest",)]


def test_arguments_an_engine_serialised_wrongly_fail_the_step_naming_the_field(local_store: ObjectStore) -> None:
    serialised = EnrichArgs(episode_id="E1", transcript=TRANSCRIPT, diarization=DIARIZATION, audit=AUDIT).model_dump(
        mode="json"
    )
    swapped = {**serialised, "diarization": {"key": DIARIZATION.digest, "digest": DIARIZATION.key}}
    with pytest.raises(InvalidInput) as refused:
        stages.ENRICH.call(Workspace(store=local_store), swapped)
    assert refused.value.field == "enrich-transcript-v1.args.diarization.digest"

    missing = {name: value for name, value in serialised.items() if name != "audit"}
    with pytest.raises(InvalidInput) as refused:
        stages.ENRICH.call(Workspace(store=local_store), missing)
    assert refused.value.field == "enrich-transcript-v1.args.audit"


# --- result models declare what a checkpoint depends on ------------------------------------------


class NoteArgs(StepArgs):
    text: str


class NoteWritten(StepResult):
    """A result whose artifact key is under a name no convention would have guessed."""

    key_fields = ("where_it_went",)

    where_it_went: str
    length: int


class NoteWrittenUndeclared(StepResult):
    where_it_went: str
    length: int


NOTE_KEY = "notes/E1.txt"


def write_note(ws: Workspace, args: NoteArgs) -> NoteWritten:
    ws.store.put_bytes(NOTE_KEY, args.text.encode())
    return NoteWritten(where_it_went=NOTE_KEY, length=len(args.text))


def write_note_undeclared(ws: Workspace, args: NoteArgs) -> NoteWrittenUndeclared:
    ws.store.put_bytes(NOTE_KEY, args.text.encode())
    return NoteWrittenUndeclared(where_it_went=NOTE_KEY, length=len(args.text))


WRITE_NOTE = Step("write-note-v1", NoteArgs, NoteWritten, write_note)


def test_a_declared_artifact_under_any_name_invalidates_the_checkpoint_when_it_changes(
    local_store: ObjectStore,
) -> None:
    ws = Workspace(store=local_store)
    first = LocalRunner(local_store, "E1")
    assert first.run(WRITE_NOTE, ws, NoteArgs(text="hello")) == NoteWritten(where_it_went=NOTE_KEY, length=5)
    again = LocalRunner(local_store, "E1")
    again.run(WRITE_NOTE, ws, NoteArgs(text="hello"))
    assert (again.executed, again.skipped) == ([], ["write-note-v1"])

    local_store.put_bytes(NOTE_KEY, b"edited by hand")
    after_edit = LocalRunner(local_store, "E1")
    after_edit.run(WRITE_NOTE, ws, NoteArgs(text="hello"))
    assert after_edit.executed == ["write-note-v1"]
    assert local_store.get_bytes(NOTE_KEY) == b"hello"


def test_an_undeclared_field_is_not_checked_whatever_its_name(local_store: ObjectStore) -> None:
    """The rule is the model's declaration: the same field left undeclared is not a dependency."""
    ws = Workspace(store=local_store)
    step = Step("write-note-v1", NoteArgs, NoteWrittenUndeclared, write_note_undeclared)
    LocalRunner(local_store, "E1").run(step, ws, NoteArgs(text="hello"))
    local_store.put_bytes(NOTE_KEY, b"edited by hand")
    again = LocalRunner(local_store, "E1")
    again.run(step, ws, NoteArgs(text="hello"))
    assert again.skipped == ["write-note-v1"]


class RegistryRead(StepResult):
    key_fields = ()
    prefix_fields = ("consulted",)

    consulted: str


def test_a_declared_prefix_invalidates_the_checkpoint_when_its_listing_changes(local_store: ObjectStore) -> None:
    ws = Workspace(store=local_store)
    local_store.put_bytes("people/P1/a.json", b"{}")
    step = Step("read-people-v1", NoteArgs, RegistryRead, lambda ws, args: RegistryRead(consulted="people/P1/"))
    LocalRunner(local_store, "E1").run(step, ws, NoteArgs(text="x"))
    unchanged = LocalRunner(local_store, "E1")
    unchanged.run(step, ws, NoteArgs(text="x"))
    assert unchanged.skipped == ["read-people-v1"]

    local_store.put_bytes("people/P1/b.json", b"{}")
    changed = LocalRunner(local_store, "E1")
    changed.run(step, ws, NoteArgs(text="x"))
    assert changed.executed == ["read-people-v1"]


def test_declaring_a_field_the_model_does_not_have_fails_at_once() -> None:
    with pytest.raises(TypeError, match=r"s3_report_keys"):

        class Misspelt(StepResult):
            key_fields = ("s3_report_keys",)

            s3_report_key: str


def _legacy_keys(result: dict[str, Any]) -> list[str]:
    """What the local runner checked before result models declared it: fields named by convention."""
    return sorted(
        value
        for name, value in result.items()
        if isinstance(value, str) and (name == "transcript_key" or (name.startswith("s3_") and name.endswith("_key")))
    )


def _legacy_prefixes(result: dict[str, Any]) -> list[str]:
    return sorted(value for name, value in result.items() if name.endswith("_prefix") and isinstance(value, str))


EVERY_RESULT: list[StepResult] = [
    TranscriptInfo(
        transcript_key=TRANSCRIPT.key,
        digest=TRANSCRIPT.digest,
        num_words=3,
        num_utterances=1,
        duration=1.5,
        has_speakers=True,
    ),
    DiarizationInfo(
        s3_diarization_key=DIARIZATION.key,
        source="local",
        digest=DIARIZATION.digest,
        num_segments=2,
        num_speakers=2,
        duration=3.0,
    ),
    IdentificationInfo(
        s3_audit_key=AUDIT.key,
        digest=AUDIT.digest,
        num_speakers=2,
        identified_speakers=1,
        registry_status="ok",
        registry_prefix="voiceprints/P1/",
    ),
    EnrichmentInfo(
        s3_enriched_key="diarization/E1.enriched.json", digest=digest(b"e"), num_words=3, unattributed_words=0
    ),
    VerificationInfo(
        s3_diarization_key=DIARIZATION.key, s3_audit_key=AUDIT.key, s3_enriched_key="diarization/E1.enriched.json"
    ),
    ErrorLogInfo(s3_error_key="diarization/E1.error.json", num_errors=1),
    ErrorLogInfo(s3_error_key=None, num_errors=0),
    ReportInfo(s3_report_key="diarization/E1.report.html"),
    TranscriptionInfo(episode_id="E1", transcript_key=TRANSCRIPT.key, stats=TranscriptionStats(words=3, duration=1.5)),
    SubmittedJob(job_id="j1", status="created", model="precision-2"),
    SubmittedJob(job_id="j1", status="created", model="precision-2", voiceprint_labels=[("vp1", "diane")]),
    JobStatus(job_id="j1", status="running"),
    DiarizerChosen(diarizer="local"),
    EventsSent(sent=1),
]


@pytest.mark.parametrize("result", EVERY_RESULT, ids=lambda result: type(result).__name__)
def test_every_result_declares_what_the_naming_convention_used_to_find(result: StepResult) -> None:
    """Checkpoints depend on the same objects as before the declarations (no rerun, no missed change)."""
    wire = result.to_json_dict()
    assert result.store_keys() == _legacy_keys(wire)
    assert result.store_prefixes() == _legacy_prefixes(wire)
    assert type(result).model_validate(wire) == result  # what an engine remembers reads back as it was


def test_result_dicts_keep_their_wire_shape() -> None:
    assert ErrorLogInfo(s3_error_key=None, num_errors=0).to_json_dict() == {"s3_error_key": None, "num_errors": 0}
    plain = SubmittedJob(job_id="j1", status="created", model="precision-2")
    assert plain.to_json_dict() == {"job_id": "j1", "status": "created", "model": "precision-2"}
    identify = SubmittedJob(job_id="j1", status="created", model="m", voiceprint_labels=[("vp1", "diane")])
    assert identify.to_json_dict()["voiceprint_labels"] == [["vp1", "diane"]]
    assert TranscriptionInfo(
        episode_id="E1", transcript_key=TRANSCRIPT.key, stats=TranscriptionStats(words=3, duration=1.5)
    ).to_json_dict() == {"episode_id": "E1", "transcript_key": TRANSCRIPT.key, "stats": {"words": 3, "duration": 1.5}}


def test_a_degraded_result_is_not_kept_as_a_checkpoint(local_store: ObjectStore) -> None:
    error = ErrorSummary(type="StorageUnavailable", message="registry down")
    step = Step(
        "identify-v1",
        NoteArgs,
        IdentificationInfo,
        lambda ws, args: IdentificationInfo(
            s3_audit_key=AUDIT.key,
            digest=AUDIT.digest,
            num_speakers=1,
            identified_speakers=0,
            registry_status="unavailable",
            error=error,
        ),
    )
    ws = Workspace(store=local_store)
    LocalRunner(local_store, "E1").run(step, ws, NoteArgs(text="x"))
    again = LocalRunner(local_store, "E1")
    assert again.run(step, ws, NoteArgs(text="x")).degraded_by() == error
    assert again.executed == ["identify-v1"]


# --- the Inngest engine hands the body JSON, and reads the memoised JSON back through the model -----


class RecordingStep:
    """``ctx.step`` that runs the handler at once, as the SDK does the first time, and keeps what it was given."""

    def __init__(self) -> None:
        self.given: list[object] = []

    def run(self, name: str, handler: Any, *handler_args: object) -> object:
        self.given.extend(handler_args)
        return handler(*handler_args)


def test_the_inngest_engine_passes_arguments_as_json_and_returns_the_result_model(local_store: ObjectStore) -> None:
    ctx_step = RecordingStep()
    steps = InngestSteps(ctx_step)  # type: ignore[arg-type]
    result = steps.run(WRITE_NOTE, Workspace(store=local_store), NoteArgs(text="hello"))
    assert ctx_step.given == [{"text": "hello"}]
    assert result == NoteWritten(where_it_went=NOTE_KEY, length=5)
