"""Time the book: builds, nbval, and each notebook's execution against its floor.

Everything runs on a copy of the repository's files in a temporary folder (nothing in the
working tree is touched), with the project's virtual environment:

- **clean build**: ``jupyter-book build`` with an empty execution cache (all notebooks run);
- **no-change rebuild**: the same command again (target <= 5 s);
- **touched-chapter rebuild**: after editing one code cell of one chapter; the build log
  must show that chapter, and only it, executed;
- **nbval**: ``pytest --nbval`` over the book, on one worker and on two (pytest-xdist);
- **per notebook**: execution in a fresh kernel (as ``make refresh`` runs it) next to its
  *floor*, a fresh kernel that runs only the notebook's import statements. Targets: the
  whole book <= 3x the sum of the floors, and each chapter that trains no model <= 2x its
  own floor.

Usage: ``python benchmarks/bench_book.py [--out benchmarks/results.json]`` (``make bench``).
The figures are printed and merged into the results file under ``"book"``, with the machine.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from refresh_notebooks import execute  # noqa: E402

BIN = Path(sys.executable).parent
RESULTS = Path(__file__).with_name("results.json")
TOUCHED = "book/01_definition"
NO_CHANGE_TARGET_S = 5.0
BOOK_TARGET = 3.0
CHAPTER_TARGET = 2.0
# Chapters that train a model (an optimiser loop over parameters): their execution is
# dominated by training, so only the whole-book target applies to them.
TRAINS = {
    "04_forward_reverse": "fits Q to P by gradient descent on the reverse KL",
    "05_vae_elbo": "trains VAEs on the digits",
    "06_ppo_rlhf": "trains policies with PPO",
    "07_js_gans": "trains a GAN",
    "08_mle": "trains digit classifiers",
}
_EXECUTED = re.compile(r"^(\S+): Executing notebook using", re.MULTILINE)


def copy_project(dest: Path) -> Path:
    """The repository's tracked files (as they are in the working tree) under ``dest``."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def build(project: Path) -> tuple[float, list[str]]:
    """Build the book; (seconds, documents whose notebooks were executed)."""
    start = time.perf_counter()
    proc = subprocess.run([BIN / "jupyter-book", "build", str(project), "-W", "-n",
                           "--keep-going"], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"bench_book: the build of {project} failed:\n{proc.stdout[-3000:]}"
                         f"\n{proc.stderr[-3000:]}")
    log = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)
    docs = set()
    for name in _EXECUTED.findall(log):  # a path to the notebook, or a document name
        path = Path(name)
        if path.is_absolute():
            path = path.relative_to(project)
        docs.add(path.with_suffix("").as_posix())
    return seconds, sorted(docs)


def touch_code_cell(notebook: Path) -> None:
    """Edit the first code cell (a comment line): the execution cache must miss."""
    nb = nbformat.read(notebook, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code")
    cell.source += "\n# touched by benchmarks/bench_book.py"
    nbformat.write(nb, notebook)


def timed(cmd: list, cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"bench_book: {' '.join(map(str, cmd))} failed:\n"
                         f"{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - start


def import_lines(notebook: Path) -> str:
    """Every top-level import statement in the notebook's code cells, in order."""
    lines = []
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                line = ast.get_source_segment(cell.source, node)
                if line not in lines:
                    lines.append(line)
    return "\n".join(lines) + "\nprint('imported')"


def floor_notebook(notebook: Path, dest: Path) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(import_lines(notebook))])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    path = dest / f"floor_{notebook.name}"
    nbformat.write(nb, path)
    return path


def per_notebook(project: Path) -> list[dict]:
    rows = []
    for notebook in sorted((project / "book").glob("*.ipynb")):
        floor_nb = floor_notebook(notebook, notebook.parent)
        floor = min(execute(floor_nb)[1] for _ in range(2))  # a floor is a best case
        _, seconds = execute(notebook)
        stem = notebook.stem
        rows.append({"notebook": stem, "seconds": round(seconds, 2),
                     "floor_s": round(floor, 2), "ratio": round(seconds / floor, 2),
                     "trains": TRAINS.get(stem)})
    return rows


