"""Project hygiene: notebooks committed clean, conda and pip agree, the headless runner fails loudly."""

from __future__ import annotations

import json
import re

import nbformat
import pytest

from helpers.paths import NOTEBOOKS_DIR, REPO_ROOT
from helpers.runner import execute_notebook, workshop_notebooks

NOTEBOOKS = workshop_notebooks()


def _name(requirement: str) -> str:
    return re.split(r"[<>=!\[ ;]", requirement.strip(), maxsplit=1)[0].lower()


def test_environment_yml_lists_the_same_packages_and_pythons_as_pyproject():
    tomllib = pytest.importorskip("tomllib", reason="Python 3.11+ (the workshop itself runs on 3.10)")
    import yaml

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    pinned = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    conda = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    pip_lines = next(d["pip"] for d in conda["dependencies"] if isinstance(d, dict))
    pip_section = [line for line in pip_lines if not line.startswith("-")]
    assert "-c constraints-laptop.txt" in pip_lines, "conda gets the laptop's pins, as make does"
    assert sorted(pip_section) == sorted(pinned), "environment.yml and pyproject.toml must pin the same packages"
    assert f"python{project['requires-python']}" in conda["dependencies"], "same Python versions"
    assert {_name(r) for r in pinned} >= {"torch", "torchvision", "boto3", "moto", "dlr", "openvino"}


def test_there_are_numbered_notebooks():
    assert [p.name[:2] for p in NOTEBOOKS] == sorted(p.name[:2] for p in NOTEBOOKS)
    assert NOTEBOOKS[0].name == "01_trace.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path):
    notebook = json.loads(path.read_text())
    dirty = [i for i, c in enumerate(notebook["cells"])
             if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_the_lesson_shape(path):
    cells = nbformat.read(path, as_version=4).cells
    tagged = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    assert "**Core: " in cells[0].source, "the title cell states the learner minutes (python -m helpers lesson-time --write)"
    markdown = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    assert "## Clean up" in markdown and "## Next" in markdown
    assert "%%writefile" not in "\n".join(c.source for c in cells)


def test_runner_stops_at_the_failing_cell_and_shows_it(tmp_path):
    from nbclient.exceptions import CellExecutionError

    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("raise ValueError('boom in cell two')"),
        nbformat.v4.new_code_cell("y = 2"),
        nbformat.v4.new_code_cell("open('cleaned.txt', 'w').write('yes')", metadata={"tags": ["cleanup"]}),
    ])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "99_fail.ipynb"
    nbformat.write(notebook, path)
    with pytest.raises(CellExecutionError, match="boom in cell two"):
        execute_notebook(path, tmp_path / "executed")
    executed = nbformat.read(tmp_path / "executed" / path.name, as_version=4)
    assert executed.cells[0].execution_count == 1 and not executed.cells[2].get("execution_count")
    assert (tmp_path / "cleaned.txt").read_text() == "yes", "cleanup cells run even after a failure"


def test_a_cell_that_runs_too_long_is_interrupted_and_cleanup_still_runs(tmp_path, monkeypatch):
    """An endpoint wait longer than the cell timeout must not skip the clean-up (it bills on AWS)."""
    from helpers import runner

    monkeypatch.setattr(runner, "CELL_TIMEOUT_S", 3)
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import time\ntime.sleep(60)"),
        nbformat.v4.new_code_cell("open('cleaned.txt', 'w').write('yes')", metadata={"tags": ["cleanup"]}),
    ])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "98_slow.ipynb"
    nbformat.write(notebook, path)
    with pytest.raises(runner.CELL_FAILURES):  # interrupted: nbclient reports it as the cell's error
        execute_notebook(path, tmp_path / "executed")
    assert (tmp_path / "cleaned.txt").read_text() == "yes", "cleanup cells run after a timeout too"


def test_notebooks_dir_is_where_runner_looks():
    assert all(p.parent == NOTEBOOKS_DIR for p in NOTEBOOKS)


