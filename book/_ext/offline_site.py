"""Sphinx extension: keep the course website self-contained, accessible and its console clean.

- Jupyter Book 1.x always loads sphinx-thebe, which registers its inline configuration
  twice (a console error, "Identifier 'THEBE_JS_URL' has already been declared") and
  points at a CDN. The book has no live-code buttons, so every page drops thebe's scripts
  and stylesheet here.
- Every ``.css`` and ``.js`` file in ``book/_ext/static/`` is served with the site and
  linked from every page (in name order): the course's own styles and scripts, such as
  quiz progress (``progress.js``) and accessibility fixes (``course.css``).
- Pages load only the assets they use. Jupyter Book links the stylesheets and scripts of
  every extension it bundles from every page; :func:`prune_assets` drops those a page has
  no element for (sphinx-design, proofs, exercises, copy and toggle buttons), and
  :func:`drop_fontawesome_js` removes the theme's 1.5 MB Font Awesome script, which only
  swaps the icon font (already loaded by the theme's stylesheet) for SVGs.
- Pages with an interactive playground (``lessons_src.playground``: a
  ``<div class="kl-playground">``) name BokehJS in ``_static/bokeh/``, copied from the
  installed ``bokeh`` package (:func:`add_bokehjs`, :func:`copy_bokehjs`); the playground
  loads it when it nears the screen. Other pages do not pay for it. The notebooks' own
  ``load_bokehjs()`` cell is tagged ``remove-cell``.
- ``_static/quiz-manifest.js`` lists every chapter's quiz (its page, title and number of
  questions), so the "Your progress" page can show chapters the reader has not opened.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

STATIC = Path(__file__).resolve().parent / "static"


def _is_thebe(asset: Any) -> bool:
    name = str(getattr(asset, "filename", asset) or "")
    body = str(getattr(asset, "attributes", {}).get("body", ""))
    return "thebe" in name or "THEBE_JS_URL" in body


def drop_thebe(app, pagename, templatename, context, doctree) -> None:
    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [a for a in context[key] if not _is_thebe(a)]


# (asset name fragment, what in a page's body needs it)
_OPTIONAL_ASSETS = [
    (("sphinx-design", "design-tabs"), ("sd-",)),
    (("proof.css",), ("proof",)),
    (("exercise.css",), ("exercise", "solution")),
    (("copybutton", "clipboard.min"), ("<pre",)),
    (("togglebutton",), ("toggle", "dropdown")),
]


def prune_assets(app, pagename, templatename, context, doctree) -> None:
    """Drop the stylesheets and scripts of bundled extensions that the page does not use."""
    body = context.get("body", "")
    if not body:
        return
    unused = [names for names, needs in _OPTIONAL_ASSETS if not any(n in body for n in needs)]
    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [a for a in context[key]
                            if not any(n in str(getattr(a, "filename", a) or "")
                                       for names in unused for n in names)]


_FONTAWESOME_JS = re.compile(r'\s*<script defer src="[^"]*_static/scripts/fontawesome\.js[^"]*">'
                             r"</script>")


def drop_fontawesome_js(app, exception) -> None:
    """Remove the theme's Font Awesome script from every page, and the script itself."""
    if exception is not None or app.builder.format != "html":
        return
    out = Path(app.outdir)
    for page in out.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        lean = _FONTAWESOME_JS.sub("", text)
        if lean != text:
            page.write_text(lean, encoding="utf-8")
    for path in (out / "_static" / "scripts").glob("fontawesome.js*"):
        path.unlink()


_PLAYGROUND = 'class="kl-playground"'


def add_bokehjs(app, pagename, templatename, context, doctree) -> None:
    """On pages that show a playground, list the site's BokehJS files in
    ``window.KL_BOKEHJS``: the playground loads them when it comes near the screen."""
    if _PLAYGROUND not in context.get("body", ""):
        return
    from sphinx.builders.html._assets import _JavaScript

    from lessons_src.playground import BOKEHJS_FILES

    urls = [context["pathto"](f"_static/bokeh/{name}", 1) for name in BOKEHJS_FILES]
    context["script_files"] = [*context.get("script_files", []),
                               _JavaScript(None, priority=600,
                                           body=f"window.KL_BOKEHJS = {json.dumps(urls)};")]