def machine() -> dict:
    return {"cpu_count": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "processor": platform.machine(),
            "load_average_1min_at_start": round(os.getloadavg()[0], 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--keep", type=Path, default=None,
                        help="copy the clean build's site here (for bench_pages.py)")
    args = parser.parse_args(argv)
    info = machine()
    with tempfile.TemporaryDirectory(prefix="kl-bench-") as tmp:
        project = copy_project(Path(tmp) / "book-copy")
        clean_s, clean_run = build(project)
        if args.keep:
            shutil.rmtree(args.keep, ignore_errors=True)
            shutil.copytree(project / "_build" / "html", args.keep)
        nochange_s, nochange_run = build(project)
        touch_code_cell(project / f"{TOUCHED}.ipynb")
        touched_s, touched_run = build(project)
        nbval_cmd = [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env", "-q",
                     "-p", "no:cacheprovider", "book"]
        (project / "book" / f"{Path(TOUCHED).name}.ipynb").write_bytes(
            (ROOT / f"{TOUCHED}.ipynb").read_bytes())  # undo the edit before nbval
        nbval_1 = timed(nbval_cmd, project)
        nbval_2 = timed([*nbval_cmd, "-n", "2", "--dist", "loadfile"], project)
        rows = per_notebook(project)

    total, floors = sum(r["seconds"] for r in rows), sum(r["floor_s"] for r in rows)
    book = {
        "machine": info,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "clean_build_s": round(clean_s, 1), "clean_build_executed": clean_run,
        "no_change_rebuild_s": round(nochange_s, 1), "no_change_executed": nochange_run,
        "touched": TOUCHED, "touched_rebuild_s": round(touched_s, 1),
        "touched_executed": touched_run,
        "nbval_s": {"1 worker": round(nbval_1, 1), "2 workers": round(nbval_2, 1)},
        "notebooks": rows,
        "book_execution_s": round(total, 1), "sum_of_floors_s": round(floors, 1),
        "book_ratio": round(total / floors, 2),
    }

    def verdict(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    print(f"machine: {info['cpu_count']} cores, {info['platform']}, Python {info['python']}, "
          f"load {info['load_average_1min_at_start']} at start")
    print(f"clean build (all notebooks executed):  {clean_s:6.1f} s  "
          f"({len(clean_run)} notebooks executed)")
    print(f"no-change rebuild:                     {nochange_s:6.1f} s  "
          f"(target <= {NO_CHANGE_TARGET_S} s: {verdict(nochange_s <= NO_CHANGE_TARGET_S)}; "
          f"executed {nochange_run or 'nothing'})")
    only = touched_run == [TOUCHED]
    print(f"rebuild after editing {TOUCHED}: {touched_s:6.1f} s  "
          f"(executed {touched_run}: {verdict(only)})")
    print(f"pytest --nbval: {nbval_1:.1f} s on 1 worker, {nbval_2:.1f} s on 2 (xdist)")
    print(f"{'notebook':<22} {'run (s)':>8} {'floor (s)':>10} {'ratio':>6}  target")
    for r in rows:
        target = (f"book only ({r['trains']})" if r["trains"] else
                  f"<= {CHAPTER_TARGET}x: {verdict(r['ratio'] <= CHAPTER_TARGET)}")
        print(f"{r['notebook']:<22} {r['seconds']:>8.2f} {r['floor_s']:>10.2f} "
              f"{r['ratio']:>6.2f}  {target}")
    print(f"whole book: {total:.1f} s vs floors {floors:.1f} s = {total / floors:.2f}x "
          f"(target <= {BOOK_TARGET}x: {verdict(total / floors <= BOOK_TARGET)})")

    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    if "results" in results and "lessons" not in results:  # bench_lessons' flat format
        results = {"lessons": results}
    results["book"] = book
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
