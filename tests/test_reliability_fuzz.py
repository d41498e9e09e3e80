"""Property-based fuzzing of every reader of untrusted input: never a crash, always an error naming the field.

Readers under test: the transcript reader (and, for every transcript it
accepts, the Deepgram fallback and word alignment downstream), the stored
raw-diarization reader, the pyannoteAI job parser, event validation, the
pyannoteAI webhook handler, id validation and the audio URL policy.

Inputs are arbitrary JSON, valid documents with 1–3 random mutations (a value
replaced by any JSON, a key deleted), and raw bytes. Any value may be an
integer at or past the int64 and uint64 edges, or arrays nested 600 to 5,000
levels deep (written out as JSON by :func:`json_bytes`, which, unlike
``orjson.dumps``, has no depth limit and writes integers of any size). The only
exceptions allowed are diarflow's own input errors; their ``field`` must be a
path that exists in the input (or whose parent does, when the message says "is
missing"). Each test counts the cases it ran (docs/reliability.md lists them).
"""

from __future__ import annotations

import math
import posixpath
import re
import string
import time
from collections import Counter
from types import MappingProxyType
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diarflow.adapters.diarizers.base import DiarizationJob
from diarflow.adapters.diarizers.deepgram_fallback import DeepgramFallbackDiarizer
from diarflow.adapters.http import RemoteResponseInvalid
from diarflow.adapters.pyannote import Job, diarizer_output, handle_webhook, sign
from diarflow.adapters.pyannote._client import _validate
from diarflow.adapters.registry import VoiceprintRegistry
from diarflow.adapters.stores import LocalStore, check_key
from diarflow.adapters.url_policy import InvalidUrl, UrlPolicy, check_audio_url, is_public_address
from diarflow.config import Settings
from diarflow.contracts import MAX_SECONDS, DiarizeRequested, TranscribeRequested, keys, parse_event_data, validate_id
from diarflow.contracts.results import StoredRef
from diarflow.contracts.step_args import IdentifyArgs
from diarflow.domain.alignment import align_words
from diarflow.domain.exports import FORMATS, EpisodeExport, render
from diarflow.domain.fallback import own_label_confidences, own_turn_speakers
from diarflow.domain.transcript import Transcript, parse_transcript, read_transcript
from diarflow.domain.turns import Turns
from diarflow.errors import (
    DiarflowError,
    InvalidDiarization,
    InvalidId,
    InvalidInput,
    InvalidTranscript,
    RemoteServiceError,
    StorageError,
)
from diarflow.orchestration import Workspace, stages
from diarflow.orchestration.lease import LeaseRecord
from diarflow.orchestration.workspace import digest
from diarflow.report import build_report_model, render_report
from tests.reliability import record

FUZZ = settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck), database=None)

# --- strategies ------------------------------------------------------------------------------

HUGE = [2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 2**1100, -(10**400)]
"""Integers at and past the int64 and uint64 edges, and beyond float range: readers built on numpy and math overflow."""
huge = st.one_of(st.sampled_from(HUGE), st.just(5000).map(lambda digits: 10**digits))  # too long even for str()
DEPTHS = [600, 1_000, 1_024, 1_025, 5_000]
"""Nesting within and past orjson's 1,024 levels and Python's recursion limit (msgspec and repr() recurse)."""


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


deep = st.sampled_from(DEPTHS).map(nested)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    huge,
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
json_values = st.recursive(
    st.one_of(scalars, deep),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)
times = st.one_of(
    st.floats(min_value=0, max_value=1e5, allow_nan=False),
    st.integers(0, 100_000),
    st.one_of(huge, st.floats(min_value=MAX_SECONDS - 1, max_value=1e308)),  # around 48 h, and past it up to 1e308
    json_values,
)


def valid_deepgram(num_words: int = 6) -> dict[str, Any]:
    words = [
        {
            "word": f"w{i}",
            "punctuated_word": f"W{i}.",
            "start": i * 0.5,
            "end": i * 0.5 + 0.4,
            "confidence": 0.9,
            "speaker": i % 2,
            "speaker_confidence": 0.8,
        }
        for i in range(num_words)
    ]
    utterances = [{"start": 0.0, "end": 1.4, "speaker": 0, "words": []}, {"start": 1.5, "end": 2.9, "speaker": 1}]
    return {
        "metadata": {"duration": num_words * 0.5, "request_id": "r"},
        "results": {"channels": [{"alternatives": [{"transcript": "x", "words": words}]}], "utterances": utterances},
    }


MUTATION_DEPTH = 8
"""Paths a mutation may target go this deep (a valid document is shallower; a deep value is left whole)."""


