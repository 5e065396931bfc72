"""Which package modules each notebook uses, read from the notebooks' code (so docs cannot drift).

A notebook *uses* a module when its code imports from it (``from tradeoff_lib.techniques
import pruning``) or calls a name that ``tradeoff_lib`` re-exports from it (``tl.measure``
-> ``tradeoff_lib.tradeoff``). The tests compare this with every module's "Used in:" line
and with the README's course table; ``python -m tradeoff_lib.links`` prints both, and
``python -m tradeoff_lib.links --write`` rewrites the lines and the table that drifted.

Used in: the tests and the README; no notebook calls it.
"""
from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import re
from pathlib import Path

__all__ = ["notebook_modules", "module_users", "declared_users", "used_in_line", "modules_behind", "write_links"]

_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = _ROOT / "notebooks"


def _notebooks(notebooks_dir: Path = NOTEBOOK_DIR) -> list[Path]:
    return sorted(Path(notebooks_dir).glob("[0-9][0-9]_*.ipynb"))


def notebook_modules(path: str | Path) -> set[str]:
    """Dotted names of the ``tradeoff_lib`` modules a notebook's code uses directly."""
    import tradeoff_lib as tl

    cells = json.loads(Path(path).read_text())["cells"]
    tree = ast.parse("\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code"))
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "tl":
            module = getattr(getattr(tl, node.attr, None), "__module__", "") or ""
            if module.startswith("tradeoff_lib"):
                modules.add(module)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tradeoff_lib"):
            if node.module == "tradeoff_lib.techniques":
                modules |= {f"tradeoff_lib.techniques.{alias.name}" for alias in node.names}
            elif node.module != "tradeoff_lib":
                modules.add(node.module)
            else:  # from tradeoff_lib import ladder
                modules |= {f"tradeoff_lib.{a.name}" for a in node.names
                            if importlib.util.find_spec(f"tradeoff_lib.{a.name}") is not None}
    return modules


def module_users(notebooks_dir: Path = NOTEBOOK_DIR) -> dict[str, list[str]]:
    """``{module: [notebook stems that use it]}`` over the whole series."""
    users: dict[str, list[str]] = {}
    for path in _notebooks(notebooks_dir):
        for module in notebook_modules(path):
            users.setdefault(module, []).append(path.stem)
    return {m: sorted(v) for m, v in sorted(users.items())}


def declared_users(module: str, notebooks_dir: Path = NOTEBOOK_DIR) -> list[str] | None:
    """The notebooks a module's docstring names after "Used in:" (``None`` without such a line).

    "every notebook" means the whole series, minus any notebook named after it.
    """
    doc = importlib.import_module(module).__doc__ or ""
    match = re.search(r"Used in:(.*?)(?:\n\s*\n|$)", doc, re.S)
    if match is None:
        return None
    text = match.group(1)
    named = set(re.findall(r"\b(\d\d_[a-z0-9_]+)(?:\.ipynb)?", text))
    if "every notebook" in text:
        return sorted({p.stem for p in _notebooks(notebooks_dir)} - named)
    return sorted(named)


def used_in_line(module: str, notebooks_dir: Path = NOTEBOOK_DIR) -> str:
    """The "Used in:" line that matches the notebooks' code (what a failing test asks you to write)."""
    users = module_users(notebooks_dir).get(module, [])
    every = [p.stem for p in _notebooks(notebooks_dir)]
    if not users:
        return "Used in: no notebook directly (say what uses it instead)."
    if len(users) == len(every):
        return "Used in: every notebook."
    if len(users) > len(every) / 2:
        return "Used in: every notebook but " + ", ".join(f"``{n}``" for n in every if n not in users) + "."
    return "Used in: " + ", ".join(f"``notebooks/{n}.ipynb``" for n in users) + "."


def modules_behind(notebooks_dir: Path = NOTEBOOK_DIR) -> dict[str, str]:
    """``{notebook stem: "`techniques/pruning.py`, `cost.py`"}``: the README's "code" column.

    The modules a notebook uses, less the core ones that most notebooks use (data, training, the ledger...
    """
    users, stems = module_users(notebooks_dir), [p.stem for p in _notebooks(notebooks_dir)]
    shared = {m for m, u in users.items() if len(u) > len(stems) / 2}
    def path(module: str) -> str:
        return "`" + module.removeprefix("tradeoff_lib.").replace(".", "/") + ".py`"
    return {stem: ", ".join(path(m) for m in sorted(users, key=lambda m: ("techniques" not in m, m))
                            if stem in users[m] and m not in shared) for stem in stems}


def write_links(notebooks_dir: Path = NOTEBOOK_DIR, readme: Path = _ROOT / "README.md") -> list[str]:
    """Rewrite every drifted "Used in:" line and the README's "code" column from the notebooks; returns what changed.

    A module used by no notebook keeps its own wording (it must name no notebook).
    """
    import textwrap

    changed = []
    for module in module_users(notebooks_dir):
        if declared_users(module, notebooks_dir) == module_users(notebooks_dir)[module]:
            continue
        path = Path(importlib.import_module(module).__file__)
        text = path.read_text()
        end = text.index('"""', 3)
        line = "\n".join(textwrap.wrap(used_in_line(module, notebooks_dir), 100, break_on_hyphens=False))
        match = re.search(r"Used in:.*?(?=\n\s*\n|$)", text[:end], re.S)
        doc = text[:match.start()] + line + text[match.end():end] if match else text[:end].rstrip() + f"\n\n{line}\n"
        path.write_text(doc + text[end:])
        changed.append(module)
    lines, code = Path(readme).read_text().splitlines(), modules_behind(notebooks_dir)
    for i, line in enumerate(lines):
        match = re.match(r"\| \d\d \| `(\d\d_\w+)` \|", line)
        if match and match.group(1) in code and line.rstrip(" |").rsplit("|", 1)[1].strip() != code[match.group(1)]:
            lines[i] = line.rstrip(" |").rsplit("|", 1)[0] + f"| {code[match.group(1)]} |"
            changed.append(f"README: {match.group(1)}")
    Path(readme).write_text("\n".join(lines) + "\n")
    return changed


def main(argv: list[str] | None = None) -> int:
    """Print each module's notebooks and its "Used in:" line; ``--write`` fixes the docstrings and the README."""
    import sys

    if "--write" in (sys.argv[1:] if argv is None else argv):
        print("\n".join(write_links()) or "nothing to change")
        return 0
    for module, users in module_users().items():
        print(f"{module}: {', '.join(n[:2] for n in users)}\n    {used_in_line(module)}")
    print("\nREADME course table, column 'code':")
    for stem, modules in modules_behind().items():
        print(f"  {stem}: {modules}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
