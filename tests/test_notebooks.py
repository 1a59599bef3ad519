"""Every chapter notebook in book/ passes the static checks, and the table of contents
and the notebooks agree."""

from __future__ import annotations

from pathlib import Path

import pytest
from notebook_checks import check_notebook, toc_docs

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "book/ has no notebooks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_clean(path):
    problems = check_notebook(path)
    assert not problems, "\n".join(problems)


def test_toc_and_files_agree():
    docs = toc_docs()
    missing = [d for d in docs if not any((ROOT / f"{d}{ext}").exists()
                                          for ext in (".md", ".ipynb"))]
    assert not missing, f"_toc.yml lists files that do not exist: {missing}"
    listed = {ROOT / f"{d}.ipynb" for d in docs}
    orphans = [p.name for p in NOTEBOOKS if p not in listed]
    assert not orphans, f"notebooks missing from _toc.yml: {orphans}"
