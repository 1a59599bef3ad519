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
    source_path = Path(source).resolve()
    config = yaml.safe_load(source_path.read_text(encoding="utf-8"))
    config.setdefault("execute", {})["execute_notebooks"] = "force"
    # Jupyter Book resolves local extension folders against the config file's folder.
    local = config.get("sphinx", {}).get("local_extensions") or {}
    for name, folder in local.items():
        local[name] = str((source_path.parent / folder).resolve())
    Path(dest).write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


if __name__ == "__main__":
    main(*sys.argv[1:])
