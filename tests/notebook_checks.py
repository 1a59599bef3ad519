"""Static checks of a chapter notebook that nbval and the build cannot make themselves.

nbval compares only cells that have stored outputs, so a notebook saved without outputs
"passes" while checking nothing; these checks catch that, and the book's other rules
(no number in prose that no cell prints, quizzes hidden on the website, figures with
captions and alt text). Each problem names the notebook and the cell.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
SHOW_QUIZ = re.compile(r"""show_quiz\(\s*["']([^"']+)["']\s*\)""")
# A decimal with three or more digits after the point: a computed result, not an input.
PROSE_NUMBER = re.compile(r"(?<![\w.])-?\d+\.\d{3,}(?![\d])")
ADDRESS = re.compile(r"\bat 0x[0-9a-f]{6,}\b")


def toc_docs(root: Path = ROOT) -> list[str]:
    """Every document in _toc.yml, root first, in reading order (paths without suffix)."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    docs = [toc["root"]]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "file" in node:
                docs.append(node["file"])
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key, []):
                    walk(child)

    walk(toc)
    return docs


def quiz_files(notebook: Path) -> list[Path]:
    """The quiz files a notebook shows, in order."""
    cells = nbformat.read(notebook, as_version=4).cells
    return [notebook.parent / name for c in cells if c.cell_type == "code"
            for name in SHOW_QUIZ.findall(c.source)]


def _output_text(cell: nbformat.NotebookNode) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        else:
            data = out.get("data", {})
            for mime in ("text/plain", "text/html", "text/markdown", "text/latex"):
                if mime in data:
                    value = data[mime]
                    parts.append("".join(value) if isinstance(value, list) else value)
    return "\n".join(parts)


def check_notebook(path: Path, *, chapter: bool = True) -> list[str]:
    """Return the problems found in one notebook (an empty list when it is clean).

    ``chapter=False`` skips the rules only a chapter must meet (quiz, figure, exercises).
    """
    problems: list[str] = []
    nb = nbformat.read(path, as_version=4)
    kernel = nb.metadata.get("kernelspec", {}).get("name")
    if kernel != "python3":
        problems.append(f"{path}: kernelspec must be 'python3', found {kernel!r}")

    code = [(i, c) for i, c in enumerate(nb.cells, start=1) if c.cell_type == "code"]
    if not code:
        problems.append(f"{path}: has no code cells")
    all_output = "\n".join(_output_text(c) for _, c in code)
    quizzes, figures = [], 0
    for i, cell in code:
        where = f"{path}: cell {i}"
        if not cell.source.strip():
            problems.append(f"{where}: empty code cell")
            continue
        if not cell.get("outputs"):
            problems.append(f"{where}: no stored output (run `make refresh`; nbval skips "
                            "cells without output, so every code cell must print something)")
        if cell.get("execution_count") is None:
            problems.append(f"{where}: never executed (execution_count is null)")
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                problems.append(f"{where}: stored output is an error ({out.get('ename')})")
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                problems.append(f"{where}: writes to stderr: {out.get('text', '')[:80]!r}")
            if "image/png" in out.get("data", {}) or "image/svg+xml" in out.get("data", {}):
                figures += 1
                mystnb = cell.metadata.get("mystnb", {})
                if not mystnb.get("figure", {}).get("caption"):
                    problems.append(f"{where}: a figure without a caption "
                                    "(metadata mystnb.figure.caption)")
                if not mystnb.get("image", {}).get("alt"):
                    problems.append(f"{where}: a figure without alt text "
                                    "(metadata mystnb.image.alt)")
        if ADDRESS.search(_output_text(cell)):
            problems.append(f"{where}: output shows a memory address (changes every run)")
        if re.search(r"sys\.path\.(insert|append)", cell.source):
            problems.append(f"{where}: edits sys.path (lessons_src is installed by "
                            "`pip install -e .`)")
        names = SHOW_QUIZ.findall(cell.source)
        if names:
            quizzes += names
            if "remove-input" not in cell.metadata.get("tags", []):
                problems.append(f"{where}: a quiz cell must be tagged 'remove-input'")
            for name in names:
                if not (path.parent / name).is_file():
                    problems.append(f"{where}: quiz file {path.parent / name} not found")

    for i, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "markdown":
            continue
        for number in PROSE_NUMBER.findall(cell.source):
            if number not in all_output:
                problems.append(f"{path}: cell {i}: the prose states {number}, "
                                "but no cell prints it")

    if chapter:
        text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        if not quizzes:
            problems.append(f"{path}: a chapter needs a quiz (a show_quiz(...) cell)")
        if figures < 1:
            problems.append(f"{path}: a chapter needs at least one figure")
        exercises = len(re.findall(r"\{exercise\}", text))
        solutions = len(re.findall(r"\{solution(?:-start)?\}", text))
        if exercises < 2 or solutions < exercises:
            problems.append(f"{path}: a chapter needs at least two exercises, each with a "
                            f"solution (found {exercises} exercises, {solutions} solutions)")
        if "{cite" not in text:
            problems.append(f"{path}: a chapter cites the bibliography at least once")
    return problems
