"""Make student copies of the notebooks: solutions removed, checks kept.

    python -m tradeoff_lib.student            # writes student/NN_*.ipynb
    make student

In the course notebooks each exercise is a code cell tagged ``solution`` followed by
a code cell tagged ``check``. In a student copy the code between ``### BEGIN SOLUTION``
and ``### END SOLUTION`` (the whole cell if there are no markers) becomes
``raise NotImplementedError(...)``; everything else, the checks included, is kept,
and all outputs are cleared.

Used in: ``make student`` and the instructors' guide in ``notebooks/README.md``.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Sequence

from .notebook import REPO_ROOT

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
CHECK_CALL = re.compile(r"check_exercise\(\s*['\"](\d\d\.\d+)['\"]")


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def strip_solution(source: str, label: str) -> str:
    """Replace the solution part of a cell's source by a ``NotImplementedError`` stub."""
    stub = f'raise NotImplementedError("{label}: write your solution here")'
    if BEGIN not in source:
        comments = [line for line in source.splitlines() if line.lstrip().startswith("#")]
        return "\n".join(comments + [stub])
    out, inside = [], False
    for line in source.splitlines():
        if line.strip() == BEGIN:
            inside = True
            out.append(line[: len(line) - len(line.lstrip())] + stub)
        elif line.strip() == END:
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{label}: '{BEGIN}' without '{END}'")
    return "\n".join(out)


def exercises_of(nb) -> list[tuple[int, int, str]]:
    """``(solution_index, check_index, exercise_id)`` for each exercise; raises if a check is missing."""
    found = []
    for i, cell in enumerate(nb.cells):
        if "solution" not in _tags(cell):
            continue
        nxt = next((j for j in range(i + 1, len(nb.cells)) if nb.cells[j].cell_type == "code"), None)
        match = CHECK_CALL.search(nb.cells[nxt].source) if nxt is not None else None
        if nxt is None or "check" not in _tags(nb.cells[nxt]) or not match:
            raise ValueError(f"the solution cell {i} is not followed by a code cell tagged 'check' "
                             "that calls tl.check_exercise('NN.k', ...)")
        found.append((i, nxt, match.group(1)))
    return found


def make_student_copy(src: Path, dst: Path) -> int:
    """Write the student copy of one notebook; returns its number of exercises."""
    import nbformat

    nb = nbformat.read(str(src), as_version=4)
    exercises = exercises_of(nb)
    for sol, _, exercise_id in exercises:
        nb.cells[sol].source = strip_solution(nb.cells[sol].source, f"Exercise {exercise_id}")
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    dst.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(dst))
    return len(exercises)


def build_student_copies(notebooks_dir: Path = REPO_ROOT / "notebooks",
                         out_dir: Path = REPO_ROOT / "student") -> dict[str, int]:
    """Student copies of every ``NN_*.ipynb``; returns the number of exercises per notebook."""
    return {src.name: make_student_copy(src, Path(out_dir) / src.name)
            for src in sorted(Path(notebooks_dir).glob("[0-9][0-9]_*.ipynb"))}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tradeoff_lib.student", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "student")
    args = parser.parse_args(argv)
    counts = build_student_copies(out_dir=args.out)
    for name, n in counts.items():
        print(f"{name}: {n} exercise(s)")
    print(f"student copies in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
