"""Quiz progress, the "Your progress" page, keyboard-only answers, search and downloads,
in Chromium against the built site (book/_ext/static/progress.js does the progress part).
"""

from __future__ import annotations

import pytest
from test_site import QUIZ_DOCS, PageWatch, open_page, quiz_files

from lessons_src import load_quiz

pytestmark = pytest.mark.browser

DOC = QUIZ_DOCS[0]


def _questions(doc: str) -> list[dict]:
    return [q for path in quiz_files(doc) for q in load_quiz(path).questions]


def _open_quiz(context, site_url: str, doc: str):
    """A chapter page with its quiz rendered; (page, watch, questions)."""
    page = context.new_page()
    watch = PageWatch(page, site_url)
    page.goto(f"{site_url}/{doc}.html", wait_until="load")
    qs = _questions(doc)
    page.wait_for_function("n => document.querySelectorAll('.Quiz').length >= n "
                           "&& document.querySelector('.kl-quiz-score')",
                           arg=len(qs), timeout=20_000)
    return page, watch, qs


def _score(page) -> str:
    return page.locator(".kl-quiz-score-text").inner_text().strip()


def _first(qs, kind):
    return next(i for i, q in enumerate(qs) if (q["type"] == "numeric") == (kind == "numeric"))


def _answer(page, qs, i: int, right: bool) -> None:
    q, quiz = qs[i], page.locator(".Quiz").nth(i)
    if q["type"] == "numeric":
        value = q["_value"] + (0 if right else 1.0 + 10.0 ** -q["_decimals"] * 7)
        box = quiz.locator("input.Input-text")
        box.click()
        box.press_sequentially(f"{value:.{q['_decimals']}f}")
        box.press("Enter")
    else:
        quiz.locator(f"label.MCButton[data-correct='{'true' if right else 'false'}']").first.click()
    want = "correct" if right else "incorrect"
    page.wait_for_function(
        "([i, want]) => document.querySelectorAll('.Quiz')[i]"
        ".querySelector('.Feedback').classList.contains(want)", arg=[i, want])


@pytest.fixture
def context(browser):
    ctx = browser.new_context()  # a fresh localStorage for every test
    yield ctx
    ctx.close()


def test_score_shown_updated_and_kept_across_a_reload(context, site_url):
    page, watch, qs = _open_quiz(context, site_url, DOC)
    n = len(qs)
    assert _score(page) == f"Your score: 0 of {n} correct"
    mc, num = _first(qs, "choice"), _first(qs, "numeric")
    _answer(page, qs, mc, right=True)
    _answer(page, qs, num, right=False)
    page.wait_for_function("t => document.querySelector('.kl-quiz-score-text').textContent"
                           " === t", arg=f"Your score: 1 of {n} correct")
    _answer(page, qs, num, right=True)  # the latest answer counts
    page.wait_for_function("t => document.querySelector('.kl-quiz-score-text').textContent"
                           " === t", arg=f"Your score: 2 of {n} correct")
    assert page.locator(".kl-quiz-score-text").get_attribute("aria-live") == "polite"

    page.reload(wait_until="load")
    page.wait_for_function("n => document.querySelectorAll('.Quiz').length >= n "
                           "&& document.querySelector('.kl-quiz-score')", arg=n)
    assert _score(page) == f"Your score: 2 of {n} correct", "the score did not survive a reload"
    notes = page.locator(".kl-quiz-previous")
    assert notes.count() == 2, "answered questions should say they were answered before"

    # Answering wrong now replaces the stored right answer.
    _answer(page, qs, mc, right=False)
    page.wait_for_function("t => document.querySelector('.kl-quiz-score-text').textContent"
                           " === t", arg=f"Your score: 1 of {n} correct")
    assert not watch.foreign and not watch.errors, (watch.foreign, watch.errors)
    page.close()


