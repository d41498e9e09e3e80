"""The step interface the pipeline is written against, and what a step is.

A :class:`Step` is a definition: a name, an argument model, a result model and
a body. The pipeline calls ``steps.run(STEP, ws, args)`` with a typed argument
model and gets the typed result back. Two engines implement :class:`Steps`:
the local runner (checkpoints in the store) and the Inngest adapter
(``ctx.step``). Both serialise the arguments to JSON and hand the body the
model validated again from that JSON, so what a step receives is exactly what
could cross a process boundary; results are small JSON objects, anything large
goes to the store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Generic, Protocol, TypeAlias, TypeVar

from pydantic import ValidationError

from diarflow.contracts import parse_contract
from diarflow.contracts.results import StepResult
from diarflow.contracts.step_args import StepArgs
from diarflow.errors import StepFailed
from diarflow.orchestration.workspace import Workspace

JSONObject: TypeAlias = dict[str, Any]
Event: TypeAlias = dict[str, Any]
"""``{"name": "...", "data": {...}}``, as Inngest sends events."""

ArgsT = TypeVar("ArgsT", bound=StepArgs)
ResultT = TypeVar("ResultT", bound=StepResult)


@dataclass(frozen=True)
class Step(Generic[ArgsT, ResultT]):
    """One kind of step: what it is called, what it takes, what it returns, and what it does.

    The result model declares which store objects a result depends on
    (:attr:`~diarflow.contracts.results.StepResult.key_fields`), so an engine
    that caches results knows what to check without guessing from field names.
    """

    name: str
    args: type[ArgsT]
    result: type[ResultT]
    body: Callable[[Workspace, ArgsT], ResultT]

    def named(self, name: str) -> Step[ArgsT, ResultT]:
        """The same step under another name, for a step run more than once per run (``update-error-log-v1.final``)."""
        return replace(self, name=name)

    def call(self, ws: Workspace, serialised_args: JSONObject) -> ResultT:
        """Run the body on arguments as an engine serialised them; a defect in them names the field."""
        return self.body(ws, parse_contract(self.args, serialised_args, where=f"{self.name}.args"))

    def read_result(self, output: object) -> ResultT:
        """A result as an engine remembered it, checked against the result model."""
        try:
            return self.result.model_validate(output)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "result"
            raise StepFailed(
                self.name,
                "InvalidStepOutput",
                f"the remembered result is not a {self.result.__name__}: {where}: {first['msg']}",
                retryable=False,
                attempt=1,
            ) from None


class Steps(Protocol):
    """Durable steps: each named step runs at most once per run and its result is remembered."""

    def run(self, step: Step[ArgsT, ResultT], ws: Workspace, args: ArgsT) -> ResultT:
        """Run ``step`` on ``args``; raise :class:`~diarflow.errors.StepFailed` if it fails for good."""
        ...

    def sleep(self, name: str, seconds: float) -> None:
        """Wait durably (the engine may suspend the run instead of blocking)."""

    def send_event(self, name: str, events: list[Event]) -> None:
        """Send events as step ``name`` (at most once per run)."""

    def wait_for_event(self, name: str, *, event: str, if_expression: str, timeout_seconds: float) -> Event | None:
        """Wait for ``event`` matching the Inngest expression (e.g. ``async.data.job_id == "j1"``); None on timeout.

        Engines that cannot be woken by events (the local runner) raise
        :class:`NotImplementedError`; callers poll instead.
        """
        ...
