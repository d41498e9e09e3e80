"""Shared fixtures.

Object stores: ``store`` runs a test once on a local directory and once on S3
(a SeaweedFS server this session starts on first use and stops at the end).
Deselect the S3 runs with ``-m "not s3"``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from diarflow.adapters.stores import ObjectStore, open_store
from tests.seaweedfs import S3Endpoint, SeaweedFS

#: AWS settings that must not leak from the developer's environment into S3 tests.
_AWS_OVERRIDES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL_S3",
    "AWS_DEFAULT_REGION",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that needs the SeaweedFS server carries the ``s3`` marker, however it asks for it."""
    for item in items:
        if "seaweedfs" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.s3)


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Endpoint]:
    """A SeaweedFS server for the session: its S3 endpoint URL and credentials. Sets no environment."""
    with SeaweedFS(tmp_path_factory.mktemp("seaweedfs")) as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def s3_bucket(seaweedfs: S3Endpoint) -> str:
    """A bucket for the session; each test works under its own prefix in it."""
    name = "diarflow-test"
    seaweedfs.client().create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_env(seaweedfs: S3Endpoint, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> S3Endpoint:
    """Point the standard AWS variables at the session server, for this test only."""
    for name in _AWS_OVERRIDES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for name, value in seaweedfs.env().items():
        monkeypatch.setenv(name, value)
    return seaweedfs


@pytest.fixture
def s3_store(s3_env: S3Endpoint, s3_bucket: str) -> ObjectStore:
    """An S3 store under a fresh prefix, opened like production does: ``open_store`` + AWS_* variables."""
    return open_store(f"s3://{s3_bucket}/test-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def local_store(tmp_path: Path) -> ObjectStore:
    """A local-directory store in this test's temp directory."""
    return open_store(str(tmp_path / "store"))


@pytest.fixture(params=[pytest.param("local", id="local"), pytest.param("s3", id="s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest) -> ObjectStore:
    """The same test on every store: a local directory, then S3 on SeaweedFS."""
    store: ObjectStore = request.getfixturevalue(f"{request.param}_store")
    return store
