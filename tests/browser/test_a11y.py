"""Accessibility of the built website, in Chromium.

- axe-core (vendored in tests/browser/vendor/axe-core, never loaded from a CDN) finds no
  serious or critical violation on any page of the book, in the light and in the dark
  theme, with the quizzes rendered;
- at a phone's viewport (390 x 844) no page scrolls sideways nor cuts off a formula, and
  a quiz can be answered and shows readable feedback;
- every figure has alt text and a caption, and the figures stay legible in the light and
  the dark theme (measured on screenshots, saved under pytest's tmp dir).

The site is served by the fixtures in conftest.py (KL_SITE points them at another build).
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pytest
from notebook_checks import toc_docs
from test_site import open_page, quiz_files

from lessons_src import load_quiz

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
DOCS = toc_docs(ROOT)
BLOCKING = ("serious", "critical")
# The rule run again in the dark theme: the theme changes colours only. (axe's other
# colour rule, link-in-text-block, passes on underlined links, and the underline does
# not change with the theme.)
COLOUR_RULES = ["color-contrast"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
FIGURE_DOC = "book/04_forward_reverse"
QUIZ_DOC = "book/02_gibbs"  # a chapter whose quiz has all three kinds of question


# ---- helpers ------------------------------------------------------------------------
def _questions(doc: str) -> int:
    """How many quiz questions a page shows (0 for a page without a quiz)."""
    return sum(len(load_quiz(p).questions) for p in quiz_files(doc))


def _open(context, site_url: str, doc: str):
    """open_page (foreign requests refused, MathJax started), then wait for the quiz."""
    page, watch = open_page(context, site_url, doc)
    n = _questions(doc)
    if n:
        page.wait_for_function("n => document.querySelectorAll('.Quiz').length >= n",
                               arg=n, timeout=15_000)
    return page, watch


def _set_theme(page, theme: str) -> None:
    """Switch the reader's colour-scheme preference; the book follows it (default_mode
    auto), and the test checks that the theme really changed."""
    page.emulate_media(color_scheme=theme)
    page.wait_for_function("t => document.documentElement.dataset.theme === t", arg=theme,
                           timeout=5_000)
    _settle(page)


def _settle(page) -> None:
    """Let CSS transitions and jupyterquiz's colour animations finish (at most 2 s)."""
    page.evaluate("""() => Promise.race([
        Promise.all(document.getAnimations()
            .filter(a => a.effect && a.effect.getTiming().iterations !== Infinity)
            .map(a => a.finished.catch(() => null))),
        new Promise(resolve => setTimeout(resolve, 2000))])""")


