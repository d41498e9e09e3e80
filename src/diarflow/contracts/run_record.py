"""``runs/<id>/request.json``: what an episode's last local run was given, so a command can run it again."""

from __future__ import annotations

from diarflow.contracts._base import Contract
from diarflow.contracts.events import DiarizeRequested
from diarflow.contracts.results import ResolvedDiarizer
from diarflow.contracts.step_args import SpeakerHints


class RunRecord(Contract):
    """The trigger and the diarizer that produced the stored diarization (``auto`` and any fallback resolved).

    ``diarflow speakers`` reruns the episode with exactly these, so every step before the corrections is
    answered from its checkpoint: recording a correction never diarizes again.
    """

    request: DiarizeRequested
    diarizer: ResolvedDiarizer
    hints: SpeakerHints = SpeakerHints()
