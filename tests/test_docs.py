"""The README documents every setting with its real default, and opens with the two commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from diarflow.config import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


@pytest.mark.parametrize(("variable", "default"), Settings.documented())
def test_every_setting_is_in_the_readme_with_its_default(variable: str, default: str) -> None:
    rows = [line for line in README.splitlines() if line.startswith(f"| `{variable}`")]
    assert rows, f"{variable} is missing from the README's configuration table"
    shown = default.strip("'")
    if shown in ("None", "False"):
        shown = {"None": "—", "False": "false"}[shown]
    assert f"`{shown}`" in rows[0] or (shown == "—" and "| — |" in rows[0]), rows[0]


def test_readme_shows_the_two_commands_first() -> None:
    first_block = README.split("```")[1]
    assert "make demo" in first_block
    assert "make test" in first_block