def axe(page, include: str | None = None, rules: list[str] | None = None) -> list[dict]:
    """Run the vendored axe-core on the page (or on the elements matching `include`; only
    `rules`, if given) and return its serious or critical violations."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE))
    return page.evaluate(
        """async ([include, rules, blocking]) => {
            const options = {resultTypes: ['violations']};
            if (rules) options.runOnly = {type: 'rule', values: rules};
            const result = await axe.run(include ? {include: [[include]]} : document, options);
            return result.violations.filter(v => blocking.includes(v.impact)).map(v => ({
                id: v.id, impact: v.impact, help: v.help, count: v.nodes.length,
                targets: v.nodes.slice(0, 3).map(n => n.target.join(' ')),
                why: v.nodes[0].failureSummary.split('\\n').slice(1, 2).join('').trim(),
            }));
        }""",
        [include, rules, list(BLOCKING)])


def _describe(where: str, violations: list[dict]) -> str:
    lines = [f"{where}: {len(violations)} serious/critical axe violation(s)"]
    for v in violations:
        lines.append(f"  [{v['impact']}] {v['id']}: {v['help']} ({v['count']} element(s))")
        lines.append(f"      e.g. {'; '.join(v['targets'])}")
        if v["why"]:
            lines.append(f"      {v['why']}")
    return "\n".join(lines)


# ---- every page: phone width, figures, axe in light and dark ---------------------------
_WIDE = """() => {
    // Elements that stick out on the right and are not inside a scroll container.
    const W = document.documentElement.clientWidth, out = [];
    for (const e of document.querySelectorAll('body *')) {
        const r = e.getBoundingClientRect();
        if (r.width === 0 || r.right <= W + 1) continue;
        let a = e.parentElement, clipped = false;
        for (; a && a !== document.body; a = a.parentElement)
            if (getComputedStyle(a).overflowX !== 'visible') { clipped = true; break; }
        if (!clipped) out.push(`${e.tagName.toLowerCase()}.${[...e.classList].join('.')}`
                               + ` (right edge at ${Math.round(r.right)} px)`);
    }
    return out.slice(0, 5);
}"""

# The book's MathJax typesets lazily (math is typeset as it scrolls into view), so most
# formulas are not typeset yet when a page is measured. Each is held in a box no wider
# than the column (div.math / span.math: max-width 100%, overflow hidden) whose formula
# scrolls inside it (overflow-x auto), so a formula typeset later can neither widen the
# page nor be cut off. This lists the formulas that are not held so.
_LOOSE_MATH = """() => [...document.querySelectorAll('div.math, span.math')].filter(m => {
    const box = getComputedStyle(m), c = m.querySelector(':scope > mjx-container');
    const inner = c ? getComputedStyle(c).overflowX : 'auto';
    return box.overflowX === 'visible' || box.maxWidth !== '100%'
        || !['auto', 'scroll'].includes(inner);
}).slice(0, 5).map(m => `${m.tagName.toLowerCase()}.math: ${m.textContent.trim().slice(0, 50)}`)"""

# Typeset inline formulas that fit in the line yet would show a scroll bar (where scroll
# bars take room, as on most desktops): the hidden MathML that MathJax adds for screen
# readers, or a glyph's overhang, made them a pixel or more too wide for their box.
_SCROLLING_SHORT_MATH = """() => [...document.querySelectorAll('span.math > mjx-container')]
    .filter(c => c.querySelector('mjx-math') && c.scrollWidth > c.clientWidth
                 && c.getBoundingClientRect().width < c.parentElement.parentElement.clientWidth - 2)
    .slice(0, 5).map(c => c.textContent.trim().slice(0, 40))"""

_FIGURES = """() => [...document.querySelectorAll('article img')].map(img => {
    const fig = img.closest('figure'), cap = fig && fig.querySelector('figcaption');
    const problems = [];
    if ((img.getAttribute('alt') || '').trim().length < 10) problems.push('no alt text');
    if (!cap || !cap.textContent.trim()) problems.push('no caption');
    return problems.length ? `${img.getAttribute('src')}: ${problems.join(', ')}` : '';
}).filter(Boolean)"""


@pytest.mark.parametrize("doc", DOCS)
def test_page_accessible(browser, site_url, doc):
    """One page, loaded once. axe-core finds no serious or critical violation in the light
    theme (all rules) nor in the dark theme (the colour rule: the theme changes colours
    only, so the other rules would find the same); its figures have alt text and a
    caption; and at a phone's size it does not scroll sideways, and its formulas are held
    in boxes no wider than the column.

    axe checks the page as it loads: MathJax typesets math lazily, as it scrolls into
    view, so axe sees MathJax's output for the math of the first screen only. (Typesetting
    all of it would triple the page's elements and this test's time.)"""
    context = browser.new_context(viewport=DESKTOP, color_scheme="light")
    try:
        page, watch = _open(context, site_url, doc)
        missing = page.evaluate(_FIGURES)
        assert not missing, f"{doc}: figures without alt text or a caption: {missing}"
        scrolling = page.evaluate(_SCROLLING_SHORT_MATH)
        assert not scrolling, f"{doc}: short inline formulas that scroll: {scrolling}"

        found = {"light": axe(page)}
        _set_theme(page, "dark")
        found["dark"] = axe(page, rules=COLOUR_RULES)
        report = [_describe(f"{doc} ({theme} theme)", v) for theme, v in found.items() if v]
        assert not report, "\n".join(report)

        page.set_viewport_size(PHONE)
        page.wait_for_function("w => window.innerWidth === w", arg=PHONE["width"],
                               timeout=5_000)
        width, inner = page.evaluate(
            "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert width <= inner + 1, (
            f"{doc}: at a {PHONE['width']} px wide phone viewport the page is {width} px "
            f"wide, so it scrolls sideways; too wide: {page.evaluate(_WIDE)}")
        loose = page.evaluate(_LOOSE_MATH)
        assert not loose, (
            f"{doc}: formulas that could widen the page or be cut off on a phone: {loose}")
        assert not watch.foreign, f"{doc}: requests left 127.0.0.1: {watch.foreign}"
    finally:
        context.close()


def test_quiz_usable_on_a_phone(browser, site_url):
    """At 390 x 844 a quiz answer can be tapped and typed, its feedback shows inside the
    screen, and the answered quiz (green and red answers, feedback) passes axe in both
    themes."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        page, watch = _open(context, site_url, QUIZ_DOC)
        quizzes = page.locator(".Quiz")
        choice = quizzes.filter(has=page.locator(".MultipleChoiceQn")).first
        numeric = quizzes.filter(has=page.locator(".NumericQn")).first

        answers = choice.locator("label.MCButton")
        assert answers.count() >= 2, f"{QUIZ_DOC}: no multiple-choice answers found"
        for i in range(answers.count()):
            box = answers.nth(i).bounding_box()
            assert box and box["height"] >= 24 and box["x"] >= 0 and (
                box["x"] + box["width"] <= PHONE["width"]), (
                f"{QUIZ_DOC}: answer {i} is not a full tap target on the screen: {box}")
        answers.first.scroll_into_view_if_needed()
        answers.first.tap()
        feedback = choice.locator(".Feedback")
        feedback.wait_for(state="visible", timeout=5_000)
        assert feedback.inner_text().strip(), f"{QUIZ_DOC}: tapping an answer gave no feedback"
        assert "correct" in (feedback.get_attribute("class") or ""), (
            f"{QUIZ_DOC}: the feedback is not marked right or wrong")
        fb_box = feedback.bounding_box()
        assert fb_box and fb_box["x"] + fb_box["width"] <= PHONE["width"] + 1, (
            f"{QUIZ_DOC}: the feedback runs off the screen: {fb_box}")

        field = numeric.locator("input.Input-text")
        field.scroll_into_view_if_needed()
        field.tap()
        field.press_sequentially("0.5")
        field.press("Enter")
        assert numeric.locator(".Feedback").inner_text().strip(), (
            f"{QUIZ_DOC}: a typed answer gave no feedback")

        for theme in ("light", "dark"):
            _set_theme(page, theme)
            found = axe(page, include="div[data-shufflequestions]")
            assert not found, _describe(f"{QUIZ_DOC} answered quiz ({theme}, phone)", found)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= PHONE["width"] + 1, f"{QUIZ_DOC}: answering widened the page to {width}"
        assert not watch.foreign, f"{QUIZ_DOC}: requests left 127.0.0.1: {watch.foreign}"
    finally:
        context.close()


