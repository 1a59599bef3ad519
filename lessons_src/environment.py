"""Check that the installed ``lessons_src`` is the one the book's notebooks were written for.

Taught in the introduction (book/intro.md, "How to read, run and quiz"): every chapter's
first code cell calls :func:`require`, so a stale or foreign ``lessons_src`` fails at
once with instructions, instead of with an ``AttributeError`` three cells later.
"""

from __future__ import annotations

import re

#: How to get the right ``lessons_src``: the message every failed check ends with.
HOW_TO_FIX = ("Run the notebooks with `make lab` from the book's repository, or run "
              "`pip install -e .` in the repository's folder, then restart the kernel.")

_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?$")


def _parse(version: str, what: str) -> tuple[int, int, int]:
    match = _VERSION.match(version.strip()) if isinstance(version, str) else None
    if match is None:
        raise ValueError(f"require: {what} must look like '0.2' or '0.2.1', got {version!r}")
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


def require(book_version: str, *, installed: str | None = None) -> str:
    """Fail clearly unless the installed ``lessons_src`` matches the book's version.

    Versions match when their major and minor numbers agree and the installed patch
    level is at least the book's (``0.2.1`` satisfies ``"0.2"`` and ``"0.2.1"``, not
    ``"0.2.2"`` or ``"0.3"``): the notebooks of one ``major.minor`` release use one API.

    Parameters
    ----------
    book_version
        The version the notebook was written for, ``"major.minor"`` or
        ``"major.minor.patch"``.
    installed
        The version to check; defaults to ``lessons_src.__version__`` (for tests).

    Returns
    -------
    str
        A one-line confirmation to print.

    Raises
    ------
    RuntimeError
        If the versions do not match; the message says which is installed, which the
        book needs and how to fix it.

    Examples
    --------
    >>> from lessons_src import __version__
    >>> require(__version__).startswith("lessons_src " + __version__)
    True
    >>> require("0.1", installed="0.2.0")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    RuntimeError: This notebook needs lessons_src 0.1, but lessons_src 0.2.0 is installed. ...
    """
    if installed is None:
        from lessons_src import __version__ as installed
    want = _parse(book_version, "book_version")
    have = _parse(installed, "the installed version")
    if have[:2] != want[:2] or have[2] < want[2]:
        raise RuntimeError(f"This notebook needs lessons_src {book_version}, but lessons_src "
                           f"{installed} is installed. {HOW_TO_FIX}")
    return f"lessons_src {installed}: the version this book needs ({book_version})"