def paths_of(value: Any) -> list[tuple[Any, ...]]:
    """Every path in ``value`` down to :data:`MUTATION_DEPTH` levels, without recursing (values nest 5,000 deep)."""
    found: list[tuple[Any, ...]] = []
    pending: list[tuple[tuple[Any, ...], Any]] = [((), value)]
    while pending:
        prefix, item = pending.pop()
        found.append(prefix)
        if len(prefix) >= MUTATION_DEPTH:
            continue
        if isinstance(item, dict):
            pending.extend(((*prefix, key), child) for key, child in item.items())
        elif isinstance(item, list):
            pending.extend(((*prefix, index), child) for index, child in enumerate(item))
    return found


def mutate(document: Any, path: tuple[Any, ...], action: str, replacement: Any) -> Any:
    """``document`` with the value at ``path`` replaced or removed; copies only the containers along the path."""
    if not path:
        return replacement
    copy: Any = list(document) if isinstance(document, list) else dict(document)
    head, rest = path[0], path[1:]
    if rest:
        copy[head] = mutate(document[head], rest, action, replacement)
    elif action == "delete":
        del copy[head]
    else:
        copy[head] = replacement
    return copy


class _Raw:
    """JSON text already written, on :func:`json_bytes`'s stack."""

    __slots__ = ("text",)

    def __init__(self, text: bytes) -> None:
        self.text = text


def json_bytes(value: Any) -> bytes | None:
    """``value`` as JSON text, however deep it nests and however large its integers (None past str()'s 4,300 digits).

    A JSON file can hold both; ``orjson.dumps`` writes neither (255 levels, 64 bits), so it cannot make them.
    """
    parts: list[bytes] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Raw):
            parts.append(item.text)
        elif type(item) is list:
            parts.append(b"[")
            stack.append(_Raw(b"]"))
            for position, element in enumerate(reversed(item)):
                stack.append(element)
                if position < len(item) - 1:
                    stack.append(_Raw(b","))
        elif type(item) is dict:
            parts.append(b"{")
            stack.append(_Raw(b"}"))
            entries = list(item.items())
            for position, (key, element) in enumerate(reversed(entries)):
                stack.append(element)
                stack.append(_Raw(orjson.dumps(key) + b":"))
                if position < len(entries) - 1:
                    stack.append(_Raw(b","))
        elif type(item) is int:
            try:
                parts.append(str(item).encode())
            except ValueError:
                return None
        else:
            parts.append(orjson.dumps(item))  # strings, floats (NaN and infinity become null), booleans, null
    return b"".join(parts)


@st.composite
def mutated(draw: st.DrawFn, base: Any) -> Any:
    document = base
    for _ in range(draw(st.integers(1, 3))):
        candidates = paths_of(document)
        path = draw(st.sampled_from(candidates))
        action = draw(st.sampled_from(["replace", "replace", "delete"])) if path else "replace"
        document = mutate(document, path, action, draw(json_values))
    return document


@st.composite
def plain_transcripts(draw: st.DrawFn) -> Any:
    word = st.fixed_dictionaries(
        {"word": st.one_of(st.text(max_size=6), json_values), "start": times, "end": times},
        optional={
            "speaker": st.one_of(st.integers(-2, 5), st.text(max_size=3), json_values),
            "speaker_confidence": times,
        },
    )
    return {"words": draw(st.lists(word, max_size=6))}


@st.composite
def deepgram_variants(draw: st.DrawFn) -> Any:
    """Deepgram responses valid in many ways (ints for times, missing optional fields, …), some with a defect."""
    noisy = draw(st.booleans())

    def maybe(valid: st.SearchStrategy[Any], invalid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(valid, invalid) if noisy else valid

    time = maybe(st.one_of(st.integers(0, 50), st.floats(0, 50, allow_nan=False)), times)
    word = st.fixed_dictionaries(
        {"word": maybe(st.text(max_size=4), scalars), "start": time, "end": time},
        optional={
            "punctuated_word": maybe(st.one_of(st.none(), st.text(max_size=4)), scalars),
            "speaker": maybe(st.one_of(st.none(), st.integers(0, 4)), st.integers(-1, 10_001) | scalars),
            "speaker_confidence": maybe(st.one_of(st.none(), st.floats(0, 1), st.integers(0, 1)), scalars),
            "confidence": scalars,
        },
    )
    num_channels = draw(st.sampled_from([1, 1, 1, 2, 3]))  # multichannel=true: one channel per track
    utterance = st.fixed_dictionaries(
        {"start": time, "end": time},
        optional={
            "speaker": maybe(st.one_of(st.none(), st.integers(0, 3)), scalars),
            "channel": maybe(st.integers(0, num_channels - 1), st.integers(-1, 4) | scalars),
            "words": st.lists(word, max_size=2),
        },
    )

    def channel_words() -> list[Any]:
        # Times in order keep most words valid (end >= start, starts ascending): the accepted path runs too.
        drawn = draw(st.lists(word, max_size=5))
        if noisy or not all({type(w["start"]), type(w["end"])} <= {int, float} for w in drawn):
            return drawn
        spans = sorted((min(w["start"], w["end"]), max(w["start"], w["end"])) for w in drawn)
        return [{**w, "start": start, "end": end} for w, (start, end) in zip(drawn, spans, strict=True)]

    channels = [{"alternatives": [{"words": channel_words()}]} for _ in range(num_channels)]
    results: dict[str, Any] = {"channels": channels}
    if draw(st.booleans()):
        results["utterances"] = draw(st.one_of(st.none(), st.lists(utterance, max_size=3)))
    document: dict[str, Any] = {"results": results}
    if draw(st.booleans()):
        metadata = st.fixed_dictionaries({}, optional={"duration": time, "request_id": st.text(max_size=3)})
        document["metadata"] = draw(maybe(metadata, scalars))
    return document


transcript_documents = st.one_of(
    json_values,
    deepgram_variants(),
    mutated(valid_deepgram()),
    mutated({"words": valid_deepgram()["results"]["channels"][0]["alternatives"][0]["words"]}),
    plain_transcripts(),
)


# --- checking that an error names a real field ----------------------------------------------------


def attempt(fn: Any, *args: Any, errors: tuple[type[Exception], ...] = (InvalidInput,)) -> tuple[Any, Any]:
    """``(result, None)`` or ``(None, error)`` for the expected error types; anything else propagates (a bug)."""
    try:
        return fn(*args), None
    except errors as exc:
        return None, exc


_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def resolve(document: Any, field: str) -> tuple[bool, bool]:
    """(whole path exists, parent exists) for a ``a.b[3].c`` path in ``document``."""
    parts: list[str | int] = [m.group(1) if m.group(1) is not None else int(m.group(2)) for m in _PART.finditer(field)]
    node = document
    for position, part in enumerate(parts):
        last = position == len(parts) - 1
        in_list = isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node)
        in_dict = isinstance(part, str) and isinstance(node, dict) and part in node
        if in_list or in_dict:
            node = node[part]
        else:
            return False, last
    return True, True


