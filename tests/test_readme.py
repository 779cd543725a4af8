"""The README works as written: every command of its fenced `sh` blocks runs, in order, against a
small city, or is on a named skip list with the reason; its subjects exist in every city."""

from __future__ import annotations

import itertools
import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import socialcredit
from socialcredit.api import create_app
from socialcredit.cli import app
from socialcredit.domain.identifiers import InvalidIdentifier, identify
from socialcredit.store import database
from socialcredit.synth.city import EXAMPLES, generate_city

README = Path(__file__).resolve().parents[1] / "README.md"
SESAME = Path(socialcredit.__file__).parent / "policy" / "data" / "programs" / "sesame.toml"

# Fenced commands not run here, each with the reason. Every other fenced command is run, so a new
# README command is tested unless it is added here.
SKIPPED = {
    "pip install -e . && socialcredit demo": "installs; the demo builds 100,000 residents "
    "(test_cli runs a small demo)",
    "bash scripts/test": "the whole suite",
    "socialcredit serve": "the curl lines ask the same app in process",
    "socialcredit score --engine spark --output scores.parquet": "needs PySpark and Java "
    "(test_engines)",
    "socialcredit export --format parquet lake/": "feeds the Spark line (test_engines)",
    "socialcredit score --engine spark --ledger lake/ --output scores.parquet --details "
    "explained/": "needs PySpark and Java (test_engines)",
    "socialcredit lab run --program sesame --vs rongcheng --report lab-report": "a simulation "
    "of a minute or more (test_lab_cli)",
    "socialcredit lab gate --program my-program.toml": "a simulation (test_lab_cli)",
}
# Sizes the README gives for a real run, made small here.
SMALLER = {"--subjects 10000": "--subjects 300"}
# Exit statuses the README documents other than 0: ingest exits 3 when some rows are rejected.
EXITS = {"socialcredit ingest city/*": {0, 3}}
# What a command's output must show, beyond its exit status.
SHOWS = {
    "socialcredit decide 11010519491231002X flight_booking --json": '"deny"',
    "socialcredit repair 11010519491231002X serious_tax_arrears --commitment ...": "granted",
}
# `socialcredit serve` listens here by default; the curl lines must ask it.
SERVED = "127.0.0.1:8000"
MISSING = re.compile(r"not found|no subject", re.IGNORECASE)

runner = CliRunner()


def fenced_commands(text: str) -> list[list[str]]:
    """The words of every command in the README's ```sh blocks, in order, continuation lines
    joined and comments dropped, with SMALLER sizes put in."""
    commands = []
    for block in re.findall(r"^```sh\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            for big, small in SMALLER.items():
                line = line.replace(big, small)
            words = shlex.split(line, comments=True)
            if words:
                commands.append(words)
    return commands


def shown(words: list[str]) -> str:
    """A command as the skip list and the tables above name it."""
    return " ".join(words)


def subjects_named(words: list[str]) -> list[str]:
    """The words of a command that are subject identifiers."""
    found = []
    for word in words:
        try:
            found.append(identify(word)[0])
        except InvalidIdentifier:
            continue
    return found


@pytest.fixture(scope="module")
def commands() -> list[list[str]]:
    return fenced_commands(README.read_text(encoding="utf-8"))


def test_every_fenced_command_is_run_or_skipped_for_a_reason(commands: list[list[str]]) -> None:
    names = [shown(c) for c in commands]
    others = [n for n in names if n not in SKIPPED and not n.startswith(("socialcredit ", "curl "))]
    assert others == [], "run these in test_readme or add them to SKIPPED with the reason"
    for table in (SKIPPED, EXITS, SHOWS):
        assert set(table) <= set(names), "an entry names a command the README no longer has"
    text = README.read_text(encoding="utf-8")
    assert all(big in text for big in SMALLER)


def test_the_readme_subjects_exist_in_every_city() -> None:
    words = [w.strip("`(),.;:") for w in README.read_text(encoding="utf-8").split()]
    named = set(subjects_named(words))
    assert "11010519491231002X" in named
    for seed, size in ((1, 10), (7, 300)):
        registry = set(generate_city(size, seed=seed).registry.column("subject").to_pylist())
        assert named <= registry
        assert {e.subject for e in EXAMPLES} <= registry


def run_cli(words: list[str], folder: Path) -> tuple[int, str]:
    """Run a `socialcredit` command in process, globs expanded in `folder`."""
    argv = []
    for word in words[1:]:
        if "*" in word:
            argv += sorted(str(p.relative_to(folder)) for p in folder.glob(word))
        else:
            argv.append(word)
    result = runner.invoke(app, argv)
    crash = result.exception and not isinstance(result.exception, SystemExit)
    return result.exit_code, result.output + (f"\n{result.exception!r}" if crash else "")


def ask(client: TestClient, words: list[str], key: str | None) -> int:
    """Send a curl line's request to the app; returns the status."""
    headers: dict[str, str] = {}
    url = next(w for w in words[1:] if w.startswith("http"))
    for flag, value in itertools.pairwise(words):
        if flag == "-H":
            name, _, given = value.partition(":")
            headers[name] = given.strip().replace("$KEY", key or "")
    parts = urlsplit(url)
    assert parts.netloc == SERVED, "the curl line asks another address than `serve` listens on"
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return client.get(target, headers=headers).status_code


def test_the_readme_commands_work(
    commands: list[list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SOCIALCREDIT_DB", raising=False)
    (tmp_path / "my-program.toml").write_text(SESAME.read_text(encoding="utf-8"))
    key = code = None
    client: TestClient | None = None
    for words in commands:
        name = shown(words)
        if name in SKIPPED:
            continue
        words = [w.replace("$CODE", code or "") for w in words]
        if words[0] == "curl":
            client = client or TestClient(create_app(database.connect(None)))
            assert ask(client, words, key) == 200, name
            continue
        status, output = run_cli(words, tmp_path)
        assert status in EXITS.get(name, {0}), f"{name}\n{output}"
        assert name not in SHOWS or SHOWS[name] in output, f"{name}\n{output}"
        if subjects_named(words):
            assert not MISSING.search(output), f"{name}\n{output}"
        if "--role subject" in name:  # an enrolment code, that the subject redeems next
            found = re.search(r"code: (\S+)", output)
            assert found and "key:" not in output, output
            code = found.group(1)
        if words[:3] == ["socialcredit", "principal", "enrol"]:
            found = re.search(r"key: (\S+)", output)
            assert found, output
            key = found.group(1)
    assert key is not None and client is not None