def test_runner_kernels_do_not_warn_about_unencrypted_tcp(tmp_path, capfd):
    """`python -m helpers run` output stays quiet: the kernels' traffic is encrypted (CurveZMQ)."""
    import zmq

    if not zmq.has("curve"):
        pytest.skip("this pyzmq has no CurveZMQ: the kernel runs unencrypted on loopback and warns")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "99_quiet.ipynb"
    nbformat.write(notebook, path)
    execute_notebook(path, tmp_path / "executed")
    assert nbformat.read(tmp_path / "executed" / path.name, as_version=4).cells[0].outputs[0]["text"] == "42\n"
    assert "without encryption" not in capfd.readouterr().err


# --------------------------------------------------------------------------- hands-on lesson shape
# docs/LESSON_STYLE.md describes it; these tests hold every notebook to it, including translations
# under notebooks/<language>/. The checks rest on cell tags and structure, not on English words.
LESSONS = sorted(p for p in NOTEBOOKS_DIR.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
EXERCISE_TAGS = ("exercise", "exercise-work", "solution")


def _tags(cell) -> list[str]:
    return cell.metadata.get("tags", [])


def _roles(cell) -> list[str]:
    """A cell's tags without `extension`: whether a cell is core or extension does not change its role."""
    return [tag for tag in _tags(cell) if tag != "extension"]


def _bullets(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if re.match(r"\s*[-*] \S", line)]


def _exercises(cells) -> list[tuple[int, list]]:
    """(index of the task cell, [task, work cell, solution label, solution, answer]) for each exercise."""
    return [(i, cells[i:i + 5]) for i, c in enumerate(cells) if "exercise" in _tags(c)]


def _is_comment_only(source: str) -> bool:
    return all(not line.strip() or line.lstrip().startswith("#") for line in source.splitlines())


def _python(source: str):
    """A code cell as an AST, IPython magics and shell escapes blanked out (they are not Python)."""
    import ast

    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    return ast.parse("\n".join(lines))


def _bound_names(source: str) -> set[str]:
    """Names a cell binds at notebook level (assignments, loops, with-as, defs), imports left out."""
    import ast

    bound: set[str] = set()

    def visit(node) -> None:
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
            return  # names inside are local to it
        elif isinstance(node, ast.Lambda | ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
            return
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(_python(source))
    return bound


def _imported_names(source: str) -> set[str]:
    import ast

    return {(alias.asname or alias.name).split(".")[0]
            for node in ast.walk(_python(source)) if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names}


def _loaded_names(source: str) -> set[str]:
    import ast

    return {n.id for n in ast.walk(_python(source)) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def test_lessons_are_found_in_every_language_folder():
    assert set(NOTEBOOKS) <= set(LESSONS), "every numbered lesson is held to the hands-on shape"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: str(p.relative_to(NOTEBOOKS_DIR)))
def test_lesson_states_objectives_in_its_title_cell(path):
    title = nbformat.read(path, as_version=4).cells[0]
    assert title.cell_type == "markdown" and title.source.startswith("# "), "the first cell is the title"
    objectives = _bullets(title.source)
    assert 2 <= len(objectives) <= 6, (
        f"{path.name}: the title cell lists 2-6 objectives as bullets (things the learner will be able to do)")
    if path.parent == NOTEBOOKS_DIR:  # English edition; translations use their own words
        assert "You will be able to" in title.source


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: str(p.relative_to(NOTEBOOKS_DIR)))
def test_lesson_has_exercises_with_a_work_cell_and_a_checked_solution(path):
    cells = nbformat.read(path, as_version=4).cells
    exercises = _exercises(cells)
    assert exercises, f"{path.name}: no exercise (a markdown cell tagged 'exercise')"
    for index, (task, work, label, solution, answer) in exercises:
        where = f"{path.name}, exercise at cell {index}"
        assert task.cell_type == "markdown" and task.source.startswith("### "), f"{where}: a '### ' heading and the task"
        assert len(task.source.split("\n", 1)[-1].strip()) > 40, f"{where}: say what to do, in a sentence or two"
        assert work.cell_type == "code" and _roles(work) == ["exercise-work"], f"{where}: then a code cell tagged 'exercise-work'"
        first, _, rest = work.source.partition("\n")
        assert re.fullmatch(r"my_\w+ = None  # your guess\b.+", first), f"{where}: the work cell starts with `my_x = None  # your guess: ...`"
        assert _is_comment_only(re.sub(r"(?m)^my_\w+ = None  # .*$", "", rest)), \
            f"{where}: apart from the my_ lines the work cell holds comments only, so it runs when left empty"
        assert label.cell_type == "markdown" and label.source.strip(), f"{where}: then a markdown line introducing the solution"
        assert solution.cell_type == "code" and _roles(solution) == ["solution"], f"{where}: then a code cell tagged 'solution'"
        assert solution.metadata.get("jupyter", {}) == {"source_hidden": True, "outputs_hidden": True}, \
            f"{where}: the solution is collapsed, code and output, so Run All shows no answer"
        assert "lessons.verdict(" in solution.source and "my_" in solution.source, f"{where}: the solution prints the prediction beside the measurement"
        assert "Run All" not in label.source, f"{where}: nothing tells the learner to Run All before trying"
        assert answer.cell_type == "markdown" and _roles(answer) == ["answer"] and "<details>" in answer.source, \
            f"{where}: then the explanation, a markdown cell tagged 'answer' inside <details>"
        assert re.search(r"^\s*assert ", solution.source, re.MULTILINE), f"{where}: the solution asserts the outcome"
    assert len([c for c in cells if "solution" in _tags(c)]) == len(exercises), "every solution belongs to an exercise"
    assert len([c for c in cells if "exercise-work" in _tags(c)]) == len(exercises), "every work cell belongs to an exercise"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: str(p.relative_to(NOTEBOOKS_DIR)))
