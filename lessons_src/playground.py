"""Interactive playgrounds: sliders whose divergences are recomputed in the reader's browser.

Each playground is a `Bokeh <https://bokeh.org>`_ layout whose callbacks are JavaScript
(``playground.js``, beside this file), so it needs no kernel once shown: the same output
works on the static website and in JupyterLab, offline. The JavaScript repeats the
arithmetic of this package (natural logarithms, so values are in nats), and
``tests/browser/test_playground.py`` checks the numbers a page shows against it.

- :func:`two_distributions_playground`: two categorical distributions with live
  :math:`D_{\\mathrm{KL}}(P\\|Q)`, :math:`D_{\\mathrm{KL}}(Q\\|P)`, JS and TV
  (Chapter 3, *Asymmetry*).
- :func:`gaussian_fit_playground`: a Gaussian :math:`Q` fitted by hand to a mixture :math:`P`, with
  the forward and reverse KL live and each objective's minima marked (Chapter 4,
  *Forward versus reverse KL*).
- :func:`load_bokehjs`: puts BokehJS into a notebook, from the installed ``bokeh`` package
  (no internet). The website serves the same files itself and skips this cell.

Bokeh is imported only by the functions that build a playground.
"""

from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path

# typing (not collections.abc) because Sphinx resolves typing.Sequence without intersphinx
from typing import Any, Sequence  # noqa: UP035

import numpy as np
from numpy.typing import ArrayLike

from . import _checks as ck
from .continuous import _mixture_np, kl_normal_mixture, mixture_logpdf, mixture_moments

__all__ = ["BOKEHJS_FILES", "Playground", "bokehjs_paths", "gaussian_fit_playground",
           "load_bokehjs", "two_distributions_playground"]

#: The BokehJS bundles a playground needs (core and widgets), in load order.
BOKEHJS_FILES = ("bokeh.min.js", "bokeh-widgets.min.js")

_JS_LIBRARY = Path(__file__).with_name("playground.js")
_EMBED_JS = Path(__file__).with_name("playground_embed.js")
# Okabe-Ito colours, as in the chapters' figures.
_BLUE, _VERMILION, _GREEN, _ORANGE, _GREY = "#0072B2", "#D55E00", "#009E73", "#E69F00", "#666666"
_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
# The readout lives in the Div's shadow root, where the page's stylesheets do not reach.
_READOUT_CSS = """
:host { font-size: 0.95rem; line-height: 1.45; }
table.kl-pg-table { border-collapse: collapse; margin: 0.25rem 0; }
.kl-pg-table th, .kl-pg-table td { padding: 0.2rem 0.6rem 0.2rem 0; text-align: left;
  vertical-align: top; }
.kl-pg-table thead th { border-bottom: 1px solid #999; }
.kl-pg-table ul { margin: 0; padding-left: 1.1rem; }
output { font-variant-numeric: tabular-nums; font-weight: 600; }
.kl-pg-note:empty { display: none; }
.kl-pg-note { border-left: 4px solid #D55E00; padding-left: 0.5rem; }
"""


def bokehjs_paths() -> list[Path]:
    """Paths of the BokehJS files in :data:`BOKEHJS_FILES`, inside the installed bokeh.

    The website copies them into ``_static/bokeh/`` (``book/_ext/offline_site.py``);
    :func:`load_bokehjs` inlines them into a notebook.

    Examples
    --------
    >>> [p.name for p in bokehjs_paths()]
    ['bokeh.min.js', 'bokeh-widgets.min.js']
    """
    from bokeh.util.paths import bokehjs_path

    js = Path(bokehjs_path()) / "js"
    return [js / name for name in BOKEHJS_FILES]


def load_bokehjs() -> Any:
    """Load BokehJS into the notebook's page, from the installed package (no internet).

    Run once per notebook before showing a playground: the returned object displays as
    JavaScript that defines ``window.Bokeh``. (About 1.6 MB; the website instead serves
    the files and leaves this cell out.)

    Taught in Chapter 3, *Asymmetry* (book/03_asymmetry.ipynb), section "Playground".
    """
    from IPython.display import Javascript

    # Each bundle registers itself on ``this``, which is undefined where JupyterLab runs
    # JavaScript output: run each with ``this`` bound to the window.
    code = "".join(f"(function () {{\n{p.read_text(encoding='utf-8')}\n}}).call(window);\n"
                   for p in bokehjs_paths())
    return Javascript(f"if (!(window.Bokeh && window.Bokeh.Widgets)) {{\n{code}}}")