def assert_names_a_real_field(document: Any, error: InvalidInput, root: str) -> None:
    assert error.field, f"no field in {error.message!r}"
    if error.field == root:
        return
    exists, parent_exists = resolve(document, error.field)
    if "is missing" in error.problem:
        assert parent_exists, f"{error.field!r} has no parent in the input ({error.message})"
    else:
        assert exists, f"{error.field!r} does not exist in the input ({error.message})"


# --- transcript reader (and what consumes an accepted transcript) ------------------------------------


def check_accepted_transcript(transcript: Transcript) -> None:
    assert len(transcript.starts) == len(transcript.ends) == len(transcript.texts) == len(transcript.channels)
    assert ((transcript.channels >= 0) & (transcript.channels < transcript.num_channels)).all()
    assert (transcript.starts >= 0).all()
    assert (transcript.ends >= transcript.starts).all()
    assert (transcript.ends <= MAX_SECONDS).all()
    assert (np.diff(transcript.starts) >= 0).all()  # in time order
    assert transcript.duration <= MAX_SECONDS
    job = DiarizationJob(episode_id="F1", audio=None, transcript=transcript)
    try:
        output = DeepgramFallbackDiarizer().diarize(job)
    except DiarflowError:
        return  # e.g. no speaker labels at all: a clear error, not a crash
    turns = output.turns
    Turns.from_segments(turns.to_segments())  # what the fallback computes passes our own validation
    confidences = np.full(len(turns.speaker_names), np.nan)
    own = own_turn_speakers(transcript, turns.speaker_names)
    alignment = align_words(
        transcript.starts,
        transcript.ends,
        turns,
        confidences,
        gap_tolerance=1.0,
        near_miss_margin=0.15,
        preferred_speakers=own,
    )
    words = own_label_confidences(transcript, alignment, own)
    assert ((words[~np.isnan(words)] >= 0) & (words[~np.isnan(words)] <= 1)).all()
    labelled = own >= 0
    np.testing.assert_array_equal(alignment.speakers[labelled], own[labelled])  # each word on its own speaker


def assert_agrees_with_dict_reader(
    data: bytes, parsed: Transcript | None, error: InvalidTranscript | None, document: Any = None
) -> None:
    """``parse_transcript`` (typed fast path, then dicts) and the dict reader alone accept and refuse alike.

    One latitude: orjson refuses a whole document for a number past 1e308 or
    nesting past 1,024 levels anywhere, while msgspec skips the fields
    diarflow does not read, whatever numbers they hold and as deep as the
    interpreter lets it recurse (hypothesis raises the limit to 2,000; Python
    3.12 checks a C limit of its own). A transcript read that way must equal
    the dict reader's reading of ``document``, the value ``data`` encodes.
    """
    try:
        decoded = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        refusal = exc.msg
    else:
        refusal = None
    if refusal is not None:
        if error is None:
            assert parsed is not None
            assert document is not None, f"read what orjson refuses ({refusal}), and nothing to compare it with"
            assert_same_transcript(parsed, read_transcript(document))
        elif "depth" in refusal:  # named by where it nests too deep (the start of the path, then "…")
            assert error.problem.startswith("is nested more than 1,024 levels deep"), error
        else:
            assert error.field == "transcript", error
        return
    expected, expected_error = attempt(read_transcript, decoded, errors=(InvalidTranscript,))
    assert (None if error is None else error.message) == (None if expected_error is None else expected_error.message)
    if expected is not None:
        assert parsed is not None
        assert_same_transcript(parsed, expected)


