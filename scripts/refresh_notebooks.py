"""Re-execute notebooks in place so their stored outputs are current (`make refresh`).

Each notebook runs in a fresh kernel in its own folder (as Jupyter Book, nbval and
JupyterLab run it). Volatile metadata (timings, kernel ids) is not recorded, so running
this twice gives byte-identical files and `git diff` shows only real changes.

Usage: python scripts/refresh_notebooks.py [NOTEBOOK ...]   (default: book/*.ipynb)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent
KERNEL = "python3"


def merge_streams(outputs: list) -> list:
    """Join consecutive stdout (or stderr) chunks: how a cell's printing is split into
    messages depends on timing, and must not change the stored file."""
    merged: list = []
    for out in outputs:
        prev = merged[-1] if merged else None
        if (out.get("output_type") == "stream" and prev is not None
                and prev.get("output_type") == "stream" and prev.get("name") == out.get("name")):
            prev["text"] += out["text"]
        else:
            merged.append(out)
    return merged


def clean(nb: nbformat.NotebookNode) -> None:
    """Drop metadata that changes from run to run."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("collapsed", None)
        cell.metadata.pop("scrolled", None)
        if cell.cell_type == "code":
            cell.outputs = merge_streams(cell.outputs)
            for out in cell.outputs:
                out.get("metadata", {}).pop("execution", None)


def execute(path: Path, workdir: Path | None = None) -> tuple[nbformat.NotebookNode, float]:
    """Run a notebook in a fresh kernel (in ``workdir``, default its own folder) and return
    it as ``make refresh`` stores it, with the seconds it took. Raise ``SystemExit`` naming
    the notebook if a cell raises or writes to stderr."""
    nb = nbformat.read(path, as_version=4)
    folder = workdir or path.parent
    client = NotebookClient(nb, timeout=300, kernel_name=KERNEL, record_timing=False,
                            # ipykernel logs a warning about TCP transport on every start
                            extra_arguments=["--IPKernelApp.log_level=ERROR"],
                            resources={"metadata": {"path": str(folder)}})
    start = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as exc:
        raise SystemExit(f"{path}: a cell raised:\n{exc}") from None
    elapsed = time.perf_counter() - start
    for cell in nb.cells:
        if cell.cell_type == "code":
            for out in cell.outputs:
                if out.get("output_type") == "stream" and out.get("name") == "stderr":
                    raise SystemExit(f"{path}: a cell wrote to stderr:\n{out.get('text')}")
    clean(nb)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python",
                                 "name": KERNEL}
    nbformat.validate(nb)
    return nb, elapsed


def stored_text(nb: nbformat.NotebookNode) -> str:
    """The exact text ``make refresh`` writes for a notebook."""
    return nbformat.writes(nb) + "\n"


def refresh(path: Path) -> float:
    nb, elapsed = execute(path)
    path.write_text(stored_text(nb), encoding="utf-8")
    return elapsed


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted((ROOT / "book").glob("*.ipynb"))
    for path in paths:
        print(f"{path}: executed in {refresh(path):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
