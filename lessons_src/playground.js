// The arithmetic of lessons_src.playground, run in the reader's browser by Bokeh's CustomJS.
// It mirrors lessons_src (natural logarithms, so every divergence is in nats):
//   - kl / js / tv            lessons_src.kl_divergence, js_divergence, total_variation
//   - klMixtureNormal         lessons_src.kl_mixture_normal  (forward KL of a Gaussian fit)
//   - klNormalMixture         lessons_src.kl_normal_mixture  (reverse KL of a Gaussian fit)
// The Gaussian expectations use the same rule as lessons_src.continuous: the trapezoidal
// rule on an odd number of equally spaced z in [-10, 10], weights proportional to the
// N(0, 1) density and summing to 1, with the grid made fine enough that its x-spacing is at
// most a quarter of the narrowest feature of log p (about 1e-10 nats of error).
// tests/browser/test_playground.py compares what the page shows with lessons_src.
const KL = (() => {
  const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);
  const Z_MAX = 10;
  const MIN_POINTS = 201;

  // Normalise non-negative weights to probabilities; null when they sum to 0.
  function normalise(weights) {
    const total = weights.reduce((a, b) => a + b, 0);
    return total > 0 ? weights.map((w) => w / total) : null;
  }

  // sum_i p_i ln(p_i / q_i), with 0 ln(0/q) = 0 and +Infinity where p_i > 0 = q_i.
  function kl(p, q) {
    let total = 0;
    for (let i = 0; i < p.length; i++) {
      if (p[i] === 0) continue;
      if (q[i] === 0) return Infinity;
      total += p[i] * Math.log(p[i] / q[i]);
    }
    return Math.max(total, 0); // Gibbs: >= 0; clears a rounding error of -1e-17
  }

  // Jensen-Shannon divergence: the mean KL of P and Q to their midpoint M. At most ln 2.
  function js(p, q) {
    const m = p.map((pi, i) => 0.5 * (pi + q[i]));
    return 0.5 * kl(p, m) + 0.5 * kl(q, m);
  }

  // Total variation distance: half the L1 distance, in [0, 1].
  function tv(p, q) {
    return 0.5 * p.reduce((a, pi, i) => a + Math.abs(pi - q[i]), 0);
  }

  // log sum_k w_k N(x; m_k, s_k^2), by log-sum-exp.
  function mixtureLogpdf(x, w, m, s) {
    let best = -Infinity;
    const comp = new Array(w.length);
    for (let k = 0; k < w.length; k++) {
      const z = (x - m[k]) / s[k];
      comp[k] = Math.log(w[k]) - Math.log(s[k]) - LOG_SQRT_2PI - 0.5 * z * z;
      if (comp[k] > best) best = comp[k];
    }
    if (best === -Infinity) return best;
    let sum = 0;
    for (let k = 0; k < w.length; k++) sum += Math.exp(comp[k] - best);
    return best + Math.log(sum);
  }

  function normalLogpdf(x, mu, sigma) {
    const z = (x - mu) / sigma;
    return -Math.log(sigma) - LOG_SQRT_2PI - 0.5 * z * z;
  }

  // The narrowest feature of log p: min_k s_k and min_{j != k} s_k^2 / |m_j - m_k|.
  function featureScale(m, s) {
    let scale = Math.min(...s);
    for (let j = 0; j < m.length; j++) {
      for (let k = 0; k < m.length; k++) {
        const gap = Math.abs(m[j] - m[k]);
        if (gap > 0) scale = Math.min(scale, (s[k] * s[k]) / gap);
      }
    }
    return scale;
  }

  // Odd number of z-nodes whose x-spacing 20 sigmaMax / (n - 1) is <= featureScale / 4.
  function gridSize(sigmaMax, m, s) {
    const h = featureScale(m, s) / 4;
    const n = Math.max(MIN_POINTS, Math.ceil((2 * Z_MAX * sigmaMax) / h) + 1);
    return n + 1 - (n % 2);
  }

  const grids = new Map();
  // Nodes z_j on [-10, 10] and trapezoid weights c_j ~ phi(z_j) h, summing to 1.
  function zGrid(n) {
    if (!grids.has(n)) {
      const z = new Float64Array(n);
      const c = new Float64Array(n);
      let total = 0;
      for (let j = 0; j < n; j++) {
        z[j] = -Z_MAX + (2 * Z_MAX * j) / (n - 1);
        c[j] = Math.exp(-0.5 * z[j] * z[j]) * (j === 0 || j === n - 1 ? 0.5 : 1);
        total += c[j];
      }
      for (let j = 0; j < n; j++) c[j] /= total;
      grids.set(n, { z, c });
    }
    return grids.get(n);
  }

  // E_{Z ~ N(0,1)} f(mu + sigma Z) on the z-grid of n points.
  function gaussExpect(f, mu, sigma, n) {
    const { z, c } = zGrid(n);
    let total = 0;
    for (let j = 0; j < n; j++) total += c[j] * f(mu + sigma * z[j]);
    return total;
  }

  // D_KL(P || N(mu, sigma^2)) for the mixture P: sum_k w_k E_Z[log p - log q](m_k + s_k Z).
  function klMixtureNormal(w, m, s, mu, sigma) {
    const n = gridSize(Math.max(...s), m, s);
    let total = 0;
    for (let k = 0; k < w.length; k++) {
      const f = (x) => mixtureLogpdf(x, w, m, s) - normalLogpdf(x, mu, sigma);
      total += w[k] * gaussExpect(f, m[k], s[k], n);
    }
    return total;
  }

  // D_KL(N(mu, sigma^2) || P) = -ln sigma - ln sqrt(2 pi) - 1/2 - E_Z[log p(mu + sigma Z)].
  function klNormalMixture(mu, sigma, w, m, s) {
    const n = gridSize(sigma, m, s);
    const logp = gaussExpect((x) => mixtureLogpdf(x, w, m, s), mu, sigma, n);
    return -Math.log(sigma) - LOG_SQRT_2PI - 0.5 - logp;
  }

  // A number as the page shows it: fixed decimals, "∞" for +Infinity, no "-0.0000".
  function fmt(x, decimals) {
    if (x === Infinity) return "∞";
    if (!Number.isFinite(x)) return "—";
    const text = x.toFixed(decimals);
    return /^-0\.?0*$/.test(text) ? text.slice(1) : text;
  }

  return { normalise, kl, js, tv, mixtureLogpdf, normalLogpdf, klMixtureNormal,
           klNormalMixture, fmt };
})();