def assert_same_transcript(actual: Transcript, expected: Transcript) -> None:
    for name in ("starts", "ends", "speakers", "speaker_confidences", "channels"):
        np.testing.assert_array_equal(getattr(actual, name), getattr(expected, name), err_msg=name)
        assert getattr(actual, name).dtype == getattr(expected, name).dtype, name
    for name in ("texts", "speaker_names", "utterances", "form", "reported_duration", "num_channels"):
        assert getattr(actual, name) == getattr(expected, name), name


def test_fuzz_transcript_reader() -> None:
    seen: Counter[str] = Counter()

    @FUZZ
    @given(document=transcript_documents)
    def check(document: Any) -> None:
        seen["cases"] += 1
        transcript, error = attempt(read_transcript, document, errors=(InvalidTranscript,))
        if error is not None:
            seen["rejected"] += 1
            assert_names_a_real_field(document, error, "transcript")
        else:
            seen["accepted"] += 1
            check_accepted_transcript(transcript)
        data = json_bytes(document)
        if data is None:
            return  # an integer of over 4,300 digits: Python will not even print it
        parsed, error = attempt(parse_transcript, data, errors=(InvalidTranscript,))
        assert error is None or error.field
        # The typed fast path for Deepgram bytes must agree with the dict reader on every input.
        assert_agrees_with_dict_reader(data, parsed, error, document)

    check()
    assert seen["cases"] >= FUZZ.max_examples * 0.9, seen  # the generated inputs really ran
    record("fuzz: transcript reader", cases=seen["cases"], accepted=seen["accepted"], rejected=seen["rejected"])


def with_field(data: bytes, position: int, value: bytes) -> bytes:
    """``data`` with a field ``"x": value`` added to one of its objects (the ``position``-th ``{``, cyclically)."""
    braces = [index for index, byte in enumerate(data) if byte == ord("{")]
    at = braces[position % len(braces)] + 1
    return data[:at] + b'"x": ' + value + (b"" if data[at : at + 1] == b"}" else b", ") + data[at:]


HOSTILE_VALUES = [b"[" * depth + b"]" * depth for depth in DEPTHS] + [str(n).encode() for n in HUGE]


def test_fuzz_transcript_bytes() -> None:
    seen: Counter[str] = Counter()
    valid = orjson.dumps(valid_deepgram())
    garbage = st.one_of(st.binary(max_size=64), st.integers(0, len(valid)).map(lambda n: valid[:n]))
    spliced = st.builds(with_field, st.just(valid), st.integers(0, 100), st.sampled_from(HOSTILE_VALUES))

    @FUZZ
    @given(data=st.one_of(garbage.map(lambda data: (data, None)), spliced.map(lambda data: (data, valid_deepgram()))))
    def check(data: tuple[bytes, Any]) -> None:
        data, document = data
        seen["cases"] += 1
        parsed, error = attempt(parse_transcript, data, errors=(InvalidTranscript,))
        assert error is None or error.field
        # The typed fast path for Deepgram bytes must agree with the dict reader on every input. A field "x"
        # spliced into the valid document is one no reader reads, whatever it holds: the document reads as before.
        assert_agrees_with_dict_reader(data, parsed, error, document)

    check()
    assert seen["cases"] >= FUZZ.max_examples * 0.9, seen  # the generated inputs really ran
    record("fuzz: transcript bytes (garbage, truncations, deep or huge values spliced in)", cases=seen["cases"])


# --- diarization readers ----------------------------------------------------------------------------

segment = st.fixed_dictionaries(
    {"start": times, "end": times, "speaker": st.one_of(st.text(max_size=4), json_values)},
    optional={"confidence": st.one_of(st.floats(-1, 2), json_values)},
)
# Mostly valid, with one defect in a few segments (a blank speaker, a confidence above 1): a defect in any of up
# to six segments refuses the list, so rarer defects keep about half of these lists readable.
clean_segments = st.lists(
    st.fixed_dictionaries(
        {
            "start": st.floats(0, 10) | st.integers(0, 10),
            "end": st.floats(10, 20),
            "speaker": st.sampled_from(["A", "B", "A", "B", " "]),
        },
        optional={"confidence": st.none() | st.floats(0, 1) | st.integers(0, 1) | st.floats(0, 1) | st.floats(1, 2)},
    ),
    max_size=6,
)
valid_raw = {
    "schema_version": 1,
    "episode_id": "F1",
    "source": "local",
    "model": None,
    "job_id": None,
    "created_at": "2026-01-01T00:00:00.000Z",
    "segments": [
        {"start": 0.0, "end": 1.0, "speaker": "S0", "confidence": 0.9},
        {"start": 1.0, "end": 2.5, "speaker": "S1", "confidence": None},
    ],
    "exclusive_segments": None,
    "warnings": [],
}