def copy_bokehjs(app, exception) -> None:
    """Serve the BokehJS files the playground pages name, from the installed bokeh.

    A rebuild whose ``_static/bokeh/`` already matches the installed files returns before
    importing lessons_src (about 0.5 s, which a no-change rebuild need not pay)."""
    if exception is not None or app.builder.format != "html":
        return
    import importlib.util

    out = Path(app.outdir) / "_static" / "bokeh"
    spec = importlib.util.find_spec("bokeh")  # finds the package without importing it
    if spec is not None and spec.origin:
        source = Path(spec.origin).parent / "server" / "static" / "js"
        have = sorted(out.glob("*.js"))
        if have and all((source / f.name).is_file()
                        and (source / f.name).stat().st_size == f.stat().st_size for f in have):
            return
    from lessons_src.playground import bokehjs_paths

    out.mkdir(parents=True, exist_ok=True)
    for path in bokehjs_paths():
        shutil.copyfile(path, out / path.name)


def tag_page(app, pagename, templatename, context, doctree) -> None:
    """Name the page's document in a meta tag: progress.js keys a quiz's score by it."""
    context["metatags"] = context.get("metatags", "") + (
        f'\n<meta name="kl-doc" content="{pagename}" />')


_SHOW_QUIZ = re.compile(r"""show_quiz\(\s*["']([^"']+)["']\s*\)""")


def quiz_manifest(app) -> list[dict[str, Any]]:
    """Each notebook of the book that shows a quiz: its page, title and question count."""
    import yaml

    env = app.env
    chapters = []
    for doc in env.found_docs:
        source = Path(env.doc2path(doc))
        if source.suffix != ".ipynb":
            continue
        cells = json.loads(source.read_text(encoding="utf-8"))["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        files = _SHOW_QUIZ.findall(code)
        if not files:
            continue
        # Only the count is needed here: the quiz cell validates the file when it runs.
        count = sum(len(yaml.safe_load((source.parent / f).read_text(encoding="utf-8"))
                        ["questions"]) for f in files)
        title = env.titles[doc].astext() if doc in env.titles else doc
        chapters.append({"doc": doc, "title": title, "questions": count})
    order = {doc: i for i, doc in enumerate(_toc_order(app))}
    chapters.sort(key=lambda c: order.get(c["doc"], len(order)))
    return chapters


def _toc_order(app) -> list[str]:
    root = app.config.root_doc
    seen: list[str] = []

    def walk(doc: str) -> None:
        if doc in seen:
            return
        seen.append(doc)
        for child in app.env.toctree_includes.get(doc, []):
            walk(child)

    walk(root)
    return seen


def write_manifest(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    data = json.dumps(quiz_manifest(app), indent=1, sort_keys=True)
    out = Path(app.outdir) / "_static" / "quiz-manifest.js"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"window.KL_QUIZZES = {data};\n", encoding="utf-8")


def add_static(app) -> None:
    app.config.html_static_path.append(str(STATIC))
    app.add_js_file("quiz-manifest.js", loading_method="defer", priority=400)  # first
    for path in sorted(STATIC.glob("*")):
        if path.suffix == ".css":
            app.add_css_file(path.name)
        elif path.suffix == ".js":
            app.add_js_file(path.name, loading_method="defer")


def setup(app) -> dict[str, Any]:
    app.connect("builder-inited", add_static)
    app.connect("html-page-context", drop_thebe, priority=900)
    app.connect("html-page-context", tag_page)
    app.connect("html-page-context", prune_assets, priority=950)
    app.connect("html-page-context", add_bokehjs, priority=960)
    app.connect("build-finished", drop_fontawesome_js)
    app.connect("build-finished", write_manifest)
    app.connect("build-finished", copy_bokehjs)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
