"""Orchestration: the pipeline written once, and the engines that drive it."""

from diarflow.orchestration.local import ingest_transcript, run_locally
from diarflow.orchestration.local_runner import LocalRunner, StepObserver
from diarflow.orchestration.pipeline import RunOptions, diarize_episode
from diarflow.orchestration.steps import Event, Step, Steps
from diarflow.orchestration.workspace import Workspace

__all__ = [
    "Event",
    "LocalRunner",
    "RunOptions",
    "Step",
    "StepObserver",
    "Steps",
    "Workspace",
    "diarize_episode",
    "ingest_transcript",
    "run_locally",
]
