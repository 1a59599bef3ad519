"""lessons_src.playground: what the playgrounds put in a page, and their argument checks.

The numbers a playground shows are checked in a browser, against lessons_src, by
tests/browser/test_playground.py.
"""

from __future__ import annotations

import json
import re

import bokeh
import pytest

from lessons_src import (
    Playground,
    gaussian_fit_playground,
    kl_normal_mixture,
    load_bokehjs,
    two_distributions_playground,
)
from lessons_src.playground import BOKEHJS_FILES, bokehjs_paths

W, M, S = [0.6, 0.4], [-2.0, 2.0], [0.7, 0.5]


def _item(pg: Playground) -> dict:
    html = pg._repr_html_()
    found = re.search(r'<script type="application/json" id="([^"]+)-item">(.*?)</script>',
                      html, re.S)
    assert found and found.group(1) == pg.element_id
    return json.loads(found.group(2))


def _models(node, out=None) -> list[dict]:
    """Every serialised Bokeh model in a JSON item."""
    out = [] if out is None else out
    if isinstance(node, dict):
        if "type" in node and node.get("type") == "object" and "name" in node:
            out.append(node)
        for v in node.values():
            _models(v, out)
    elif isinstance(node, list):
        for v in node:
            _models(v, out)
    return out


def test_output_is_one_container_with_its_item_and_no_external_url():
    pg = two_distributions_playground([0.85, 0.05, 0.05, 0.05], [0.25] * 4)
    html = pg._repr_html_()
    assert html.count('class="kl-playground"') == 1
    assert f'id="{pg.element_id}"' in html and 'role="group"' in html
    assert f'aria-label="{pg.title}"' in html
    assert not re.search(r"https?://|//cdn", html), "the output must not fetch anything"
    item = _item(pg)
    assert item["target_id"] == pg.element_id
    assert item["doc"]["version"] == bokeh.__version__
    # The same object gives the same page text (the notebooks' outputs are compared
    # byte for byte by nbval and scripts/check_reproducible.py).
    assert pg._repr_html_() == html


def test_a_closing_script_tag_in_the_data_cannot_end_the_script_early():
    pg = two_distributions_playground([0.5, 0.5], [0.5, 0.5], labels=["</script>", "b"])
    html = pg._repr_html_()
    body = html.split('-item">', 1)[1].split("</script>", 1)[0]
    assert "<\\/script>" in body
    assert json.loads(body)["target_id"] == pg.element_id


def test_two_distributions_models_and_callbacks():
    item = _item(two_distributions_playground([0.85, 0.05, 0.05, 0.05], [0.25] * 4,
                                              labels="abcd"))
    models = _models(item)
    sliders = [m for m in models if m["name"] == "Slider"]
    names = [m["attributes"]["name"] for m in sliders]
    assert sorted(names) == ["p-0", "p-1", "p-2", "p-3", "q-0", "q-1", "q-2", "q-3"]
    titles = {m["attributes"]["name"]: m["attributes"]["title"] for m in sliders}
    assert titles["q-2"] == "Q weight of outcome c"
    assert all(":" not in t for t in titles.values()), "a title's text is the slider's label"
    values = {m["attributes"]["name"]: m["attributes"]["value"] for m in sliders}
    assert [values[f"p-{i}"] for i in range(4)] == [0.85, 0.05, 0.05, 0.05]
    updates = [m for m in models if m["name"] == "CustomJS"
               and m["attributes"].get("name") == "update"]
    assert len(updates) == 1
    assert "KL.twoDistributions({" in updates[0]["attributes"]["code"]
    assert "function klNormalMixture" in updates[0]["attributes"]["code"]


def test_gaussian_fit_marks_the_lower_reverse_fit_as_global():
    right, left = (1.9974, 0.5041), (-1.9966, 0.7058)
    assert kl_normal_mixture(*left, W, M, S) < kl_normal_mixture(*right, W, M, S)
    item = _item(gaussian_fit_playground(W, M, S, reverse_fits=[right, left]))
    update = next(m for m in _models(item) if m["name"] == "CustomJS"
                  and m["attributes"].get("name") == "update")
    args = dict(update["attributes"]["args"]["entries"])
    optima = [dict(o["entries"]) for o in args["optima"]]  # dicts serialise as maps
    assert [o["kind"] for o in optima] == ["forward", "reverse", "reverse"]
    assert (optima[1]["mu"], optima[1]["sigma"]) == left
    assert optima[1]["label"] == "global minimum" and optima[2]["label"] == "a local minimum"
    assert optima[0]["mu"] == pytest.approx(-0.4) and optima[0]["sigma"] == pytest.approx(
        (0.6 * (0.49 + 1.6**2) + 0.4 * (0.25 + 2.4**2)) ** 0.5)


def test_load_bokehjs_inlines_the_installed_bokehjs():
    paths = bokehjs_paths()
    assert [p.name for p in paths] == list(BOKEHJS_FILES)
    code = load_bokehjs().data
    for p in paths:
        assert p.read_text(encoding="utf-8") in code
    assert bokeh.__version__ in code
    assert code.startswith("if (!(window.Bokeh && window.Bokeh.Widgets))")


@pytest.mark.parametrize(("call", "message"), [
    (lambda: two_distributions_playground([1.0], [1.0]),
     "two_distributions_playground: p must be a 1-D sequence of at least 2 weights"),
    (lambda: two_distributions_playground([0.5, 0.5], [0.2, 0.3, 0.5]),
     "two_distributions_playground: q has 3 entries but p has 2"),
    (lambda: two_distributions_playground([0.5, -0.5], [0.5, 0.5]),
     "two_distributions_playground: p entries must be in [0, 1]"),
    (lambda: two_distributions_playground([0.5, float("nan")], [0.5, 0.5]),
     "two_distributions_playground: p entries must be in [0, 1]"),
    (lambda: two_distributions_playground([0.5, 0.5], [0.0, 0.0]),
     "two_distributions_playground: q must have a positive entry"),
    (lambda: two_distributions_playground([0.5, 0.5], [0.5, 0.5], labels=["a"]),
     "two_distributions_playground: labels has 1 entries but p has 2"),
    (lambda: two_distributions_playground([0.5, 0.5], [0.5, 0.5], decimals=0),
     "two_distributions_playground: decimals must be an integer from 1 to 8"),
    (lambda: two_distributions_playground([0.5, 0.5], [0.5, 0.5], name="Bad Name"),
     "Playground: name must match"),
    (lambda: gaussian_fit_playground(W, M, S, mu=9.0),
     "gaussian_fit_playground: the start (mu, sigma) = (9.0, 1.0) must lie in"),
    (lambda: gaussian_fit_playground(W, M, S, sigma_range=(0.0, 4.0)),
     "gaussian_fit_playground: sigma_range must be finite with 0 < low < high"),
    (lambda: gaussian_fit_playground(W, M, S, mu_range=(1.0,)),
     "gaussian_fit_playground: mu_range must be a pair (low, high)"),
    (lambda: gaussian_fit_playground(W, M, S, reverse_fits=[(0.0, -1.0)]),
     "gaussian_fit_playground: reverse_fits[0] needs a finite mu and sigma > 0"),
    (lambda: gaussian_fit_playground(W, M, S, reverse_fits=[(0.0,)]),
     "gaussian_fit_playground: reverse_fits[0] must be a pair (mu, sigma)"),
    (lambda: gaussian_fit_playground([0.6, 0.6], M, S),
     "gaussian_fit_playground: weights"),
])
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()
