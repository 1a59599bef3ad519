"""The built website in a real browser: every page loads offline, math is typeset, and
every quiz question answers a right answer with positive feedback and a wrong one with
negative feedback.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from notebook_checks import quiz_files as notebook_quiz_files
from notebook_checks import toc_docs

from lessons_src import load_quiz

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]


def toc_files() -> list[str]:
    return toc_docs(ROOT)


def quiz_files(doc: str) -> list[Path]:
    """The quiz files a notebook shows, in order (none for a Markdown page)."""
    nb = ROOT / f"{doc}.ipynb"
    return notebook_quiz_files(nb) if nb.exists() else []


class PageWatch:
    """Records what a page requests from other hosts and the errors it logs."""

    def __init__(self, page, site_url: str) -> None:
        self.host = urlsplit(site_url).netloc
        self.foreign: list[str] = []
        self.errors: list[str] = []
        page.on("request", self._request)
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        # Anything not on our host is recorded and refused, so a test cannot pass by luck.
        page.route(re.compile(r"^(?!https?://127\.0\.0\.1[:/]).*"), self._refuse)

    def _request(self, request) -> None:
        url = request.url
        if url.startswith(("data:", "blob:", "about:")):
            return
        if urlsplit(url).netloc != self.host:
            self.foreign.append(url)

    @staticmethod
    def _refuse(route) -> None:
        if route.request.url.startswith(("data:", "blob:", "about:")):
            route.continue_()
        else:
            route.abort()


def open_page(browser, site_url: str, doc: str):
    page = browser.new_page()
    watch = PageWatch(page, site_url)
    response = page.goto(f"{site_url}/{doc}.html", wait_until="load")
    assert response is not None and response.ok, f"{doc}.html: HTTP {response and response.status}"
    # Wait until MathJax (served by the site itself) has typeset the page. Sphinx loads it
    # only on pages with math, and quizzes typeset their text with it too.
    if page.locator("script[src*='mathjax']").count():
        page.wait_for_function(
            "() => window.MathJax && MathJax.startup && MathJax.startup.promise",
            timeout=15_000)
        page.evaluate("() => MathJax.startup.promise")
    return page, watch


@pytest.mark.parametrize("doc", toc_files())
def test_page_loads_offline_with_typeset_math(browser, site_url, doc):
    page, watch = open_page(browser, site_url, doc)
    try:
        if page.locator("article .math").count():
            assert page.locator("script[src*='mathjax']").count(), (
                f"{doc}: the page has math but loads no MathJax")
            assert page.locator("article mjx-container").count() > 0, (
                f"{doc}: the page has math but MathJax typeset none of it")
        raw = page.evaluate("""() => {
            const article = document.querySelector('article').cloneNode(true);
            article.querySelectorAll('pre, code, mjx-container, script, style')
                   .forEach(e => e.remove());
            return article.innerText;
        }""")
        for token in ("$$", "\\[", "\\(", "\\frac", "\\mathrm"):
            assert token not in raw, f"{doc}: raw TeX {token!r} left in the page text"
        page.wait_for_timeout(600)  # quizzes typeset after a 500 ms delay: catch its errors
        assert not watch.foreign, f"{doc}: requests left 127.0.0.1: {watch.foreign}"
        assert not watch.errors, f"{doc}: console errors: {watch.errors}"
    finally:
        page.close()


def _feedback(question):
    fb = question.locator(".Feedback")
    return fb.get_attribute("class") or "", fb.inner_text()


def _plain(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", "", html).split())


def _answer_numeric(question, text: str) -> None:
    box = question.locator("input.Input-text")
    box.click()  # focusing clears the box
    box.press_sequentially(text)
    box.press("Enter")


QUIZ_DOCS = [d for d in toc_files() if quiz_files(d)]


def test_every_notebook_chapter_has_a_quiz():
    notebooks = [d for d in toc_files() if (ROOT / f"{d}.ipynb").exists()]
    assert notebooks, "no notebook chapters in _toc.yml"
    missing = [d for d in notebooks if d not in QUIZ_DOCS]
    assert not missing, f"chapters without a show_quiz(...) cell: {missing}"


@pytest.mark.parametrize("doc", QUIZ_DOCS)
def test_quiz_feedback(browser, site_url, doc):
    quizzes = [load_quiz(p) for p in quiz_files(doc)]
    page, watch = open_page(browser, site_url, doc)
    try:
        containers = page.locator("div[data-shufflequestions]")
        page.wait_for_function(
            "n => document.querySelectorAll('div[data-shufflequestions] .Quiz').length >= n",
            arg=sum(len(q.questions) for q in quizzes), timeout=10_000)
        assert containers.count() == len(quizzes), (
            f"{doc}: {len(quizzes)} quiz file(s) but {containers.count()} quiz(zes) on the page")
        for k, quiz in enumerate(quizzes):
            shown = containers.nth(k).locator(".Quiz")
            assert shown.count() == len(quiz.questions), f"{quiz.path}: question count differs"
            for i, q in enumerate(quiz.questions):
                where = f"{quiz.path}: question {q['id']!r}"
                question = shown.nth(i)
                if q["type"] == "numeric":
                    value, decimals = q["_value"], q["_decimals"]
                    wrong = value + 1.0 + 10.0 ** -decimals * 7
                    _answer_numeric(question, f"{wrong:.{decimals + 2}f}")
                    cls, text = _feedback(question)
                    assert "incorrect" in cls, f"{where}: a wrong number was not marked wrong"
                    _answer_numeric(question, f"{value:.{decimals}f}")
                    cls, text = _feedback(question)
                    assert "incorrect" not in cls and "correct" in cls, (
                        f"{where}: {value:.{decimals}f} was not accepted ({text!r})")
                    assert text.strip(), f"{where}: no feedback for the right answer"
                    for slip in q["answers"][1:-1]:  # the quiz's listed mistakes
                        mid = sum(slip["range"]) / 2
                        _answer_numeric(question, f"{mid:.{decimals}f}")
                        cls, text = _feedback(question)
                        assert "incorrect" in cls, f"{where}: mistake {mid} not marked wrong"
                        assert _plain(text) == _plain(slip["feedback"]), (
                            f"{where}: mistake {mid} did not get its own feedback")
                else:
                    labels = question.locator("label.MCButton")
                    texts = [a["answer"] for a in q["answers"]]
                    for answer in (a for a in q["answers"] if not a["correct"]):
                        labels.nth(texts.index(answer["answer"])).click()
                        cls, text = _feedback(question)
                        assert "incorrect" in cls, f"{where}: {answer['answer']!r} not marked wrong"
                        assert text.strip(), f"{where}: no feedback for a wrong answer"
                    for answer in (a for a in q["answers"] if a["correct"]):
                        labels.nth(texts.index(answer["answer"])).click()
                        cls, text = _feedback(question)
                        assert "incorrect" not in cls and "correct" in cls, (
                            f"{where}: {answer['answer']!r} not marked right")
        assert not watch.foreign, f"{doc}: requests left 127.0.0.1: {watch.foreign}"
        assert not watch.errors, f"{doc}: console errors: {watch.errors}"
    finally:
        page.close()


def test_quiz_survives_slow_mathjax(browser, site_url):
    """MathJax arriving late (a slow machine or network) must not break a quiz: no console
    error, and the quiz's questions still render."""
    import time

    doc = QUIZ_DOCS[0]
    page = browser.new_page()
    watch = PageWatch(page, site_url)

    def slow(route):
        time.sleep(1.5)
        route.continue_()

    page.route("**/mathjax/tex-chtml.js*", slow)
    page.goto(f"{site_url}/{doc}.html", wait_until="load")
    try:
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                               timeout=20_000)
        page.evaluate("() => MathJax.startup.promise")
        page.wait_for_function("() => document.querySelectorAll("
                               "'div[data-shufflequestions] .Quiz').length > 0", timeout=10_000)
        page.wait_for_timeout(800)
        assert not watch.errors, f"{doc}: console errors with a slow MathJax: {watch.errors}"
        assert not watch.foreign, f"{doc}: requests left 127.0.0.1: {watch.foreign}"
    finally:
        page.close()