def test_progress_page_lists_every_chapter_and_resets(context, site_url):
    page, _, qs = _open_quiz(context, site_url, DOC)
    _answer(page, qs, _first(qs, "choice"), right=True)
    page.wait_for_function("() => document.querySelector('.kl-quiz-score').dataset.right"
                           " === '1'")
    page.close()

    page, watch = open_page(context, site_url, "book/progress")
    rows = page.locator("#kl-progress table tbody tr")
    assert rows.count() == len(QUIZ_DOCS), "the progress page should list every chapter's quiz"
    for k, doc in enumerate(QUIZ_DOCS):
        row = rows.nth(k)
        assert row.get_attribute("data-doc") == doc
        n = len(_questions(doc))
        got = row.locator("td").nth(1).inner_text().strip()
        assert got == f"{1 if doc == DOC else 0} of {n} correct", f"{doc}: {got!r}"
    total = sum(len(_questions(d)) for d in QUIZ_DOCS)
    assert page.locator(".kl-progress-total").inner_text() == f"All chapters: 1 of {total} correct."

    page.get_by_role("button", name="Reset all progress").click()
    assert page.locator(".kl-progress-total").inner_text() == f"All chapters: 0 of {total} correct."
    page.reload(wait_until="load")
    assert page.locator(".kl-progress-total").inner_text() == f"All chapters: 0 of {total} correct."
    assert not watch.foreign and not watch.errors, (watch.foreign, watch.errors)
    page.close()


def test_reset_this_quiz(context, site_url):
    page, _, qs = _open_quiz(context, site_url, DOC)
    n = len(qs)
    _answer(page, qs, _first(qs, "choice"), right=True)
    page.get_by_role("button", name="Reset this quiz").click()
    assert _score(page) == f"Your score: 0 of {n} correct"
    assert page.locator(".Quiz .Feedback.correct, .Quiz .Feedback.incorrect").count() == 0
    page.reload(wait_until="load")
    page.wait_for_function("() => document.querySelector('.kl-quiz-score')")
    assert _score(page) == f"Your score: 0 of {n} correct"
    page.close()


def test_quiz_answered_with_the_keyboard_alone(context, site_url):
    """Tab to an answer, Enter to choose it; feedback sits in a polite live region."""
    page, watch, qs = _open_quiz(context, site_url, DOC)
    i = _first(qs, "choice")
    quiz = page.locator(".Quiz").nth(i)
    fb = quiz.locator(".Feedback")
    assert fb.get_attribute("aria-live") == "polite" and fb.get_attribute("role") == "status"
    # Start from the element just before the question's answers, then only use the keyboard.
    page.evaluate("""i => {
        const q = document.querySelectorAll('.Quiz')[i];
        const before = document.createElement('button');
        before.id = 'kl-test-start'; before.textContent = 'start';
        q.insertBefore(before, q.firstChild); before.focus();
    }""", i)
    page.keyboard.press("Tab")
    focused = page.evaluate("() => document.activeElement.closest('label.MCButton') !== null")
    assert focused, "Tab from just before a question does not reach its first answer"
    visible = page.evaluate("""() => {
        const label = document.activeElement.closest('label.MCButton');
        const style = getComputedStyle(label);
        return style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2;
    }""")
    assert visible, "the focused answer has no visible focus outline"
    # Move to the right answer with the arrow keys (radio group), then Enter.
    labels = quiz.locator("label.MCButton")
    right = [labels.nth(k).get_attribute("data-correct") for k in range(labels.count())]
    target = right.index("true")
    for _ in range(target):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    page.wait_for_function("i => document.querySelectorAll('.Quiz')[i]"
                           ".querySelector('.Feedback').classList.contains('correct')", arg=i)
    assert fb.inner_text().strip(), "no feedback text after choosing with Enter"
    assert not watch.foreign and not watch.errors, (watch.foreign, watch.errors)
    page.close()


def test_search_finds_a_term_offline(context, site_url):
    page, watch = open_page(context, site_url, "search")
    page.goto(f"{site_url}/search.html?q=Pinsker", wait_until="load")
    hits = page.locator("#search-results li a")
    hits.first.wait_for(timeout=15_000)
    links = [hits.nth(k).get_attribute("href") for k in range(hits.count())]
    assert any("02_gibbs" in href for href in links), f"'Pinsker' found {links}"
    assert not watch.foreign, watch.foreign
    page.close()


def test_notebook_pages_offer_their_ipynb(context, site_url):
    import urllib.request

    page, _ = open_page(context, site_url, DOC)
    link = page.locator("a[href$='.ipynb']").first
    href = link.get_attribute("href")
    assert href, f"{DOC}: no .ipynb download link"
    url = page.evaluate("h => new URL(h, document.baseURI).href", href)
    with urllib.request.urlopen(url) as response:  # served by the site on 127.0.0.1
        assert response.status == 200
        assert b'"nbformat"' in response.read()
    launch = page.locator("a[href*='binder'], a[href*='colab'], a[href*='github.com']")
    assert launch.count() == 0, "launch buttons pointing at a host the book does not have"
    page.close()