def test_fuzz_turns_from_segments() -> None:
    seen: Counter[str] = Counter()

    @FUZZ
    # Clean segment lists drawn twice as often: about half of them pass, so that reading valid input runs too.
    @given(
        segments=st.one_of(
            st.lists(segment, max_size=6), st.lists(json_values, max_size=4), clean_segments, clean_segments
        )
    )
    def check(segments: list[Any]) -> None:
        seen["cases"] += 1
        turns, error = attempt(Turns.from_segments, segments, errors=(InvalidDiarization,))
        if error is not None:
            assert_names_a_real_field({"segments": segments}, error, "segments")
        else:
            seen["accepted"] += 1
            assert len(turns) == len(segments)
            assert (turns.ends >= turns.starts).all()
            assert ((turns.starts >= 0) & (turns.ends <= MAX_SECONDS)).all()
        # Plain dicts take a column-wise path; other mappings the per-segment one. Both must agree.
        proxied = [MappingProxyType(s) if isinstance(s, dict) else s for s in segments]
        expected, expected_error = attempt(Turns.from_segments, proxied, errors=(InvalidDiarization,))
        assert (None if error is None else error.message) == (
            None if expected_error is None else expected_error.message
        )
        if expected is not None:
            for name in ("starts", "ends", "speakers", "confidences"):
                np.testing.assert_array_equal(getattr(turns, name), getattr(expected, name), err_msg=name)
            assert turns.speaker_names == expected.speaker_names

    check()
    assert seen["cases"] >= FUZZ.max_examples * 0.9, seen  # the generated inputs really ran
    assert seen["accepted"] >= FUZZ.max_examples * 0.1, seen  # valid diarizations were read too
    record("fuzz: diarization segments", cases=seen["cases"], accepted=seen["accepted"])


