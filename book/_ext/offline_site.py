"""Sphinx extension: keep the course website self-contained and its console clean.

Jupyter Book 1.x always loads sphinx-thebe, which registers its inline configuration
twice (a console error, "Identifier 'THEBE_JS_URL' has already been declared") and points
at a CDN. The book has no live-code buttons, so every page drops thebe's scripts and
stylesheet here.
"""

from __future__ import annotations

from typing import Any


def _is_thebe(asset: Any) -> bool:
    name = str(getattr(asset, "filename", asset) or "")
    body = str(getattr(asset, "attributes", {}).get("body", ""))
    return "thebe" in name or "THEBE_JS_URL" in body


def drop_thebe(app, pagename, templatename, context, doctree) -> None:
    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [a for a in context[key] if not _is_thebe(a)]


def setup(app) -> dict[str, Any]:
    app.connect("html-page-context", drop_thebe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
