"""The interactive playgrounds (lessons_src.playground) on the built website.

- The page's arithmetic (lessons_src/playground.js, run in Chromium) agrees with
  lessons_src on many random inputs, to 1e-9.
- On the chapter pages, the controls are set to several positions and every value the page
  shows equals lessons_src's value rounded to the digits shown; infinite KL shows as ∞ with
  a sentence naming the outcome.
- The sliders and the reset button work from the keyboard, and every slider has a name.
- Only the pages with a playground load BokehJS, from the site itself; nothing leaves
  127.0.0.1 and nothing logs an error.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from test_site import open_page

from lessons_src import (
    fit_normal_reverse_kl,
    js_divergence,
    kl_divergence,
    kl_mixture_normal,
    kl_normal_mixture,
    mixture_moments,
    total_variation,
)
from lessons_src.playground import BOKEHJS_FILES

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "lessons_src" / "playground.js"
CH3, CH4 = "book/03_asymmetry", "book/04_forward_reverse"
# Chapter 4's target (book/04_forward_reverse.ipynb, "Two ways to fit a model").
W, M, S = [0.6, 0.4], [-2.0, 2.0], [0.7, 0.5]
DECIMALS = 4


def _shown(text: str) -> float:
    """A value as the page shows it: a decimal number, or ∞."""
    text = text.strip()
    return math.inf if text == "∞" else float(text)


def _agrees(shown: str, exact: float, name: str, where: str) -> None:
    """The page shows ``exact`` rounded to its digits (half a unit in the last place)."""
    value = _shown(shown)
    if math.isinf(exact):
        assert value == math.inf, f"{name} at {where}: page shows {shown!r}, expected ∞"
        return
    decimals = len(shown.strip().split(".")[1]) if "." in shown else 0
    assert decimals == DECIMALS, f"{name} at {where}: {shown!r} has {decimals} decimals"
    assert abs(value - exact) <= 0.5 * 10.0**-decimals + 1e-12, (
        f"{name} at {where}: page shows {shown}, lessons_src gives {exact:.10f}")


def _open_playground(browser, site_url: str, doc: str, name: str):
    """Open the page and scroll to the playground: the site loads BokehJS only then."""
    page, watch = open_page(browser, site_url, doc)
    page.locator(f"#kl-playground-{name}").scroll_into_view_if_needed()
    page.wait_for_selector(f"#kl-playground-{name}[data-ready]", state="attached",
                           timeout=20_000)
    return page, watch


def _set(page, name: str, values: dict[str, float]) -> None:
    """Set sliders of playground ``name`` through its Bokeh document (the models' API)."""
    page.evaluate("""([name, values]) => {
        const doc = window.KL_PLAYGROUNDS[name];
        for (const [slider, v] of Object.entries(values)) {
            doc.get_model_by_name(slider).value = v;
        }
    }""", [name, values])


def _read(page, keys: list[str]) -> dict[str, str]:
    return {k: page.locator(f"[data-kl='{k}']").inner_text() for k in keys}


def _slider_values(page, name: str, names: list[str]) -> list[float]:
    return page.evaluate("""([name, names]) => names.map(
        n => window.KL_PLAYGROUNDS[name].get_model_by_name(n).value)""", [name, names])


# -- the JavaScript arithmetic ---------------------------------------------------------------
def test_page_arithmetic_matches_lessons_src(browser):
    page = browser.new_page()
    try:
        page.set_content("<!doctype html><title>playground.js</title>")
        page.add_script_tag(content=LIBRARY.read_text(encoding="utf-8"))
        rng = np.random.default_rng(7)
        pairs = []
        for k in (2, 3, 4, 6):
            for _ in range(25):
                p, q = rng.dirichlet(np.ones(k)), rng.dirichlet(np.ones(k))
                p[rng.random(k) < 0.2] = 0.0  # some zeros: infinite and 0 log 0 terms
                if p.sum() == 0:
                    p[0] = 1.0
                pairs.append((p / p.sum(), q))
        got = page.evaluate("""pairs => pairs.map(([p, q]) =>
            [KL.kl(p, q), KL.kl(q, p), KL.js(p, q), KL.tv(p, q)])""",
                            [[p.tolist(), q.tolist()] for p, q in pairs])
        for (p, q), (kl_pq, kl_qp, js, tv) in zip(pairs, got, strict=True):
            for name, g, ref in (("KL(P‖Q)", kl_pq, kl_divergence(p, q)),
                                 ("KL(Q‖P)", kl_qp, kl_divergence(q, p)),
                                 ("JS", js, js_divergence(p, q)),
                                 ("TV", tv, total_variation(p, q))):
                if math.isinf(ref):
                    assert g == math.inf, f"{name}({p}, {q}): {g}, expected ∞"
                else:
                    assert abs(g - ref) <= 1e-12 + 1e-12 * abs(ref), f"{name}({p}, {q})"

        mus = rng.uniform(-4.5, 4.5, 40)
        sigmas = rng.uniform(0.25, 4.0, 40)
        got = page.evaluate("""([w, m, s, mus, sigmas]) => mus.map((mu, i) => [
            KL.klMixtureNormal(w, m, s, mu, sigmas[i]),
            KL.klNormalMixture(mu, sigmas[i], w, m, s)])""", [W, M, S, mus.tolist(),
                                                              sigmas.tolist()])
        fwd = kl_mixture_normal(W, M, S, mus, sigmas)
        rev = kl_normal_mixture(mus, sigmas, W, M, S)
        for i, (f, r) in enumerate(got):
            assert abs(f - fwd[i]) < 1e-9, f"forward at ({mus[i]}, {sigmas[i]}): {f} vs {fwd[i]}"
            assert abs(r - rev[i]) < 1e-9, f"reverse at ({mus[i]}, {sigmas[i]}): {r} vs {rev[i]}"
        # The formatting the page uses: fixed decimals, ∞, and never "-0.0000".
        shown = page.evaluate("() => [KL.fmt(Infinity, 4), KL.fmt(-1e-17, 4), KL.fmt(0.5, 4),"
                              " KL.fmt(NaN, 4)]")
        assert shown == ["∞", "0.0000", "0.5000", "—"]
    finally:
        page.close()


# -- Chapter 3: two distributions -------------------------------------------------------------
P_NAMES, Q_NAMES = [f"p-{i}" for i in range(4)], [f"q-{i}" for i in range(4)]
KEYS3 = ["kl_pq", "kl_qp", "js", "tv"]


def _settled(check):
    """Run ``check(page, where)`` until it passes, for up to 3 s: Bokeh may redraw the
    readout a frame after a slider moves. The last failure is raised."""
    import time

    def run(page, where: str) -> dict[str, str]:
        deadline = time.monotonic() + 3.0
        while True:
            try:
                return check(page, where)
            except (AssertionError, ValueError):
                if time.monotonic() > deadline:
                    raise
                page.wait_for_timeout(50)

    return run


@_settled
def _check_two(page, where: str) -> dict[str, str]:
    weights = _slider_values(page, "two-distributions", P_NAMES + Q_NAMES)
    pw, qw = np.array(weights[:4]), np.array(weights[4:])
    p, q = pw / pw.sum(), qw / qw.sum()
    shown = _read(page, KEYS3)
    for key, exact in (("kl_pq", kl_divergence(p, q)), ("kl_qp", kl_divergence(q, p)),
                       ("js", js_divergence(p, q)), ("tv", total_variation(p, q))):
        _agrees(shown[key], float(exact), key, f"{where}, P={p.round(4)}, Q={q.round(4)}")
    return shown


def test_two_distributions_agree_with_lessons_src(browser, site_url):
    page, watch = _open_playground(browser, site_url, CH3, "two-distributions")
    try:
        # The start is the chapter's peaked and flat pair.
        assert _slider_values(page, "two-distributions", P_NAMES + Q_NAMES) == [
            0.85, 0.05, 0.05, 0.05, 0.25, 0.25, 0.25, 0.25]
        _check_two(page, "the start")
        assert page.locator("[data-kl='note']").inner_text().strip() == ""

        rng = np.random.default_rng(3)
        for trial in range(6):
            values = dict(zip(P_NAMES + Q_NAMES,
                              np.round(rng.uniform(0.01, 1, 8), 2).tolist(), strict=True))
            _set(page, "two-distributions", values)
            _check_two(page, f"random position {trial}")

        # Q's mass on an outcome P can produce goes to 0: D(P‖Q) = ∞, named; JS, TV finite.
        _set(page, "two-distributions", {"p-0": 0.4, "p-1": 0.3, "p-2": 0.2, "p-3": 0.1,
                                         "q-0": 0.25, "q-1": 0.25, "q-2": 0.25, "q-3": 0.25})
        for q2 in (0.1, 0.01, 0.0):
            _set(page, "two-distributions", {"q-2": q2})
            shown = _check_two(page, f"Q weight of outcome 2 = {q2}")
        assert shown["kl_pq"] == "∞" and shown["kl_qp"] != "∞"
        note = page.locator("[data-kl='note']").inner_text()
        assert "outcome 2" in note and "∞" in note, note
        # ... and back to finite when P gives it no mass either.
        _set(page, "two-distributions", {"p-2": 0.0})
        shown = _check_two(page, "P and Q both without outcome 2")
        assert "∞" not in shown.values()

        # Equal distributions: every value is 0.
        _set(page, "two-distributions", {"p-2": 0.25, "q-0": 0.4, "q-1": 0.3, "q-2": 0.25,
                                         "q-3": 0.1, "p-0": 0.4})
        _set(page, "two-distributions", {"q-2": 0.2, "p-2": 0.2})
        assert set(_check_two(page, "P = Q").values()) == {"0.0000"}

        # No mass at all: a message instead of numbers.
        _set(page, "two-distributions", dict.fromkeys(Q_NAMES, 0.0))
        assert set(_read(page, KEYS3).values()) == {"—"}
        assert "Q has no mass" in page.locator("[data-kl='note']").inner_text()
        assert not watch.foreign, f"requests left 127.0.0.1: {watch.foreign}"
        assert not watch.errors, f"console errors: {watch.errors}"
    finally:
        page.close()


def _handles(page, name: str):
    return page.locator(f"#kl-playground-{name} .noUi-handle")


def test_two_distributions_work_from_the_keyboard(browser, site_url):
    page, watch = _open_playground(browser, site_url, CH3, "two-distributions")
    try:
        handles = _handles(page, "two-distributions")
        assert handles.count() == 8
        names = [handles.nth(i).get_attribute("aria-label") for i in range(8)]
        assert names == [f"{d} weight of outcome {i}" for i in range(4) for d in "PQ"], names

        # Tab from the last control before the playground reaches the first slider.
        page.locator("#kl-playground-two-distributions").scroll_into_view_if_needed()
        handles.nth(0).focus()
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Tab")
        focused = page.evaluate("""() => {
            let a = document.activeElement;
            while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
            return a && a.getAttribute('aria-label');
        }""")
        assert focused == "P weight of outcome 0", focused

        before = _read(page, KEYS3)
        page.keyboard.press("ArrowLeft")
        assert _slider_values(page, "two-distributions", ["p-0"]) == [0.84]
        after = _check_two(page, "after ArrowLeft")
        assert after != before, "the readout did not follow the keyboard"
        page.keyboard.press("End")
        assert _slider_values(page, "two-distributions", ["p-0"]) == [1.0]
        page.keyboard.press("Home")
        assert _slider_values(page, "two-distributions", ["p-0"]) == [0.0]
        _check_two(page, "after Home")

        # Q's weight of outcome 2 (the sixth handle) to 0 with Home: ∞.
        handles.nth(5).focus()
        page.keyboard.press("Home")
        assert _check_two(page, "Q(2) = 0 by keyboard")["kl_pq"] == "∞"

        # The reset button, from the keyboard.
        reset = page.locator("#kl-playground-two-distributions button",
                             has_text="Reset the sliders")
        reset.focus()
        page.keyboard.press("Enter")
        assert _slider_values(page, "two-distributions", P_NAMES + Q_NAMES) == [
            0.85, 0.05, 0.05, 0.05, 0.25, 0.25, 0.25, 0.25]
        _check_two(page, "after reset")
        assert not watch.errors, f"console errors: {watch.errors}"
    finally:
        page.close()


# -- Chapter 4: fit a Gaussian by hand -----------------------------------------------------
@pytest.fixture(scope="module")
def optima():
    """The minima the page must mark, computed here independently of the page."""
    mu_p, sigma_p = mixture_moments(W, M, S)
    fits = [fit_normal_reverse_kl(W, M, S, mu0=mu0, sigma0=1.0) for mu0 in (-4.0, 4.0)]
    return {"forward_min": float(kl_mixture_normal(W, M, S, mu_p, sigma_p)),
            "reverse_min_0": min(f.kl for f in fits),
            "reverse_min_1": max(f.kl for f in fits)}


@_settled
def _check_fit(page, where: str) -> dict[str, str]:
    mu, sigma = _slider_values(page, "gaussian-fit", ["mu", "sigma"])
    shown = _read(page, ["forward", "reverse"])
    _agrees(shown["forward"], float(kl_mixture_normal(W, M, S, mu, sigma)), "forward KL",
            f"{where} (mu={mu}, sigma={sigma})")
    _agrees(shown["reverse"], float(kl_normal_mixture(mu, sigma, W, M, S)), "reverse KL",
            f"{where} (mu={mu}, sigma={sigma})")
    return shown


def test_gaussian_fit_agrees_with_lessons_src(browser, site_url, optima):
    page, watch = _open_playground(browser, site_url, CH4, "gaussian-fit")
    try:
        assert _slider_values(page, "gaussian-fit", ["mu", "sigma"]) == [0.0, 1.0]
        _check_fit(page, "the start")
        shown = _read(page, list(optima))
        for key, exact in optima.items():
            _agrees(shown[key], exact, key, "the marked minimum")
        rows = page.locator("#kl-playground-gaussian-fit li").all_inner_texts()
        assert any("global minimum" in r and shown["reverse_min_0"] in r for r in rows), rows

        positions = [(-4.5, 0.25), (4.5, 4.0), (-0.4, 2.05), (-2.0, 0.7), (2.0, 0.5),
                     (0.0, 0.25), (3.35, 1.45)]
        rng = np.random.default_rng(11)
        positions += [(round(float(rng.uniform(-4.5, 4.5)) / 0.05) * 0.05,
                       round(float(rng.uniform(0.25, 4.0)) / 0.05) * 0.05) for _ in range(5)]
        for mu, sigma in positions:
            _set(page, "gaussian-fit", {"mu": mu, "sigma": sigma})
            _check_fit(page, "a set position")
        # The forward minimum is lower than the forward KL anywhere the sliders reach.
        assert _shown(shown["forward_min"]) <= _shown(_read(page, ["forward"])["forward"])
        assert not watch.foreign, f"requests left 127.0.0.1: {watch.foreign}"
        assert not watch.errors, f"console errors: {watch.errors}"
    finally:
        page.close()


def test_gaussian_fit_works_from_the_keyboard(browser, site_url):
    page, watch = _open_playground(browser, site_url, CH4, "gaussian-fit")
    try:
        handles = _handles(page, "gaussian-fit")
        assert [handles.nth(i).get_attribute("aria-label") for i in range(2)] == [
            "mean μ of q", "standard deviation σ of q"]
        handles.nth(0).focus()
        for _ in range(8):
            page.keyboard.press("ArrowLeft")
        assert _slider_values(page, "gaussian-fit", ["mu"]) == [pytest.approx(-0.4)]
        handles.nth(1).focus()
        page.keyboard.press("End")
        assert _slider_values(page, "gaussian-fit", ["sigma"]) == [4.0]
        for _ in range(39):
            page.keyboard.press("ArrowLeft")
        assert _slider_values(page, "gaussian-fit", ["sigma"]) == [pytest.approx(2.05)]
        _check_fit(page, "after the keyboard")
        # The marker of q in the (mu, sigma) plane follows the sliders.
        point = page.evaluate("""() => {
            const src = window.KL_PLAYGROUNDS['gaussian-fit'].get_model_by_name('q-point');
            return [src.data.mu[0], src.data.sigma[0]];
        }""")
        assert point == [pytest.approx(-0.4), pytest.approx(2.05)], point
        page.locator("#kl-playground-gaussian-fit button", has_text="Reset").focus()
        page.keyboard.press("Space")
        assert _slider_values(page, "gaussian-fit", ["mu", "sigma"]) == [0.0, 1.0]
        assert not watch.errors, f"console errors: {watch.errors}"
    finally:
        page.close()


# -- which pages load BokehJS, and when --------------------------------------------------------
def test_only_playground_pages_name_bokehjs_and_the_site_serves_it(site_url):
    import urllib.request
    from urllib.parse import urljoin

    from test_site import toc_files

    with_playground = []
    for doc in toc_files():
        with urllib.request.urlopen(f"{site_url}/{doc}.html") as response:
            html = response.read().decode("utf-8")
        assert not re.search(r'<script[^>]*src="[^"]*bokeh', html), (
            f"{doc}: links BokehJS from <head>: the playground should load it when needed")
        listed = re.search(r"window\.KL_BOKEHJS = (\[.*?\]);", html)
        if 'class="kl-playground"' in html:
            with_playground.append(doc)
            assert listed, f"{doc}: shows a playground but does not name BokehJS"
            urls = json.loads(listed.group(1))
            assert [u.split("/")[-1] for u in urls] == list(BOKEHJS_FILES), urls
            for url in urls:
                assert not re.match(r"^(https?:)?//", url), f"{doc}: BokehJS from {url}"
                with urllib.request.urlopen(urljoin(f"{site_url}/{doc}.html", url)) as r:
                    assert r.status == 200 and len(r.read()) > 100_000, url
        else:
            assert not listed, f"{doc}: has no playground but names BokehJS"
    assert with_playground == [CH3, CH4]


def test_bokehjs_loads_only_when_the_playground_nears_the_screen(browser, site_url):
    page, watch = open_page(browser, site_url, CH3)
    try:
        loaded = []
        page.on("request", lambda r: "/_static/bokeh/" in r.url and loaded.append(r.url))
        page.wait_for_timeout(500)
        assert not loaded, f"BokehJS loaded before the reader scrolled: {loaded}"
        assert page.evaluate("() => typeof window.Bokeh") == "undefined"
        assert "Loading the playground" in page.locator(
            "#kl-playground-two-distributions").inner_text()
        page.locator("#kl-playground-two-distributions").scroll_into_view_if_needed()
        page.wait_for_selector("#kl-playground-two-distributions[data-ready]",
                               state="attached", timeout=20_000)
        assert sorted(u.split("/")[-1] for u in loaded) == sorted(BOKEHJS_FILES), loaded
        _check_two(page, "after scrolling to it")
        assert not watch.foreign and not watch.errors, (watch.foreign, watch.errors)
    finally:
        page.close()


@pytest.mark.parametrize(("doc", "name"), [(CH3, "two-distributions"), (CH4, "gaussian-fit")])
def test_playground_accessible_in_both_themes_and_on_a_phone(browser, site_url, doc, name):
    """axe on the drawn playground, light and dark; at 390 px nothing sticks out."""
    from test_a11y import _describe, _set_theme, axe

    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page, watch = _open_playground(context, site_url, doc, name)
        for theme in ("light", "dark"):
            _set_theme(page, theme)
            found = axe(page, include=f"#kl-playground-{name}")
            assert not found, _describe(f"{doc} playground ({theme})", found)
        right, width, inner, box = page.evaluate("""id => {
            const e = document.getElementById(id);
            return [e.getBoundingClientRect().right, document.documentElement.clientWidth,
                    e.scrollWidth, e.clientWidth];
        }""", f"kl-playground-{name}")
        assert right <= width + 1 and inner <= box + 1, (
            f"{doc}: the playground is wider than a phone ({right:.0f} px of {width}, "
            f"content {inner} px in {box})")
        assert not watch.errors, watch.errors
    finally:
        context.close()


def test_notebooks_store_the_loader_cell_hidden_from_the_site():
    """In JupyterLab BokehJS comes from the load_bokehjs() cell; the site removes that cell
    (tag remove-cell) and serves BokehJS itself, so its pages do not carry 1.6 MB inline."""
    for doc in (CH3, CH4):
        nb = json.loads((ROOT / f"{doc}.ipynb").read_text(encoding="utf-8"))
        loaders = [c for c in nb["cells"] if c["cell_type"] == "code"
                   and "".join(c["source"]).strip().endswith("load_bokehjs()")]
        assert len(loaders) == 1, f"{doc}: expected one load_bokehjs() cell"
        assert "remove-cell" in loaders[0]["metadata"].get("tags", []), doc
        site = (ROOT / "_build" / "html" / f"{doc}.html")
        if site.exists():
            assert len(site.read_bytes()) < 1_000_000, f"{site}: BokehJS inlined in the page?"