@pytest.mark.parametrize("doc", toc_files())
def test_page_links_only_assets_it_uses(site_url, doc):
    """book/_ext/offline_site.py drops the 1.5 MB Font Awesome script and the assets of
    bundled extensions a page does not use (the page weight figures in the README)."""
    import urllib.error
    import urllib.request

    with urllib.request.urlopen(f"{site_url}/{doc}.html") as response:
        html = response.read().decode("utf-8")
    assert "fontawesome.js" not in html, f"{doc}: still loads the Font Awesome script"
    if "sd-" not in html.split("<body", 1)[1]:
        assert "sphinx-design" not in html, f"{doc}: links sphinx-design without using it"
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(f"{site_url}/_static/scripts/fontawesome.js")


CHAPTERS = [d for d in toc_files() if (ROOT / f"{d}.ipynb").exists()]


def _reading_minutes(doc: str) -> int:
    """Minutes to read a notebook's text at 200 words a minute, counted as MyST counts
    them (mdit_py_plugins.wordcount), directive bodies (exercises, proofs) included."""
    import json

    from markdown_it import MarkdownIt
    from mdit_py_plugins.amsmath import amsmath_plugin
    from mdit_py_plugins.colon_fence import colon_fence_plugin
    from mdit_py_plugins.deflist import deflist_plugin
    from mdit_py_plugins.dollarmath import dollarmath_plugin
    from mdit_py_plugins.wordcount import wordcount_plugin

    md = (MarkdownIt("commonmark").enable("table").use(dollarmath_plugin).use(amsmath_plugin)
          .use(colon_fence_plugin).use(deflist_plugin).use(wordcount_plugin, per_minute=200))

    def parse(text: str, env: dict) -> None:
        for token in md.parse(text, env):
            if (token.type in ("fence", "colon_fence") and token.info.startswith("{")
                    and not token.info.startswith(("{code", "{math"))):
                parse("\n".join(line for line in token.content.splitlines()
                                if not re.match(r"^:\w[\w-]*:", line)), env)

    env: dict = {}
    cells = json.loads((ROOT / f"{doc}.ipynb").read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        if cell["cell_type"] == "markdown":
            parse("".join(cell["source"]), env)
    return env["wordcount"]["minutes"]


@pytest.mark.parametrize("doc", CHAPTERS)
def test_chapter_opens_with_reading_time_and_prerequisites(site_url, doc):
    """Under each chapter's title: its reading time (computed by MyST from the text, not
    typed) and its prerequisites, which link only to earlier chapters."""
    import urllib.request

    with urllib.request.urlopen(f"{site_url}/{doc}.html") as response:
        html = response.read().decode("utf-8")
    block = re.search(r"</h1>\s*<div class=\"kl-chapter-meta[^\"]*\">(.*?)</div>", html, re.S)
    assert block, f"{doc}: no reading time and prerequisites right under the title"
    text = _plain(block.group(1))
    minutes = re.search(r"Reading time: about (\d+) minutes", text)
    assert minutes, f"{doc}: no reading time in {text!r}"
    expected = _reading_minutes(doc)
    assert abs(int(minutes.group(1)) - expected) <= max(1, expected // 10), (
        f"{doc}: shows {minutes.group(1)} minutes, the text has about {expected}")
    assert "Prerequisites:" in text, f"{doc}: no prerequisites in {text!r}"
    number = int(Path(doc).name[:2])
    hrefs = re.findall(r'href="(\d\d_[^"#]+)\.html', block.group(1))
    linked = [int(h[:2]) for h in hrefs]
    assert all(n < number for n in linked), f"{doc}: a prerequisite is not an earlier chapter"
    if number > 1:
        assert linked, f"{doc}: names no earlier chapter as a prerequisite"