def test_lesson_runs_the_same_with_or_without_the_solutions(path):
    """A learner may skip a solution or write their own: later cells must neither need nor see it.

    So a solution binds only names of its own (re-importing a module is fine), and no later lesson
    cell reads a name that only a solution or a work cell binds.
    """
    cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    is_lesson = [not set(_tags(c)) & set(EXERCISE_TAGS) for c in cells]
    lesson_names = set().union(*(_bound_names(c.source) | _imported_names(c.source)
                                 for c, keep in zip(cells, is_lesson, strict=True) if keep))
    for position, cell in enumerate(cells):
        if "solution" not in _tags(cell):
            continue
        rebound = _bound_names(cell.source) & lesson_names
        assert not rebound, f"{path.name}: a solution rebinds {sorted(rebound)}, which the lesson's own cells use"
        own = (_bound_names(cell.source) | _imported_names(cell.source)) - lesson_names
        for later, keep in zip(cells[position + 1:], is_lesson[position + 1:], strict=True):
            leaked = _loaded_names(later.source) & own if keep else set()
            assert not leaked, f"{path.name}: a lesson cell after a solution uses {sorted(leaked)}, defined only there"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: str(p.relative_to(NOTEBOOKS_DIR)))
def test_lesson_closes_with_key_points_before_clean_up(path):
    cells = nbformat.read(path, as_version=4).cells
    tagged = [i for i, c in enumerate(cells) if "keypoints" in _tags(c)]
    assert len(tagged) == 1, f"{path.name}: exactly one markdown cell tagged 'keypoints'"
    index = tagged[0]
    assert cells[index].cell_type == "markdown" and cells[index].source.startswith("## ")
    assert 3 <= len(_bullets(cells[index].source)) <= 5, f"{path.name}: three to five key points, as bullets"
    assert all(i < index for i, _ in _exercises(cells)), f"{path.name}: key points come after the exercises"
    cleanup = [i for i, c in enumerate(cells) if "cleanup" in _tags(c)]
    assert all(i > index for i in cleanup), f"{path.name}: key points come before the clean-up"
    following = cells[index + 1]
    assert following.cell_type == "markdown", f"{path.name}: the clean-up section follows the key points"
    if path.parent == NOTEBOOKS_DIR:
        assert following.source.startswith("## Clean up")


def test_the_verdict_hides_the_measurement_until_a_prediction_is_made():
    from helpers.lessons import verdict

    assert "42" not in verdict(None, 42) and "no prediction made" in verdict(None, 42)
    assert verdict("40", 42, " ms") == "you predicted 40 ms; measured 42 ms"