class Playground:
    """A playground ready to display: a Bokeh layout plus the page code that embeds it.

    In a notebook, the last expression of a cell displays it (``_repr_html_``). The output
    is a ``<div class="kl-playground">`` with the layout's JSON and a script that embeds it
    with BokehJS, runs the update callback once (so the numbers are there before any
    slider moves) and names every slider handle for screen readers. BokehJS comes from
    :func:`load_bokehjs` in a notebook; on the website, whose pages list the site's copy in
    ``window.KL_BOKEHJS``, it is loaded when the playground comes near the screen, so a
    reader who never scrolls there does not download it.
    Once it is ready the ``div`` has ``data-ready="1"``, and the Bokeh document is
    ``window.KL_PLAYGROUNDS[name]`` in the browser's console (``get_model_by_name("mu")``
    gives a slider, whose ``value`` can be set).
    """

    def __init__(self, name: str, layout: Any, title: str) -> None:
        if not _NAME.match(name):
            raise ValueError(f"Playground: name must match {_NAME.pattern}; got {name!r}")
        self.name = name
        self.layout = layout
        self.title = title

    @property
    def element_id(self) -> str:
        return f"kl-playground-{self.name}"

    def _repr_html_(self) -> str:
        from bokeh.embed import json_item

        # Not sort_keys: a model must be defined (in full) before any reference to it.
        item = json.dumps(json_item(self.layout, target=self.element_id))
        item = item.replace("</", "<\\/")  # never close the <script> early
        label = html.escape(self.title)
        code = _EMBED_JS.read_text(encoding="utf-8").splitlines(keepends=True)
        while code and code[0].startswith("//"):  # the file's header comment
            code.pop(0)
        embed = "".join(code).replace("__ELEMENT_ID__", self.element_id).replace(
            "__NAME__", self.name)
        return f"""\
<div class="kl-playground" id="{self.element_id}" role="group" aria-label="{label}" \
style="background: #ffffff; color: #212529">
<p class="kl-playground-wait">Loading the playground… It needs JavaScript and BokehJS. \
In Jupyter, run the cell that calls <code>load_bokehjs()</code> first.</p>
</div>
<script type="application/json" id="{self.element_id}-item">{item}</script>
<script>
{embed}</script>"""

    def __repr__(self) -> str:
        return f"Playground({self.name!r}, title={self.title!r})"


def _custom_js(call: str, args: dict[str, Any]) -> Any:
    from bokeh.models import CustomJS

    code = _JS_LIBRARY.read_text(encoding="utf-8") + f"\n{call}({{ {', '.join(args)} }});\n"
    return CustomJS(name="update", args=args, code=code)


def _check_weights(fname: str, name: str, w: Any, k: int | None) -> np.ndarray:
    arr = np.asarray(w, dtype=float)
    if arr.ndim != 1 or arr.size < 2:
        raise ValueError(f"{fname}: {name} must be a 1-D sequence of at least 2 weights; "
                         f"got shape {arr.shape}")
    if k is not None and arr.size != k:
        raise ValueError(f"{fname}: {name} has {arr.size} entries but p has {k}")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0) or np.any(arr > 1):
        raise ValueError(f"{fname}: {name} entries must be in [0, 1]; got {arr.tolist()}")
    if arr.sum() <= 0:
        raise ValueError(f"{fname}: {name} must have a positive entry; got {arr.tolist()}")
    return arr


def _readout() -> Any:
    from bokeh.models import Div, InlineStyleSheet

    return Div(text="", sizing_mode="stretch_width", name="readout",
               stylesheets=[InlineStyleSheet(css=_READOUT_CSS)])


def _slider(title: str, value: float, start: float, end: float, step: float, name: str) -> Any:
    from bokeh.models import Slider

    return Slider(title=title, value=value, start=start, end=end, step=step, name=name,
                  sizing_mode="stretch_width", format="0.00")


