"""Storage keys of every artifact (README, "What you get" and "Storage layout").

Keys are relative to the store root; they are never ``s3://`` URIs. Every
helper validates its ids first, so a malformed id fails before any I/O.
"""

from __future__ import annotations

from diarflow.contracts.ids import validate_id


def transcript_key(episode_id: str) -> str:
    """The Deepgram transcript of an episode."""
    return f"transcripts/{validate_id(episode_id)}/deepgram.json"


def diarization_key(episode_id: str) -> str:
    """The raw diarization (segments from whichever source produced them)."""
    return f"diarization/{validate_id(episode_id)}.json"


def corrections_key(episode_id: str) -> str:
    """A person's corrections to the episode's speakers (append-only; never written by a run)."""
    return f"diarization/{validate_id(episode_id)}.corrections.json"


def corrected_diarization_key(episode_id: str) -> str:
    """The raw diarization with the corrections applied: what identification and enrichment read."""
    return f"diarization/{validate_id(episode_id)}.corrected.json"


def diarizations_in_use(episode_id: str) -> tuple[str, str]:
    """Where the diarization the episode's artifacts were derived from is: the corrected one when it exists."""
    return corrected_diarization_key(episode_id), diarization_key(episode_id)


def enriched_key(episode_id: str) -> str:
    """The speaker-attributed transcript."""
    return f"diarization/{validate_id(episode_id)}.enriched.json"


def audit_key(episode_id: str) -> str:
    """Clusters, identification decisions and near misses."""
    return f"diarization/{validate_id(episode_id)}.audit.json"


def error_key(episode_id: str) -> str:
    """The errors of the latest run of an episode."""
    return f"diarization/{validate_id(episode_id)}.error.json"


def clip_key(episode_id: str, label: str) -> str:
    """A cluster's representative audio clip, kept for the audit."""
    return f"diarization/{validate_id(episode_id)}/clips/{validate_id(label, 'label')}.wav"


def report_key(episode_id: str) -> str:
    """The self-contained HTML report."""
    return f"diarization/{validate_id(episode_id)}.report.html"


def exports_prefix(episode_id: str) -> str:
    """Where ``diarflow export --format all`` writes its files."""
    return f"diarization/{validate_id(episode_id)}/exports/"


def voiceprint_key(podcast_id: str, voiceprint_id: str) -> str:
    """One entry of a podcast's voiceprint registry."""
    return f"voiceprints/{validate_id(podcast_id, 'podcast_id')}/{validate_id(voiceprint_id, 'voiceprint_id')}.json"


def voiceprints_prefix(podcast_id: str) -> str:
    """All voiceprints of a podcast."""
    return f"voiceprints/{validate_id(podcast_id, 'podcast_id')}/"


def checkpoint_key(episode_id: str, step: str) -> str:
    """The local runner's record of a finished step."""
    return f"runs/{validate_id(episode_id)}/{validate_id(step.replace('.', '_').replace(':', '_'), 'step')}.json"


def run_request_key(episode_id: str) -> str:
    """What the episode's last local run was given, so ``diarflow speakers`` can run it again."""
    return f"runs/{validate_id(episode_id)}/request.json"


def checkpoints_prefix(episode_id: str) -> str:
    """All local-runner checkpoints of an episode."""
    return f"runs/{validate_id(episode_id)}/"
