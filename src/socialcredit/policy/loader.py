"""Load policy files (TOML), validate them, and give each its content hash (its version).

Errors name the file, the line and the field, so whoever edits a policy can fix it at once.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from socialcredit.domain.catalogue import Catalogue, catalogue_from_dict
from socialcredit.domain.programs import Program

_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\"-]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\"-]+)\s*=")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a policy file: where, which field, and what."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class PolicyError(ValueError):
    """A policy file that cannot be used, with every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class LoadedProgram:
    """A validated program with its version (content hash) and where it came from."""

    program: Program
    version: str
    source: str
    text: str


def content_hash(data: dict[str, Any]) -> str:
    """The version of a policy: a hash of its parsed content, blind to layout and comments."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:16]


def locate(text: str, loc: tuple[str | int, ...]) -> int | None:
    """The line of `text` (1-based) where the field at `loc` is written, or its nearest table."""
    lines: dict[tuple[str | int, ...], int] = {}
    counts: dict[tuple[str, ...], int] = {}
    path: tuple[str | int, ...] = ()
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            names = tuple(n.strip('"') for n in header.group(2).split("."))
            path = _header_path(names, header.group(1) == "[[", counts, path)
            lines.setdefault(path, number)
            continue
        key = _KEY.match(line)
        if key:
            lines.setdefault((*path, key.group(1).strip('"')), number)
    for end in range(len(loc), 0, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _header_path(
    names: tuple[str, ...],
    is_array: bool,
    counts: dict[tuple[str, ...], int],
    current: tuple[str | int, ...],
) -> tuple[str | int, ...]:
    """Turn a TOML table header into a location path, numbering arrays of tables."""
    path: list[str | int] = []
    for i, name in enumerate(names):
        path.append(name)
        prefix = tuple(str(p) for p in path)
        last = i == len(names) - 1
        if last and is_array:
            counts[prefix] = counts.get(prefix, -1) + 1
            path.append(counts[prefix])
        elif not last and prefix in counts:
            path.append(counts[prefix])
    return tuple(path)


def _parse(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        line = int(match.group(1)) if match else max(1, len(text.splitlines()))
        raise PolicyError([Problem(source, line, "", f"not valid TOML: {exc}")]) from None


def _problems(exc: ValidationError, text: str, source: str) -> list[Problem]:
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        field = ".".join(str(p) for p in loc)
        message = error["msg"].removeprefix("Value error, ")
        problems.append(Problem(source, locate(text, loc), field, message))
    return problems


_PROGRAM = TypeAdapter(Program)


def load_program_text(text: str, source: str = "<policy>") -> LoadedProgram:
    """Validate a program's TOML text (raises PolicyError)."""
    data = _parse(text, source)
    try:
        program = _PROGRAM.validate_python(data)
    except ValidationError as exc:
        raise PolicyError(_problems(exc, text, source)) from None
    return LoadedProgram(program=program, version=content_hash(data), source=source, text=text)


def load_program(path: Path | str) -> LoadedProgram:
    """Load and validate a program file (raises PolicyError)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError([Problem(str(path), None, "", f"cannot read: {exc}")]) from None
    return load_program_text(text, str(path))


def _programs_folder() -> Any:
    return resources.files("socialcredit.policy") / "data" / "programs"


def shipped_program_names() -> list[str]:
    """The shipped programs: every TOML file in the programs folder, by name. Adding a program
    is adding its file there."""
    return sorted(f.name.removesuffix(".toml") for f in _programs_folder().iterdir()
                  if f.name.endswith(".toml"))  # fmt: skip


def shipped_program(name: str) -> LoadedProgram:
    """One of the programs that ship with the platform."""
    resource = _programs_folder() / f"{name}.toml"
    return load_program_text(resource.read_text(encoding="utf-8"), f"{name}.toml")


def shipped_programs() -> list[LoadedProgram]:
    """Every shipped program, in the order of their names."""
    return [shipped_program(name) for name in shipped_program_names()]


def load_catalogue_text(text: str, source: str = "<catalogue>") -> Catalogue:
    """Validate a catalogue's TOML text (raises PolicyError)."""
    data = _parse(text, source)
    try:
        return catalogue_from_dict(data)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise PolicyError([Problem(source, None, "", f"invalid catalogue: {exc}")]) from None


@cache
def shipped_catalogue() -> Catalogue:
    """The record catalogue that ships with the platform."""
    resource = resources.files("socialcredit.policy") / "data" / "catalogue.toml"
    return load_catalogue_text(resource.read_text(encoding="utf-8"), "catalogue.toml")


def load_catalogue(path: Path | str | None) -> Catalogue:
    """A catalogue from a file, or the shipped one when no path is given."""
    if path is None:
        return shipped_catalogue()
    path = Path(path)
    try:
        return load_catalogue_text(path.read_text(encoding="utf-8"), str(path))
    except OSError as exc:
        raise PolicyError([Problem(str(path), None, "", f"cannot read: {exc}")]) from None