// --- Chapter 3: two categorical distributions -------------------------------------------
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;",
                                                         ">": "&gt;", '"': "&quot;" })[c]);

KL.twoDistributions = (a) => {
  // a: {p_sliders, q_sliders, bars, readout, labels, decimals}
  const P = KL.normalise(a.p_sliders.map((s) => s.value));
  const Q = KL.normalise(a.q_sliders.map((s) => s.value));
  const zeros = a.labels.map(() => 0);
  a.bars.data = { ...a.bars.data, p: P || zeros, q: Q || zeros };
  const d = a.decimals;
  const row = (key, name, value, unit) =>
    `<tr><th scope="row">${name}</th><td><output data-kl="${key}">${value}</output>` +
    `${unit ? ` ${unit}` : ""}</td></tr>`;
  const probs = (name, r) => `${name} = (${r.map((x) => KL.fmt(x, 3)).join(", ")})`;
  let notes = [];
  let values = { kl_pq: NaN, kl_qp: NaN, js: NaN, tv: NaN };
  if (!P || !Q) {
    notes.push(`${!P ? "P" : "Q"} has no mass: give one of its outcomes a weight above 0.`);
  } else {
    values = { kl_pq: KL.kl(P, Q), kl_qp: KL.kl(Q, P), js: KL.js(P, Q), tv: KL.tv(P, Q) };
    const blame = (A, B, a_, b_) => {
      const i = A.findIndex((x, j) => x > 0 && B[j] === 0);
      return `D<sub>KL</sub>(${a_}‖${b_}) = ∞: ${b_} gives outcome ${esc(a.labels[i])} ` +
        `probability 0, but ${a_} gives it ${KL.fmt(A[i], 3)}. A sample from ${a_} can ` +
        `land where ${b_} says it cannot.`;
    };
    if (values.kl_pq === Infinity) notes.push(blame(P, Q, "P", "Q"));
    if (values.kl_qp === Infinity) notes.push(blame(Q, P, "Q", "P"));
    if (notes.length) notes.push("JS and TV stay finite: JS is at most ln 2 = " +
                                 `${KL.fmt(Math.LN2, d)} nats and TV at most 1.`);
  }
  a.readout.text =
    `<table class="kl-pg-table"><tbody>` +
    row("kl_pq", "D<sub>KL</sub>(P‖Q)", KL.fmt(values.kl_pq, d), "nats") +
    row("kl_qp", "D<sub>KL</sub>(Q‖P)", KL.fmt(values.kl_qp, d), "nats") +
    row("js", "JS(P, Q)", KL.fmt(values.js, d), "nats") +
    row("tv", "TV(P, Q)", KL.fmt(values.tv, d), "") +
    `</tbody></table>` +
    `<p class="kl-pg-probs">${P ? probs("P", P) : "P = ?"}; ${Q ? probs("Q", Q) : "Q = ?"}</p>` +
    `<p class="kl-pg-note" data-kl="note">${notes.join(" ")}</p>`;
};

