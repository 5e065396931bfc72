"""Student copies: solutions removed, checks kept, and they run up to the first exercise."""
import nbformat
import pytest

import tradeoff_lib as tl
from tests.conftest import NOTEBOOKS
from tradeoff_lib import student


def test_strip_solution_with_and_without_markers():
    src = "x = 1\n### BEGIN SOLUTION\ny = x + 1\n### END SOLUTION\nprint(y)"
    assert student.strip_solution(src, "Exercise 00.1") == (
        'x = 1\nraise NotImplementedError("Exercise 00.1: write your solution here")\nprint(y)')
    assert "raise NotImplementedError" in student.strip_solution("# compute y\ny = 2", "E")
    assert student.strip_solution("# compute y\ny = 2", "E").startswith("# compute y")
    with pytest.raises(ValueError, match="without"):
        student.strip_solution("### BEGIN SOLUTION\ny = 2", "E")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_exercise_has_a_registered_check(path, tmp_path):
    n = student.make_student_copy(path, tmp_path / path.name)
    nb = nbformat.read(str(tmp_path / path.name), as_version=4)
    exercises = student.exercises_of(nb)
    assert n == len(exercises) >= 1, "each notebook has at least one exercise"
    original = nbformat.read(str(path), as_version=4)
    first = exercises[0][0]
    # everything before the first exercise is unchanged, so the student copy runs exactly like the
    # original (which nbval runs in full) up to its first exercise; only solution cells differ after it
    assert [c.source for c in nb.cells[:first]] == [c.source for c in original.cells[:first]]
    changed = {i for i, (a, b) in enumerate(zip(nb.cells, original.cells)) if a.source != b.source}
    assert changed == {sol for sol, _, _ in exercises}
    for sol, check, exercise_id in exercises:
        assert exercise_id in tl.list_exercises() and exercise_id.startswith(path.name[:2])
        assert "NotImplementedError" in nb.cells[sol].source and "BEGIN SOLUTION" not in nb.cells[sol].source
        assert "check_exercise" in nb.cells[check].source


def test_missing_check_is_reported():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("y = 1")
    cell.metadata["tags"] = ["solution"]
    nb.cells = [cell, nbformat.v4.new_code_cell("print(y)")]
    with pytest.raises(ValueError, match="not followed by a code cell tagged 'check'"):
        student.exercises_of(nb)


def test_student_copy_runs_up_to_its_first_exercise(tmp_path):
    """Executed with fast parameters, the first error must come from the first solution stub."""
    import papermill as pm

    copies = student.build_student_copies(out_dir=tmp_path)
    assert set(copies) == {p.name for p in NOTEBOOKS}
    first = NOTEBOOKS[0].name
    with pytest.raises(pm.PapermillExecutionError) as info:
        pm.execute_notebook(str(tmp_path / first), str(tmp_path / "out.ipynb"), kernel_name="python3",
                            parameters={"EPOCHS": 2, "WIDTHS": [4, 16], "REPEATS": 20, "PROGRESS": False,
                                        "REPORT_DIR": str(tmp_path / "r")},
                            progress_bar=False, cwd=str(NOTEBOOKS[0].parent))
    assert info.value.ename == "NotImplementedError"
    executed = nbformat.read(str(tmp_path / "out.ipynb"), as_version=4)
    failed = [i for i, c in enumerate(executed.cells)
              if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    solutions = [i for i, c in enumerate(executed.cells) if "solution" in c.metadata.get("tags", [])]
    assert failed == solutions[:1] and "Exercise 00.1" in info.value.evalue
