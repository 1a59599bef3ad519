"""Check that every notebook re-executes to exactly the file stored in the repository.

The book's folder is copied to a fresh temporary folder (no file left by an earlier run or
another notebook), and the notebooks are executed there in a shuffled order, each in a
fresh kernel, as ``make refresh`` executes them. Each result must be byte-identical to the
committed notebook: the committed outputs come from one execution (``make refresh``) and
this is a second one, so a notebook that passes gives the same file on every re-run and
``make refresh`` never makes a noisy diff. A difference is reported with the notebook,
the cell and a diff of its outputs.

The torch thread count comes from ``LESSONS_TORCH_THREADS`` (see ``lessons_src.set_seed``);
``make test`` runs this with 1 thread, and nbval with 1 and with 2.

Usage::

    python scripts/check_reproducible.py [--seed N] [--order shuffled|sorted|reversed]
                                         [--jobs N] [NOTEBOOK ...]

The seed of the shuffle is printed, so an order that fails can be replayed.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import random
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from refresh_notebooks import execute, stored_text

ROOT = Path(__file__).resolve().parent.parent


def first_difference(name: str, stored: str, fresh: str) -> str:
    """Where a re-executed notebook differs from the stored one, readably."""
    try:
        old_cells, new_cells = json.loads(stored)["cells"], json.loads(fresh)["cells"]
    except (json.JSONDecodeError, KeyError):
        old_cells, new_cells = [], []
    for i, (old, new) in enumerate(zip(old_cells, new_cells, strict=False)):
        if old != new:
            source = "".join(old.get("source", ""))[:200]
            a = json.dumps(old.get("outputs", old), indent=1, sort_keys=True).splitlines()
            b = json.dumps(new.get("outputs", new), indent=1, sort_keys=True).splitlines()
            diff = "\n".join(list(difflib.unified_diff(a, b, "stored", "re-executed",
                                                       lineterm="", n=1))[:40])
            return (f"{name}: cell {i} differs after re-execution.\n"
                    f"  its source begins: {source!r}\n{diff}")
    diff = "\n".join(list(difflib.unified_diff(stored.splitlines(), fresh.splitlines(),
                                               "stored", "re-executed", lineterm="",
                                               n=1))[:40])
    return f"{name}: the file differs after re-execution (not in a cell's content).\n{diff}"


def check_one(path: str, workdir: str) -> tuple[str, float, str | None]:
    """Execute one notebook in ``workdir``; (name, seconds, difference or None)."""
    source = Path(path)
    copy = Path(workdir) / source.name
    try:
        nb, seconds = execute(copy)
    except SystemExit as exc:  # a cell raised or wrote to stderr
        return str(source), 0.0, str(exc).replace(str(copy), str(source))
    fresh = stored_text(nb)
    stored = source.read_text(encoding="utf-8")
    problem = None if fresh == stored else first_difference(str(source), stored, fresh)
    return str(source), seconds, problem


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the shuffled order (default: from the clock)")
    parser.add_argument("--order", choices=["shuffled", "sorted", "reversed"],
                        default="shuffled")
    parser.add_argument("--jobs", type=int, default=1,
                        help="notebooks executed at once (each in its own kernel)")
    args = parser.parse_args(argv)

    paths = [p.resolve() for p in args.notebooks] or sorted((ROOT / "book").glob("*.ipynb"))
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        print(f"check_reproducible: no such notebook(s): {missing}", file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else int(time.time()) % 100_000
    if args.order == "shuffled":
        random.Random(seed).shuffle(paths)
    elif args.order == "reversed":
        paths.reverse()
    threads = os.environ.get("LESSONS_TORCH_THREADS", "1")
    print(f"check_reproducible: {len(paths)} notebook(s), order {args.order} (seed {seed}), "
          f"LESSONS_TORCH_THREADS={threads}, {args.jobs} at a time", flush=True)

    failures = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kl-repro-") as tmp:
        for folder in sorted({p.parent for p in paths}):
            shutil.copytree(folder, Path(tmp), dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "_build"))
        with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            jobs = [pool.submit(check_one, str(p), tmp) for p in paths]
            for job in jobs:
                name, seconds, problem = job.result()
                status = "identical" if problem is None else "DIFFERS"
                print(f"  {Path(name).name}: {status} ({seconds:.1f} s)", flush=True)
                if problem:
                    failures.append(problem)
    total = time.perf_counter() - start
    if failures:
        print("\n\n".join(failures), file=sys.stderr)
        print(f"check_reproducible: {len(failures)} of {len(paths)} notebook(s) did not "
              f"re-execute to their stored file (seed {seed}); if the change is intended, "
              f"run 'make refresh' and commit", file=sys.stderr)
        return 1
    print(f"check_reproducible: all {len(paths)} notebook(s) re-executed byte-identical "
          f"in {total:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
