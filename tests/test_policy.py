"""Policy files: validation with file, line and field; content hashes; the guard."""

from pathlib import Path

import pytest

from socialcredit.policy import loader
from socialcredit.policy.guard import check, guarded
from socialcredit.policy.loader import (
    PolicyError,
    load_program,
    load_program_text,
    shipped_catalogue,
    shipped_program,
    shipped_programs,
)

MINIMAL = """\
id = "tiny"
name = "Tiny program"
min_score = 0
max_score = 100
base = 50

[[factors]]
id = "conduct"
name = "Conduct"

[[bands]]
grade = "A"
min = 60

[[bands]]
grade = "B"
min = 0

[[rules]]
id = "arrears"
kinds = ["loan.arrears_cycle"]
factor = "conduct"
points = -5
reason = "Arrears"
"""


def scoring(kind: str) -> str:
    return MINIMAL.replace('kinds = ["loan.arrears_cycle"]', f'kinds = ["{kind}"]')


def test_shipped_programs_load_and_pass_the_guard() -> None:
    catalogue = shipped_catalogue()
    loaded = shipped_programs()
    # Every file of the programs folder, each named after its id.
    folder = Path(loader.__file__).parent / "data" / "programs"
    assert [p.program.id for p in loaded] == sorted(f.stem for f in folder.glob("*.toml"))
    assert {"sesame", "rongcheng"} <= {p.program.id for p in loaded}
    for program in loaded:
        assert check(program, catalogue) == []
        assert program.version.startswith("sha256:")


def test_sesame_weights_bound_each_factor_to_its_share_of_the_range() -> None:
    sesame = shipped_program("sesame").program
    bounds = {f.id: sesame.factor_bounds(f) for f in sesame.factors}
    assert bounds["history"] == (-70, 140)
    assert bounds["relationships"] == (-10, 20)
    assert sum(w for w in (f.weight for f in sesame.factors) if w) == pytest.approx(1.0)


def test_version_ignores_layout_and_comments_but_not_content() -> None:
    base = load_program_text(MINIMAL).version
    assert load_program_text("# a comment\n\n" + MINIMAL.replace(" = ", "=")).version == base
    assert load_program_text(MINIMAL.replace("points = -5", "points = -6")).version != base


def test_an_error_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(MINIMAL.replace("points = -5", 'points = "lots"'))
    with pytest.raises(PolicyError) as caught:
        load_program(path)
    (problem,) = caught.value.problems
    assert problem.file == str(path)
    assert problem.field == "rules.0.points"
    assert problem.line == MINIMAL.splitlines().index("points = -5") + 1
    assert str(problem).startswith(f"{path}:{problem.line}: rules.0.points:")


def test_an_unknown_field_is_an_error_at_its_line() -> None:
    text = MINIMAL.replace('reason = "Arrears"', 'reason = "Arrears"\nweigth = 2')
    with pytest.raises(PolicyError) as caught:
        load_program_text(text, "p.toml")
    (problem,) = caught.value.problems
    assert problem.field == "rules.0.weigth"
    assert problem.line == text.splitlines().index("weigth = 2") + 1


def test_a_rule_error_points_at_its_table() -> None:
    text = MINIMAL.replace("points = -5", "points = 5")
    with pytest.raises(PolicyError, match="needs a cap") as caught:
        load_program_text(text, "p.toml")
    assert caught.value.problems[0].line == text.splitlines().index("[[rules]]") + 1


def test_bad_toml_names_its_line() -> None:
    text = MINIMAL.replace("base = 50", "base = = 50")
    with pytest.raises(PolicyError) as caught:
        load_program_text(text, "p.toml")
    assert caught.value.problems[0].line == text.splitlines().index("base = = 50") + 1
    assert "not valid TOML" in str(caught.value)


def test_bands_must_cover_the_range() -> None:
    with pytest.raises(PolicyError, match="lowest band"):
        load_program_text(MINIMAL.replace("min = 0", "min = 10"))


def test_a_kind_scored_by_two_rules_is_an_error() -> None:
    twice = (
        MINIMAL + '\n[[rules]]\nid = "again"\nkinds = ["loan.arrears_cycle"]\n'
        'factor = "conduct"\npoints = -1\nreason = "Again"\n'
    )
    with pytest.raises(PolicyError, match="scored by both"):
        load_program_text(twice)


PROHIBITED = sorted(shipped_catalogue().prohibited)


@pytest.mark.parametrize("category", PROHIBITED)
def test_the_guard_refuses_each_prohibited_category(category: str) -> None:
    catalogue = shipped_catalogue()
    kind = next(k.name for k in catalogue.kinds.values() if k.category == category)
    loaded = load_program_text(scoring(kind), "p.toml")
    problems = check(loaded, catalogue)
    assert len(problems) == 1
    assert "refused" in problems[0].message
    assert category in problems[0].message
    assert problems[0].line == scoring(kind).splitlines().index(f'kinds = ["{kind}"]') + 1
    with pytest.raises(PolicyError):
        guarded(loaded, catalogue)


def test_every_prohibited_category_has_a_kind_to_refuse() -> None:
    catalogue = shipped_catalogue()
    assert {k.category for k in catalogue.kinds.values()} >= set(catalogue.prohibited)


def test_the_guard_refuses_kinds_outside_the_catalogue() -> None:
    problems = check(load_program_text(scoring("mood.cheerful")), shipped_catalogue())
    assert "not in the record catalogue" in problems[0].message


@pytest.mark.parametrize("relation", ["relative", "spouse", "parent", "child"])
def test_the_guard_refuses_propagation_through_family(relation: str) -> None:
    text = MINIMAL.replace(
        'id = "conduct"\nname = "Conduct"',
        'id = "conduct"\nname = "Conduct"\n\n[[factors]]\nid = "rel"\nname = "Relations"\n'
        f'ceiling = 5\n\n[factors.propagation]\nrelations = ["contact", "{relation}"]',
    )
    problems = check(load_program_text(text, "p.toml"), shipped_catalogue())
    assert len(problems) == 1
    assert "refused" in problems[0].message and "family" in problems[0].message
    assert problems[0].field == "factors.1.propagation.relations.1"