// --- Chapter 4: fit a Gaussian to a bimodal target by hand ------------------------------
KL.gaussianFit = (a) => {
  // a: {mu, sigma, target: {w, m, s}, curve, point, readout, optima, decimals}
  const { w, m, s } = a.target;
  const mu = a.mu.value;
  const sigma = a.sigma.value;
  const x = a.curve.data.x;
  a.curve.data = { ...a.curve.data, q: Array.from(x, (t) => Math.exp(KL.normalLogpdf(t, mu, sigma))) };
  a.point.data = { mu: [mu], sigma: [sigma] };
  const d = a.decimals;
  const fwd = KL.klMixtureNormal(w, m, s, mu, sigma);
  const rev = KL.klNormalMixture(mu, sigma, w, m, s);
  const at = (o) => `μ = ${KL.fmt(o.mu, 2)}, σ = ${KL.fmt(o.sigma, 2)}`;
  const minima = a.optima.map((o) => {
    const value = o.kind === "forward" ? KL.klMixtureNormal(w, m, s, o.mu, o.sigma)
                                       : KL.klNormalMixture(o.mu, o.sigma, w, m, s);
    return `<li><output data-kl="${o.key}">${KL.fmt(value, d)}</output> nats at ${at(o)}: ` +
           `${esc(o.label)}</li>`;
  });
  const cell = (kind) => `<ul>${minima.filter((_, i) => a.optima[i].kind === kind).join("")}</ul>`;
  a.readout.text =
    `<table class="kl-pg-table"><thead><tr><th scope="col">objective</th>` +
    `<th scope="col">at this Q</th><th scope="col">its minima over all Gaussians</th>` +
    `</tr></thead><tbody>` +
    `<tr><th scope="row">forward D<sub>KL</sub>(P‖Q)</th>` +
    `<td><output data-kl="forward">${KL.fmt(fwd, d)}</output> nats</td><td>${cell("forward")}</td></tr>` +
    `<tr><th scope="row">reverse D<sub>KL</sub>(Q‖P)</th>` +
    `<td><output data-kl="reverse">${KL.fmt(rev, d)}</output> nats</td><td>${cell("reverse")}</td></tr>` +
    `</tbody></table>`;
};
