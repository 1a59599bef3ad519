"""Write a copy of the book's _config.yml that forces notebook execution.

`make build-strict` builds with it, so every notebook is executed against the current
lessons_src instead of being served from Jupyter Book's execution cache.

Usage: python scripts/forced_config.py SOURCE DEST
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml


def main(source: str, dest: str) -> None:
    config = yaml.safe_load(Path(source).read_text(encoding="utf-8"))
    config.setdefault("execute", {})["execute_notebooks"] = "force"
    Path(dest).write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


if __name__ == "__main__":
    main(*sys.argv[1:])
