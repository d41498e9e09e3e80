"""The README and docs/ match the code: settings with their real defaults, the
command-line synopsis with the real commands and options, links that resolve
inside the repository."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer.main

from diarflow.cli import app
from diarflow.config import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "CHANGELOG.md"]
CLI = typer.main.get_command(app)

OPTION = re.compile(r"(?<![\w-])--?[A-Za-z][\w-]*")


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


# --- the command line --------------------------------------------------------


# Typer bundles its own click, so commands are told apart by what they have
# (a group has ``commands``), not by click's classes.


def is_group(command: Any) -> bool:
    return hasattr(command, "commands")


def leaf_commands(group: Any = CLI, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """Every runnable command by its words after ``diarflow`` (``("voiceprints", "enroll")``)."""
    found: dict[tuple[str, ...], Any] = {}
    for name, command in group.commands.items():
        if command.hidden:
            continue
        if is_group(command):
            found.update(leaf_commands(command, (*path, name)))
        else:
            found[(*path, name)] = command
    return found


COMMANDS = leaf_commands()


def options_of(command: Any) -> dict[str, Any]:
    """Each spelling (``--quiet``, ``-q``) of the command's options, ``--help`` left out."""
    return {
        spelling: param
        for param in command.params
        if param.param_type_name == "option" and param.name != "help"
        for spelling in (*param.opts, *param.secondary_opts)
    }


def command_at(text: str) -> tuple[tuple[str, ...], str] | None:
    """The command a ``diarflow …`` invocation names, and the rest of its text."""
    words = text.split()
    if not words or words[0] != "diarflow":
        return None
    node: Any = CLI
    path: list[str] = []
    for word in words[1:]:
        if not is_group(node) or word not in node.commands:
            break
        node = node.commands[word]
        path.append(word)
    if is_group(node):
        return None
    rest = text.split(path[-1], 1)[1] if path else ""
    return tuple(path), rest


def readme_synopsis() -> dict[tuple[str, ...], str]:
    """The synopsis under "## Command line": each command's text, continuation lines joined."""
    section = README.split("## Command line", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    entries: list[str] = []
    for line in block.splitlines():
        line = line.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if line.startswith("diarflow "):
            entries.append(line)
        else:
            entries[-1] += " " + line.strip()
    synopsis: dict[tuple[str, ...], str] = {}
    for entry in entries:
        found = command_at(entry)
        assert found is not None, f"the synopsis names a command diarflow does not have: {entry}"
        path, rest = found
        synopsis[path] = synopsis.get(path, "") + " " + rest
    return synopsis


SYNOPSIS = readme_synopsis()


def test_the_readme_synopsis_lists_every_command() -> None:
    assert sorted(SYNOPSIS) == sorted(COMMANDS)


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=" ".join)
def test_the_readme_synopsis_shows_every_option_of_a_command_as_it_is(path: tuple[str, ...]) -> None:
    """Every option exists, every option is shown, and brackets mark exactly the optional ones."""
    command, text = COMMANDS[path], SYNOPSIS[path]
    options = options_of(command)
    shown: set[str] = set()
    for match in OPTION.finditer(text):
        spelling = match.group()
        assert spelling in options, f"diarflow {' '.join(path)} has no option {spelling}"
        option = options[spelling]
        shown.add(option.name or spelling)
        before = text[: match.start()]
        optional_here = before.count("[") > before.count("]")
        alternative_here = before.count("(") > before.count(")")
        if option.required:
            assert not optional_here, f"diarflow {' '.join(path)}: {spelling} is required, shown in brackets"
        else:
            assert optional_here or alternative_here, f"diarflow {' '.join(path)}: {spelling} is optional, shown bare"
    missing = {option.name for option in options.values()} - shown
    assert not missing, f"diarflow {' '.join(path)}: the README synopsis leaves out {sorted(map(str, missing))}"


def invocations(document: Path) -> list[tuple[tuple[str, ...], str]]:
    """Every ``diarflow <command> …`` in a document's code blocks and inline code."""
    text = document.read_text()
    pieces = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)
    pieces += re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    found = []
    for piece in pieces:
        for line in piece.splitlines():
            line = line.split(" # ", 1)[0]
            start = line.find("diarflow ")
            if start < 0:
                continue
            hit = command_at(line[start:])
            if hit is not None:
                found.append(hit)
    return found


@pytest.mark.parametrize("document", DOCS, ids=lambda path: path.name)
def test_every_command_line_in_the_docs_uses_real_options(document: Path) -> None:
    if not document.exists():
        pytest.skip(f"{document.name} is absent")
    for path, rest in invocations(document):
        options = options_of(COMMANDS[path])
        for spelling in OPTION.findall(rest.split("|", 1)[0] if path == () else rest):
            assert spelling in options, f"{document.name}: diarflow {' '.join(path)} has no option {spelling}"


# --- links -------------------------------------------------------------------

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
PATH_IN_CODE = re.compile(r"`(\.\.?/[^`\s]+\.md)`")  # a document named in code, not a link


@pytest.mark.parametrize("document", DOCS, ids=lambda path: path.name)
def test_every_relative_link_resolves_to_a_file_in_the_repository(document: Path) -> None:
    if not document.exists():
        pytest.skip(f"{document.name} is absent")
    text = document.read_text()
    targets = [t for t in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:|#", t)]
    targets += PATH_IN_CODE.findall(text)
    for target in targets:
        resolved = (document.parent / target.split("#", 1)[0]).resolve()
        assert resolved.is_relative_to(ROOT), f"{document.name} links outside the repository: {target}"
        assert resolved.exists(), f"{document.name} links to a missing file: {target}"