def test_fuzz_stored_raw_diarization(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A corrupted or hand-edited ``diarization/<id>.json`` read by identify-speakers: an error naming the field."""
    store = LocalStore(tmp_path_factory.mktemp("fuzz-store"))
    ws = Workspace(store=store, settings=Settings.from_env({}))
    key = keys.diarization_key("F1")
    seen: Counter[str] = Counter()

    @FUZZ
    @given(document=st.one_of(mutated(valid_raw), json_values))
    def check(document: Any) -> None:
        seen["cases"] += 1
        data = json_bytes(document)
        if data is None:
            return
        store.put_bytes(key, data)
        ws.memo.clear()
        errors = (InvalidDiarization, StorageError)
        args = IdentifyArgs(episode_id="F1", diarization=StoredRef(key=key, digest=digest(data)))
        _, error = attempt(stages.identify_speakers, ws, args, errors=errors)
        if isinstance(error, StorageError):  # JSON no reader takes (nested past 1,024 levels, a number past 1e308)
            seen["unreadable"] += 1
            assert f"object {key}" in error.message, error.message
            assert "levels deep" in error.message or "is not valid JSON" in error.message, error.message
        elif error is not None:
            seen["rejected"] += 1
            assert error.field.startswith(key), error.message
            rest = error.field[len(key) :].lstrip(":")
            if rest:
                assert_names_a_real_field(document, InvalidDiarization(rest, error.problem), key)

    check()
    assert seen["cases"] >= FUZZ.max_examples * 0.9, seen  # the generated inputs really ran
    record(
        "fuzz: stored raw diarization (identify-speakers)",
        cases=seen["cases"],
        rejected=seen["rejected"],
        unreadable_json=seen["unreadable"],
    )


valid_entry = {
    "schema_version": 1,
    "voiceprint_id": "v1",
    "podcast_id": "P1",
    "display_name": "Diane",
    "model": "campplus-cn-en-common",
    "embedding": [0.6, 0.8] + [0.0] * 190,  # CAM++: 192 numbers
    "source": {"audio": "intro.wav", "start": 1.0, "end": 20.0},
    "speech_seconds": 17.5,
    "created_at": "2026-01-01T00:00:00.000Z",
}


def test_fuzz_voiceprint_registry_entries(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A corrupted or hand-edited ``voiceprints/<podcast>/<id>.json``: an error naming the entry, never a crash."""
    store = LocalStore(tmp_path_factory.mktemp("fuzz-registry"))
    key = keys.voiceprint_key("P1", "v1")
    seen: Counter[str] = Counter()

    @FUZZ
    @given(document=st.one_of(mutated(valid_entry), json_values))
    def check(document: Any) -> None:
        seen["cases"] += 1
        data = json_bytes(document)
        if data is None:
            return
        store.put_bytes(key, data)
        entries, error = attempt(VoiceprintRegistry(store).entries, "P1", errors=(StorageError,))
        if error is not None:  # InvalidVoiceprintEntry, or JSON no reader takes
            seen["rejected"] += 1
            assert key in error.message, error.message
            return
        for entry in entries:
            assert entry.embedding is None or all(math.isfinite(x) for x in entry.embedding)
            for moment in (entry.source.start, entry.source.end):
                assert moment is None or 0 <= moment <= MAX_SECONDS

    check()
    assert seen["cases"] >= FUZZ.max_examples * 0.9, seen  # the generated inputs really ran
    record("fuzz: voiceprint registry entries", cases=seen["cases"], rejected=seen["rejected"])


valid_enriched = {
    "schema_version": 1,
    "episode_id": "F1",
    "source": "local",
    "created_at": "2026-01-01T00:00:00.000Z",
    "speakers": [
        {"diar_speaker": "S0", "label": "A", "speaker": "Diane", "identified": True},
        {"diar_speaker": "S1", "label": "B", "speaker": "B", "identified": False},
    ],
    "words": [
        {
            "start": 0.5 * i,
            "end": 0.5 * i + 0.4,
            "word": f"w{i}.",
            "speaker": "Diane" if i % 3 else "B",
            "speaker_confidence": 0.7,
            "diar_speaker": "S0" if i % 3 else "S1",
            "source": "local",
            "alternatives": [{"speaker": "B", "confidence": 0.6}] if i == 2 else None,
        }
        for i in range(5)
    ],
}
valid_error = {
    "schema_version": 1,
    "episode_id": "F1",
    "status": "partial",
    "errors": [
        {
            "step": "local-diarize-v1",
            "type": "AudioError",
            "message": "audio: file not found: x[/].wav",
            "retryable": False,
            "attempt": 1,
            "occurred_at": "2026-01-01T00:00:00.000Z",
        }
    ],
}
_CONTROL_CHARACTERS = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")  # all but the newline between lines


def as_stored(document: Any) -> Any:
    """``document`` as a reader gets it back from the store: written as JSON, decoded by orjson (None if it cannot)."""
    data = json_bytes(document)
    if data is None:
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None  # get_json refuses it first, with a StorageError (see the raw diarization fuzzer)


def test_fuzz_stored_enriched_transcript_in_exports_and_the_report() -> None:
    """``diarflow export`` and ``diarflow report`` on corrupted artifacts: a clear error, or a note on the page."""
    seen: Counter[str] = Counter()

    @FUZZ
    @given(
        enriched=st.one_of(mutated(valid_enriched), json_values),
        diarization=st.one_of(st.just(valid_raw), mutated(valid_raw)),
        error=st.one_of(st.none(), mutated(valid_error), json_values),
    )
    def check(enriched: Any, diarization: Any, error: Any) -> None:
        seen["cases"] += 1
        enriched, diarization, error = as_stored(enriched), as_stored(diarization), as_stored(error)
        episode, refused = attempt(
            lambda: EpisodeExport.from_artifacts("F1", enriched=enriched, diarization=diarization)
        )
        if refused is not None:
            seen["export refused"] += 1
            assert refused.field, refused.message
        else:
            for name in FORMATS:
                text, refused = attempt(render, episode, name)
                if text is None:
                    continue
                seen["exports written"] += 1
                assert not _CONTROL_CHARACTERS.search(text), (name, text)
            if episode.words is not None:
                assert episode.words.starts_ms == sorted(episode.words.starts_ms)
                assert all(0 <= ms <= MAX_SECONDS * 1000 for ms in episode.words.ends_ms)
        readable = [enriched, diarization]
        enriched, diarization = (value if isinstance(value, dict) else None for value in readable)
        render_report(enriched, diarization, None, error, episode_id="F1")  # a page, whatever the artifacts hold
        model = build_report_model("F1", enriched, diarization, None, error)
        for times in (model.words.start_ms, model.words.end_ms, model.turns.start_ms, model.turns.end_ms):
            assert all(0 <= ms <= MAX_SECONDS * 1000 for ms in times)  # never -9223372036854775808

    check()
    assert seen["cases"] >= FUZZ.max_examples * 0.9, seen  # the generated inputs really ran
    assert seen["exports written"] > 0, seen
    record(
        "fuzz: stored enriched transcript (exports, report)",
        cases=seen["cases"],
        export_refused=seen["export refused"],
        exports_written=seen["exports written"],
    )


def test_fuzz_lease_records() -> None:
    """Whatever ``runs/<id>/lease.json`` holds, reading it never raises: an unreadable lease counts as stale."""
    seen: Counter[str] = Counter()
    valid_lease = {
        "schema_version": 1,
        "episode_id": "F1",
        "token": "t",
        "holder": "host/1",
        "host": "h",
        "pid": 4242,
        "pid_started": None,
        "acquired_at": "2026-01-01T00:00:00+00:00",
        "expires_at": "2026-01-01T00:01:00+00:00",
        "ttl_seconds": 60.0,
    }

    @FUZZ
    @given(document=st.one_of(mutated(valid_lease), json_values))
    def check(document: Any) -> None:
        seen["cases"] += 1
        data = json_bytes(document)
        if data is None:
            return
        lease = LeaseRecord.from_json(data)
        if lease is None:
            seen["unreadable"] += 1
            return
        assert 0 < lease.pid < 2**31
        assert 0 < lease.ttl_seconds <= 24 * 3600
        assert all(isinstance(v, str) for v in (lease.episode_id, lease.token, lease.holder, lease.host))

    check()
    assert seen["cases"] >= FUZZ.max_examples * 0.9, seen  # the generated inputs really ran
    record("fuzz: lease records", cases=seen["cases"], unreadable=seen["unreadable"])


job_output = st.fixed_dictionaries(
    {},
    optional={
        "diarization": st.one_of(st.lists(segment, max_size=5), json_values),
        "exclusiveDiarization": st.one_of(st.lists(segment, max_size=3), json_values),
        "confidence": st.one_of(
            st.fixed_dictionaries(
                {"score": st.lists(st.one_of(st.floats(), st.integers()), max_size=8), "resolution": times}
            ),
            json_values,
        ),
        "warning": json_values,
        "error": json_values,
    },
)
jobs = st.one_of(
    st.fixed_dictionaries(
        {
            "jobId": st.one_of(st.text(max_size=8), json_values),
            "status": st.one_of(
                st.sampled_from(["succeeded", "failed", "canceled", "running", "pending", "created"]), json_values
            ),
        },
        optional={"output": st.one_of(job_output, json_values), "createdAt": json_values},
    ),
    json_values,
)


def test_fuzz_pyannote_job_output() -> None:
    seen: Counter[str] = Counter()

    @FUZZ
    @given(data=jobs)
    def check(data: Any) -> None:
        seen["cases"] += 1
        _, error = attempt(
            lambda: diarizer_output(_validate(Job, data, "GET /v1/jobs/j1")), errors=(RemoteServiceError,)
        )
        if isinstance(error, RemoteResponseInvalid):
            seen["rejected"] += 1
            # "…: <field path>: <problem>" from the wire model, or the turn reader's "<path>[i].<field>: …"
            named = re.search(r"(unexpected body|unreadable diarization): ([^:]+):", error.message)
            assert named, error.message
            assert re.search(r"[A-Za-z_]", named.group(2)), error.message
        elif error is not None:
            seen["job not usable"] += 1  # failed / canceled / not finished / output gone: each with its reason

    check()
    assert seen["cases"] >= FUZZ.max_examples * 0.9, seen  # the generated inputs really ran
    record("fuzz: pyannoteAI job output", cases=seen["cases"], rejected=seen["rejected"])


# --- events, webhooks, ids, URLs ----------------------------------------------------------------------

valid_diarize_event = {
    "episode_id": "EP1",
    "audio_url": "https://media.example/ep1.mp3",
    "transcript_key": "transcripts/EP1/deepgram.json",
    "podcast_id": "POD1",
    "duration": 12.5,
    "word_count": 30,
}
hostile_text = st.one_of(
    st.sampled_from(
        ["../x", "a/b", "", "x" * 1024, "Е1", "ＥＰ1", "ep1\x00", "/abs", "s3://b/k", "..", "a/../b", "a//b"]
    ),
    st.text(max_size=20),
)


def test_fuzz_event_validation() -> None:
    seen: Counter[str] = Counter()

    @FUZZ
    @given(
        model=st.sampled_from([DiarizeRequested, TranscribeRequested]),
        data=st.one_of(
            mutated(valid_diarize_event),
            st.dictionaries(
                st.sampled_from([*valid_diarize_event, "s3_transcript_key", "rerun"]),
                st.one_of(hostile_text, json_values),
            ),
            json_values,
        ),
    )
    def check(model: type[DiarizeRequested] | type[TranscribeRequested], data: Any) -> None:
        seen["cases"] += 1
        event, error = attempt(parse_event_data, model, data)
        if error is not None:
            seen["rejected"] += 1
            assert error.field.startswith("event.data"), error.message
            if error.field != "event.data" and isinstance(data, dict):
                first = error.field.split(".")[2]
                assert first in data or first in model.model_fields or "missing" in error.problem.lower(), error.message
            return
        validate_id(event.episode_id)
        if isinstance(event, DiarizeRequested):
            key = event.transcript_key
            assert posixpath.normpath(key) == key
            assert not key.startswith(("/", "..")), key
        if event.audio_url is not None:
            _, refused = attempt(check_audio_url, event.audio_url, UrlPolicy())
            assert refused is None or refused.field == "audio_url"

    check()
    assert seen["cases"] >= FUZZ.max_examples * 0.9, seen  # the generated inputs really ran
    record("fuzz: event validation", cases=seen["cases"], rejected=seen["rejected"])


def _dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except (orjson.JSONEncodeError, TypeError):
        return b"{}"  # an integer beyond 64 bits: no JSON document can hold it


def test_fuzz_webhook_never_accepts_an_unsigned_or_forged_request() -> None:
    secret = "whs-test-FAKE-fuzz-secret"
    seen: Counter[str] = Counter()

    @FUZZ
    @given(
        body=st.one_of(
            st.binary(max_size=80),
            json_values.map(_dumps),
            st.builds(  # a real notification: accepted if, and only if, it is signed
                lambda job, status: orjson.dumps({"jobId": job, "status": status}),
                st.text(min_size=1, max_size=12),
                st.sampled_from(["succeeded", "failed", "canceled", "running"]),
            ),
        ),
        headers=st.dictionaries(
            st.sampled_from(
                ["X-Signature", "x-signature", "X-Request-Timestamp", "x-request-timestamp", "Content-Type"]
            ),
            st.text(alphabet=string.printable, max_size=48),
        ),
        sign_it=st.booleans(),
    )
    def check(body: bytes, headers: dict[str, str], sign_it: bool) -> None:
        seen["cases"] += 1
        now = time.time()
        if sign_it:
            stamp = str(int(now))
            headers = {"X-Request-Timestamp": stamp, "X-Signature": sign(secret, stamp, body)}
        result = handle_webhook(headers, body, secret=secret, now=now)
        if not sign_it:
            assert result.status in (400, 401), result
            assert result.event is None
        else:
            assert result.status in (200, 400), result
            seen["signed and accepted"] += result.event is not None

    check()
    assert seen["cases"] >= FUZZ.max_examples * 0.9, seen  # the generated inputs really ran
    record("fuzz: webhook signature", cases=seen["cases"], accepted_signed=seen["signed and accepted"])


def test_fuzz_ids_never_escape_their_prefix() -> None:
    seen: Counter[str] = Counter()

    @FUZZ
    @given(value=st.one_of(hostile_text, st.text(alphabet=string.printable + "éЕＥ/\\.\x00", max_size=140)))
    def check(value: str) -> None:
        seen["cases"] += 1
        _, error = attempt(validate_id, value, "episode_id")
        if error is not None:
            assert isinstance(error, InvalidId)
            assert error.field == "episode_id"
            with pytest.raises(InvalidId):
                keys.enriched_key(value)
            return
        seen["accepted"] += 1
        assert value.isascii()
        for key in (keys.transcript_key(value), keys.enriched_key(value), keys.checkpoint_key(value, "s")):
            assert check_key(key) == key
            assert posixpath.normpath(key) == key
            assert key.split("/")[1].startswith(value)

    check()
    assert seen["cases"] >= FUZZ.max_examples * 0.9, seen  # the generated inputs really ran
    record("fuzz: ids", cases=seen["cases"], accepted=seen["accepted"])


def test_fuzz_audio_url_policy() -> None:
    seen: Counter[str] = Counter()
    hosts = st.one_of(
        st.sampled_from(
            [
                "127.0.0.1",
                "127.1",
                "0x7f.1",
                "2130706433",
                "[::1]",
                "[::ffff:127.0.0.1]",
                "169.254.169.254",
                "10.0.0.1",
                "192.168.1.1",
                "172.16.0.1",
                "100.64.0.1",
                "0.0.0.0",
                "localhost",
                "LOCALHOST.",
                "a.localhost",
                "[fe80::1]",
                "[fc00::1]",
                "example.com",
                "8.8.8.8",
                "[2001:4860:4860::8888]",
            ]
        ),
        st.text(alphabet=string.ascii_letters + string.digits + ".-[]:%@", max_size=20),
    )
    urls = st.one_of(
        st.builds(
            lambda s, h, p: f"{s}://{h}{p}",
            st.sampled_from(["http", "https", "HTTP", "s3", "file", "ftp", "gopher"]),
            hosts,
            st.text(max_size=10),
        ),
        st.text(max_size=40),
    )

    @FUZZ
    @given(url=urls, allow_file=st.booleans())
    def check(url: str, allow_file: bool) -> None:
        seen["cases"] += 1
        kind, error = attempt(check_audio_url, url, UrlPolicy(allow_file=allow_file))
        if error is not None:
            assert isinstance(error, InvalidUrl)
            assert error.field == "audio_url"
            seen["refused"] += 1
            return
        if kind == "remote":
            from urllib.parse import urlsplit

            host = (urlsplit(url).hostname or "").rstrip(".").lower()
            assert host
            assert host != "localhost"
            assert not host.endswith(".localhost")
            try:
                import ipaddress

                address = str(ipaddress.ip_address(host))
            except ValueError:
                return
            assert is_public_address(address), url
        elif kind == "file":
            assert allow_file

    check()
    assert seen["cases"] >= FUZZ.max_examples * 0.9, seen  # the generated inputs really ran
    record("fuzz: audio URL policy", cases=seen["cases"], refused=seen["refused"])