# ---- figures ------------------------------------------------------------------------
def _luminance(rgb) -> float:
    """WCAG relative luminance of an sRGB colour (0-255 channels)."""
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a: float, b: float) -> float:
    hi, lo = max(a, b), min(a, b)
    return (hi + 0.05) / (lo + 0.05)


def figure_legibility(png: bytes) -> tuple[float, float]:
    """(luminance of the figure's background, contrast of its ink against it) from a
    screenshot of the figure: the background is its most common colour, the ink (text,
    axes) the darkest 0.5 % of its pixels."""
    from PIL import Image

    image = Image.open(BytesIO(png)).convert("RGB")
    colours = image.getcolors(image.width * image.height)  # [(count, (r, g, b)), ...]
    bg = _luminance(max(colours)[1])
    dark_first = sorted((_luminance(rgb), count) for count, rgb in colours)
    seen, ink = 0, dark_first[0][0]
    for lum, count in dark_first:
        seen, ink = seen + count, lum
        if seen >= image.width * image.height / 200:
            break
    return bg, _contrast(bg, ink)


def test_figure_legible_in_light_and_dark_screenshots(browser, site_url, tmp_path):
    """The figures of a chapter in the light and the dark theme: each keeps a light panel,
    its dark text and lines stand out from it (contrast at least 4.5:1), and the page
    around it does switch theme. The screenshots are saved under pytest's tmp dir."""
    context = browser.new_context(viewport=DESKTOP, color_scheme="light")
    try:
        page, _ = open_page(context, site_url, FIGURE_DOC)
        figures = page.locator("article figure:has(img)")
        assert figures.count() > 0, f"{FIGURE_DOC}: no figure found"
        page.wait_for_function("() => [...document.querySelectorAll('article figure img')]"
                               ".every(img => img.complete && img.naturalWidth > 0)",
                               timeout=10_000)
        for theme in ("light", "dark"):
            _set_theme(page, theme)
            page_bg = _luminance(page.evaluate(
                "() => getComputedStyle(document.body).backgroundColor.match(/\\d+/g)"
                ".map(Number)"))
            assert (page_bg < 0.05) == (theme == "dark"), (
                f"{FIGURE_DOC}: the page background (luminance {page_bg:.2f}) is not {theme}")
            for i in range(figures.count()):
                figure = figures.nth(i)
                figure.scroll_into_view_if_needed()
                shot = tmp_path / f"{FIGURE_DOC.replace('/', '_')}-fig{i + 1}-{theme}.png"
                figure.screenshot(path=str(shot))
                bg, ink = figure_legibility(figure.locator("img").screenshot())
                print(f"{theme}-theme screenshot of figure {i + 1}: {shot} (background "
                      f"luminance {bg:.2f}, text contrast {ink:.1f}:1)")
                assert bg > 0.4, (
                    f"{FIGURE_DOC} ({theme}): figure {i + 1} has a dark background "
                    f"(luminance {bg:.2f}), so its dark text is hard to read; see {shot}")
                assert ink >= 4.5, (
                    f"{FIGURE_DOC} ({theme}): the text and lines of figure {i + 1} have a "
                    f"contrast of only {ink:.1f}:1 against its background; see {shot}")
    finally:
        context.close()