def two_distributions_playground(
    p: ArrayLike, q: ArrayLike, *, labels: Sequence[str] | None = None, decimals: int = 4,
    name: str = "two-distributions",
) -> Playground:
    r"""Playground: two categorical distributions and four divergences between them, live.

    One slider per outcome and distribution sets a **weight** in :math:`[0, 1]`; the
    probabilities are the weights divided by their sum, :math:`P(i) = w_i / \sum_j w_j`.
    The page shows :math:`D_{\mathrm{KL}}(P\|Q) = \sum_i P(i)\ln(P(i)/Q(i))` and
    :math:`D_{\mathrm{KL}}(Q\|P)`, the Jensen-Shannon divergence (nats) and the total
    variation distance, to ``decimals`` places. A KL divergence is shown as ∞ when the
    second distribution gives probability 0 to an outcome the first can produce, with a
    sentence naming the outcome; JS and TV stay finite.

    Taught in Chapter 3, *Asymmetry* (book/03_asymmetry.ipynb), section "Playground".

    Parameters
    ----------
    p, q
        Starting weights, 1-D, the same length (at least 2), entries in :math:`[0, 1]`,
        each with a positive entry (a probability vector is a valid choice).
    labels
        Names of the outcomes; default ``"0", "1", ...``.
    decimals
        Decimal places of the displayed values, 1 to 8.
    name
        Identifier of the playground in the page (lower case, digits and ``-``).

    Returns
    -------
    Playground
        Displays itself in a notebook or on the website.

    Raises
    ------
    ValueError
        If a weight vector is invalid, the lengths differ, ``labels`` has the wrong
        length or ``decimals`` is out of range.

    Examples
    --------
    >>> pg = two_distributions_playground([0.85, 0.05, 0.05, 0.05], [0.25] * 4)
    >>> pg
    Playground('two-distributions', title='Playground: two distributions, live')
    """
    fname = "two_distributions_playground"
    pw = _check_weights(fname, "p", p, None)
    qw = _check_weights(fname, "q", q, pw.size)
    k = pw.size
    labs = [str(i) for i in range(k)] if labels is None else [str(x) for x in labels]
    if len(labs) != k:
        raise ValueError(f"{fname}: labels has {len(labs)} entries but p has {k}")
    decimals = _check_decimals(fname, decimals)

    from bokeh.layouts import column, row
    from bokeh.models import Button, ColumnDataSource, CustomJS, FactorRange
    from bokeh.plotting import figure
    from bokeh.transform import dodge

    bars = ColumnDataSource({"outcome": labs, "p": pw / pw.sum(), "q": qw / qw.sum()})
    fig = figure(x_range=FactorRange(*labs), y_range=(0, 1), height=230,
                 sizing_mode="stretch_width", toolbar_location=None, tools="",
                 title="P (blue) and Q (orange), normalised", x_axis_label="outcome",
                 y_axis_label="probability")
    fig.vbar(x=dodge("outcome", -0.18, range=fig.x_range), top="p", width=0.34, source=bars,
             color=_BLUE, legend_label="P")
    fig.vbar(x=dodge("outcome", 0.18, range=fig.x_range), top="q", width=0.34, source=bars,
             color=_ORANGE, legend_label="Q", hatch_pattern="/", hatch_color="#000000",
             hatch_alpha=0.35)
    fig.legend.location = "top_right"
    fig.xgrid.grid_line_color = None

    p_sliders = [_slider(f"P weight of outcome {lab}", float(v), 0, 1, 0.01, f"p-{i}")
                 for i, (lab, v) in enumerate(zip(labs, pw, strict=True))]
    q_sliders = [_slider(f"Q weight of outcome {lab}", float(v), 0, 1, 0.01, f"q-{i}")
                 for i, (lab, v) in enumerate(zip(labs, qw, strict=True))]
    readout = _readout()
    update = _custom_js("KL.twoDistributions", {
        "p_sliders": p_sliders, "q_sliders": q_sliders, "bars": bars, "readout": readout,
        "labels": labs, "decimals": decimals})
    for s in (*p_sliders, *q_sliders):
        s.js_on_change("value", update)
    reset = Button(label="Reset the sliders", name="reset", width=160)
    reset.js_on_event("button_click", CustomJS(
        args={"sliders": [*p_sliders, *q_sliders], "start": [*pw.tolist(), *qw.tolist()]},
        code="sliders.forEach((s, i) => { s.value = start[i]; });"))
    sliders = column(*(row(ps, qs, sizing_mode="stretch_width")
                       for ps, qs in zip(p_sliders, q_sliders, strict=True)),
                     sizing_mode="stretch_width")
    layout = column(fig, sliders, reset, readout, sizing_mode="stretch_width")
    return Playground(name, layout, "Playground: two distributions, live")


