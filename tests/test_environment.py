"""lessons_src.environment.require, and each chapter's first cell (the environment check)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import lessons_src
from lessons_src import require
from lessons_src.environment import HOW_TO_FIX

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "book").glob("0*.ipynb"))
BOOK_VERSION = ".".join(lessons_src.__version__.split(".")[:2])


@pytest.mark.parametrize(("book", "installed"), [("0.2", "0.2.0"), ("0.2", "0.2.7"),
                                                 ("0.2.1", "0.2.1"), ("1.0", "1.0.3")])
def test_require_accepts_matching_versions(book, installed):
    assert require(book, installed=installed).startswith(f"lessons_src {installed}:")


@pytest.mark.parametrize(("book", "installed"), [("0.2", "0.1.9"), ("0.2", "0.3.0"),
                                                 ("0.2.2", "0.2.1"), ("1.2", "0.2.0")])
def test_require_rejects_other_versions_with_instructions(book, installed):
    with pytest.raises(RuntimeError) as info:
        require(book, installed=installed)
    message = str(info.value)
    assert f"needs lessons_src {book}" in message and f"{installed} is installed" in message
    assert HOW_TO_FIX in message and "make lab" in message


@pytest.mark.parametrize("bad", ["", "two", "0", "0.2.x", None, 2])
def test_require_names_a_malformed_version(bad):
    with pytest.raises(ValueError, match="require: book_version must look like"):
        require(bad)


def test_installed_version_matches_pyproject():
    text = (ROOT / "pyproject.toml").read_text()
    assert f'version = "{lessons_src.__version__}"' in text


def _env_cell(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return next(c for c in nb.cells if c.cell_type == "code").source


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_checks_its_environment_first(path):
    source = _env_cell(path)
    assert f'lessons_src.require("{BOOK_VERSION}")' in source, (
        f"{path}: the first code cell must call lessons_src.require(\"{BOOK_VERSION}\") "
        f"(the book's version); see book/01_definition.ipynb")


def _run(source: str, prelude: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", prelude + "\n" + source],
                          capture_output=True, text=True, timeout=60)


def test_env_cell_explains_a_missing_package():
    # lessons_src made unimportable, as in a kernel without the book's environment
    result = _run(_env_cell(CHAPTERS[0]), "import sys; sys.modules['lessons_src'] = None")
    assert result.returncode != 0
    assert "This chapter needs lessons_src, the book's helper package" in result.stderr
    assert "make lab" in result.stderr


def test_env_cell_explains_a_version_mismatch():
    result = _run(_env_cell(CHAPTERS[0]), "import lessons_src; lessons_src.__version__ = '0.1.0'")
    assert result.returncode != 0
    assert "RuntimeError: This notebook needs lessons_src" in result.stderr
    assert "0.1.0 is installed" in result.stderr


def test_env_cell_passes_in_this_environment():
    result = _run(_env_cell(CHAPTERS[0]), "")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"lessons_src {lessons_src.__version__}:")
