"""Bad input fails loudly: each way a chapter can go wrong makes a check fail, and the
message names the file at fault.

Each test builds a tiny book in a temporary folder with the project's own configuration
and runs the same command `make test` runs on the real book.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from notebook_checks import check_notebook

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def notebook(*cells) -> nbformat.NotebookNode:
    nb = new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python",
                                 "name": "python3"}
    return nb


def printed(source: str, text: str, count: int = 1) -> nbformat.NotebookNode:
    """A code cell with a stored stdout output, as if it had been run."""
    return new_code_cell(source, execution_count=count,
                         outputs=[new_output("stream", name="stdout", text=text)])


def make_book(tmp_path: Path, docs: dict[str, object]) -> Path:
    """A one-chapter book: the real _config.yml, extensions and bibliography."""
    book = tmp_path / "book"
    book.mkdir(parents=True)
    shutil.copy(ROOT / "_config.yml", tmp_path / "_config.yml")
    shutil.copytree(ROOT / "book" / "_ext", book / "_ext",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "book" / "references.bib", book)
    (book / "intro.md").write_text("# Intro\n\nA tiny book {cite}`cover2006`.\n")
    chapters = []
    for name, content in docs.items():
        if isinstance(content, nbformat.NotebookNode):
            nbformat.write(content, book / f"{name}.ipynb")
        else:
            (book / name).write_text(str(content), encoding="utf-8")
            name = name.rsplit(".", 1)[0] if name.endswith(".md") else None
        if name:
            chapters.append(f"  - file: book/{name}")
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n" + "\n".join(chapters) + "\n")
    return tmp_path


def strict_build(path: Path) -> subprocess.CompletedProcess:
    """`make build-strict` on another folder: forced execution, -W -n --keep-going."""
    forced = path / "_build" / "_config.forced.yml"
    forced.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, ROOT / "scripts" / "forced_config.py",
                    path / "_config.yml", forced], check=True)
    return subprocess.run([BIN / "jupyter-book", "build", str(path), "-W", "-n",
                           "--keep-going", "--config", str(forced)],
                          capture_output=True, text=True, timeout=300)


def nbval(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env",
                           "-p", "no:cacheprovider", "-q", str(path)],
                          capture_output=True, text=True, timeout=300, cwd=path.parent)


def test_cell_that_raises_fails_build_and_nbval(tmp_path):
    nb = notebook(new_markdown_cell("# Broken"), printed("print(1 / 0)", "oops\n"))
    book = make_book(tmp_path, {"raises": nb})
    result = strict_build(book)
    assert result.returncode != 0
    assert "raises.ipynb" in result.stdout + result.stderr
    assert "ZeroDivisionError" in result.stdout + result.stderr
    checked = nbval(book / "book" / "raises.ipynb")
    assert checked.returncode != 0 and "raises.ipynb" in checked.stdout


def test_cell_writing_to_stderr_fails_build(tmp_path):
    nb = notebook(new_markdown_cell("# Noisy"),
                  printed("import sys\nprint('careful', file=sys.stderr)", "careful\n"))
    result = strict_build(make_book(tmp_path, {"noisy": nb}))
    assert result.returncode != 0
    assert "noisy" in result.stdout + result.stderr


def test_hand_edited_output_fails_nbval(tmp_path):
    nb = notebook(new_markdown_cell("# Edited"), printed("print(0.7 + 0.3)", "1.0\n"))
    path = make_book(tmp_path, {"edited": nb}) / "book" / "edited.ipynb"
    assert nbval(path).returncode == 0, "the honest notebook should pass"
    nb.cells[1].outputs[0].text = "1.1\n"  # a number typed in by hand
    nbformat.write(nb, path)
    result = nbval(path)
    assert result.returncode != 0
    assert "edited.ipynb" in result.stdout


def test_malformed_quiz_fails_build_naming_quiz_file(tmp_path):
    quiz = "questions:\n  - id: q1\n    type: numeric\n    question: x\n    expr: log(2)\n"
    nb = notebook(new_markdown_cell("# Quiz"),
                  new_code_cell('from lessons_src import show_quiz\n'
                                'show_quiz("bad.quiz.yml")', execution_count=1))
    result = strict_build(make_book(tmp_path, {"quizzed": nb, "bad.quiz.yml": quiz}))
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "bad.quiz.yml: question 1 ('q1'): missing key(s)" in out


def test_broken_cross_reference_fails_build(tmp_path):
    page = "# Page\n\nSee {ref}`no-such-label` and {eq}`eq-missing`.\n"
    result = strict_build(make_book(tmp_path, {"xref.md": page}))
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "xref.md" in out and "no-such-label" in out


def test_notebook_saved_without_outputs_is_caught(tmp_path):
    nb = notebook(new_markdown_cell("# Stripped"), new_code_cell("print(42)"))
    path = make_book(tmp_path, {"stripped": nb}) / "book" / "stripped.ipynb"
    problems = check_notebook(path, chapter=False)
    assert any("stripped.ipynb: cell 2: no stored output" in p for p in problems), problems
    # nbval on its own would pass this notebook while comparing nothing:
    assert nbval(path).returncode == 0


def test_number_typed_into_prose_is_caught(tmp_path):
    nb = notebook(new_markdown_cell("KL is 0.0823 nats here, and 0.0872 the other way."),
                  printed("print(f'{0.08228:.4f}')", "0.0823\n"))
    path = make_book(tmp_path, {"typed": nb}) / "book" / "typed.ipynb"
    problems = check_notebook(path, chapter=False)
    assert problems == [f"{path}: cell 1: the prose states 0.0872, but no cell prints it"]


def check_reproducible(*notebooks: Path) -> subprocess.CompletedProcess:
    """What `make repro` runs: re-execute in a fresh folder, compare byte for byte."""
    return subprocess.run([sys.executable, ROOT / "scripts" / "check_reproducible.py",
                           *map(str, notebooks)],
                          capture_output=True, text=True, timeout=300)


def _executed(tmp_path: Path, name: str, source: str) -> Path:
    """A notebook stored exactly as `make refresh` stores it after one execution."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from refresh_notebooks import refresh

    path = tmp_path / f"{name}.ipynb"
    nbformat.write(notebook(new_markdown_cell(f"# {name}"), new_code_cell(source)), path)
    refresh(path)
    return path


def test_unseeded_random_cell_is_caught_by_the_reproducibility_check(tmp_path):
    steady = _executed(tmp_path, "seeded", "import random\nrandom.seed(0)\n"
                                           "print(round(random.random(), 6))")
    result = check_reproducible(steady)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "identical" in result.stdout

    flaky = _executed(tmp_path, "unseeded", "import random\nprint(random.random())")
    result = check_reproducible(flaky)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{flaky}: cell 1 differs after re-execution" in result.stderr
    assert "print(random.random())" in result.stderr  # the cell at fault is shown
    assert "make refresh" in result.stderr