def _check_decimals(fname: str, decimals: int) -> int:
    if isinstance(decimals, bool) or not isinstance(decimals, int | np.integer) \
            or not 1 <= decimals <= 8:
        raise ValueError(f"{fname}: decimals must be an integer from 1 to 8; got {decimals!r}")
    return int(decimals)


def _range(fname: str, name: str, r: Sequence[float], positive: bool) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in r)
    except (TypeError, ValueError):
        raise ValueError(f"{fname}: {name} must be a pair (low, high); got {r!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi) or (positive and lo <= 0):
        bound = "0 < low < high" if positive else "low < high"
        raise ValueError(f"{fname}: {name} must be finite with {bound}; got {r!r}")
    return lo, hi


def gaussian_fit_playground(
    weights: ArrayLike, means: ArrayLike, sigmas: ArrayLike, *,
    reverse_fits: Sequence[tuple[float, float]] = (), mu: float = 0.0, sigma: float = 1.0,
    mu_range: Sequence[float] = (-4.5, 4.5), sigma_range: Sequence[float] = (0.25, 4.0),
    decimals: int = 4, name: str = "gaussian-fit",
) -> Playground:
    r"""Playground: fit :math:`Q = \mathcal N(\mu, \sigma^2)` to a mixture :math:`P` by hand.

    Two sliders set :math:`\mu` and :math:`\sigma` (the standard deviation). The page
    draws :math:`p` and :math:`q`, marks :math:`(\mu, \sigma)` in the plane of all
    Gaussians next to each objective's minima, and shows, to ``decimals`` places in nats,

    - the forward divergence :math:`D_{\mathrm{KL}}(P\|Q)`, computed as
      :func:`~lessons_src.continuous.kl_mixture_normal` does, whose minimum is the moment-matched
      Gaussian (computed here from the mixture), and
    - the reverse divergence :math:`D_{\mathrm{KL}}(Q\|P)`, computed as
      :func:`~lessons_src.continuous.kl_normal_mixture` does, whose minima are the local optima in
      ``reverse_fits`` (e.g. from :func:`~lessons_src.continuous.fit_normal_reverse_kl`); the one
      with the smallest divergence is labelled the global minimum.

    Taught in Chapter 4, *Forward versus reverse KL* (book/04_forward_reverse.ipynb),
    section "Playground".

    Parameters
    ----------
    weights, means, sigmas
        The target mixture :math:`P` (see :func:`~lessons_src.continuous.mixture_logpdf`).
    reverse_fits
        ``(mu, sigma)`` of each local minimum of the reverse KL to mark.
    mu, sigma
        Starting position of the sliders (inside the ranges).
    mu_range, sigma_range
        Slider ranges, ``(low, high)``; ``sigma_range`` must have ``low > 0``. Steps are
        0.05.
    decimals
        Decimal places of the displayed divergences, 1 to 8.
    name
        Identifier of the playground in the page (lower case, digits and ``-``).

    Returns
    -------
    Playground

    Raises
    ------
    ValueError
        If the mixture, a range, a starting value, a fit or ``decimals`` is invalid.

    Examples
    --------
    >>> gaussian_fit_playground([0.6, 0.4], [-2.0, 2.0], [0.7, 0.5], reverse_fits=[(-2.0, 0.7)])
    Playground('gaussian-fit', title='Playground: fit a Gaussian by hand')
    """
    fname = "gaussian_fit_playground"
    w, m, s = _mixture_np(fname, weights, means, sigmas)
    mu_lo, mu_hi = _range(fname, "mu_range", mu_range, False)
    sig_lo, sig_hi = _range(fname, "sigma_range", sigma_range, True)
    mu0 = ck.float_arg(fname, "mu", mu)
    sigma0 = ck.float_arg(fname, "sigma", sigma, 0.0, lo_open=True)
    if not (mu_lo <= mu0 <= mu_hi and sig_lo <= sigma0 <= sig_hi):
        raise ValueError(f"{fname}: the start (mu, sigma) = ({mu0}, {sigma0}) must lie in "
                         f"mu_range {mu_range} and sigma_range {sigma_range}")
    decimals = _check_decimals(fname, decimals)
    fits = []
    for i, fit in enumerate(reverse_fits):
        try:
            f_mu, f_sigma = (float(v) for v in fit)
        except (TypeError, ValueError):
            raise ValueError(f"{fname}: reverse_fits[{i}] must be a pair (mu, sigma); "
                             f"got {fit!r}") from None
        if not (math.isfinite(f_mu) and math.isfinite(f_sigma) and f_sigma > 0):
            raise ValueError(f"{fname}: reverse_fits[{i}] needs a finite mu and sigma > 0; "
                             f"got {fit!r}")
        fits.append((f_mu, f_sigma))

    mean, sd = (float(v) for v in mixture_moments(w, m, s))  # the forward-KL optimum
    optima = [{"kind": "forward", "key": "forward_min", "mu": mean, "sigma": sd,
               "label": "the moment-matched Gaussian (global minimum)"}]
    order = np.argsort([float(kl_normal_mixture(a, b, w, m, s)) for a, b in fits])
    for rank, i in enumerate(order):
        f_mu, f_sigma = fits[i]
        optima.append({"kind": "reverse", "key": f"reverse_min_{rank}", "mu": f_mu,
                       "sigma": f_sigma,
                       "label": "global minimum" if rank == 0 else "a local minimum"})

    from bokeh.layouts import column
    from bokeh.models import Button, ColumnDataSource, CustomJS, Legend, LegendItem
    from bokeh.plotting import figure

    lo = float(min(np.min(m - 4 * s), mu_lo)) - 0.5
    hi = float(max(np.max(m + 4 * s), mu_hi)) + 0.5
    x = np.linspace(lo, hi, 481)
    curve = ColumnDataSource({"x": x, "p": np.exp(mixture_logpdf(x, w, m, s)),
                              "q": np.zeros_like(x)})
    dens = figure(height=230, sizing_mode="stretch_width", x_range=(lo, hi),
                  toolbar_location=None, tools="", title="target p (grey) and your q (orange)",
                  x_axis_label="x", y_axis_label="density")
    dens.varea(x="x", y1=0, y2="p", source=curve, fill_color=_GREY, fill_alpha=0.35,
               legend_label="p (target)")
    dens.line(x="x", y="q", source=curve, color=_ORANGE, line_width=2.5, legend_label="q")
    dens.legend.location = "top_right"

    plane = figure(height=230, sizing_mode="stretch_width", x_range=(mu_lo, mu_hi),
                   y_range=(0, sig_hi), toolbar_location=None, tools="",
                   title="(μ, σ) of q and the minima of each objective",
                   x_axis_label="μ", y_axis_label="σ")
    items = []
    marks = [("forward", "square", _BLUE, "forward-KL minimum"),
             ("reverse", "triangle", _VERMILION, "reverse-KL minima")]
    for kind, marker, colour, text in marks:
        src = ColumnDataSource({"mu": [o["mu"] for o in optima if o["kind"] == kind],
                                "sigma": [o["sigma"] for o in optima if o["kind"] == kind]})
        r = plane.scatter("mu", "sigma", source=src, marker=marker, size=13, color=colour)
        items.append(LegendItem(label=text, renderers=[r]))
    point = ColumnDataSource({"mu": [mu0], "sigma": [sigma0]}, name="q-point")
    r = plane.scatter("mu", "sigma", source=point, marker="circle", size=11, color=_ORANGE,
                      line_color="#000000")
    items.append(LegendItem(label="your q", renderers=[r]))
    plane.add_layout(Legend(items=items, location="top_right"))

    mu_slider = _slider("mean μ of q", mu0, mu_lo, mu_hi, 0.05, "mu")
    sigma_slider = _slider("standard deviation σ of q", sigma0, sig_lo, sig_hi, 0.05, "sigma")
    readout = _readout()
    update = _custom_js("KL.gaussianFit", {
        "mu": mu_slider, "sigma": sigma_slider,
        "target": {"w": w.tolist(), "m": m.tolist(), "s": s.tolist()},
        "curve": curve, "point": point, "readout": readout, "optima": optima,
        "decimals": decimals})
    mu_slider.js_on_change("value", update)
    sigma_slider.js_on_change("value", update)
    reset = Button(label="Reset the sliders", name="reset", width=160)
    reset.js_on_event("button_click", CustomJS(
        args={"mu": mu_slider, "sigma": sigma_slider, "start": [mu0, sigma0]},
        code="mu.value = start[0]; sigma.value = start[1];"))
    layout = column(dens, plane, mu_slider, sigma_slider, reset, readout,
                    sizing_mode="stretch_width")
    return Playground(name, layout, "Playground: fit a Gaussian by hand")
