"""Time lessons_src against the libraries the book compares it with.

Run as ``.venv/bin/python benchmarks/bench_lessons.py`` (or ``make bench``). Prints, for
one run on this machine, the best-of-N wall time of each pair of calls and their ratio,
and writes the figures with machine information to ``benchmarks/results.json``:

- ``kl_divergence(p, q)`` against ``scipy.special.rel_entr(p, q).sum(-1)`` on
  (1000, 10000) float64 rows that sum to 1 (validation included; target ratio <= 1.2);
- ``kl_mvn`` against ``torch.distributions.kl_divergence`` of two
  ``MultivariateNormal`` built from the same d = 500 covariance matrices (construction
  included, as both start from covariances; target ratio <= 1.0), for numpy inputs and
  for float64 tensor inputs.

Each timing is the minimum over ``--repeats`` runs after two warm-up calls, measured with
``time.perf_counter``; the minimum is the least noisy estimate on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy
import scipy.special

from lessons_src import kl_divergence, kl_mvn

RESULTS = Path(__file__).with_name("results.json")


def best_time(fn: Callable[[], object], repeats: int) -> float:
    fn()
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def spd(rng: np.random.Generator, d: int) -> np.ndarray:
    a = rng.standard_normal((d, d))
    c = a @ a.T / d + 0.5 * np.eye(d)
    return 0.5 * (c + c.T)


def bench_kl(repeats: int) -> dict:
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(10_000), size=1000)
    q = rng.dirichlet(np.ones(10_000), size=1000)
    ours = kl_divergence(p, q)
    ref = scipy.special.rel_entr(p, q).sum(-1)
    np.testing.assert_allclose(ours, ref, rtol=1e-12)
    t_ours = best_time(lambda: kl_divergence(p, q), repeats)
    t_ref = best_time(lambda: scipy.special.rel_entr(p, q).sum(-1), repeats)
    return {
        "case": "kl_divergence vs scipy.special.rel_entr(p, q).sum(-1), (1000, 10000) float64",
        "ours_s": t_ours, "reference_s": t_ref, "ratio": t_ours / t_ref, "target": 1.2,
    }


def bench_mvn(repeats: int) -> list[dict]:
    import torch
    from torch.distributions import MultivariateNormal
    from torch.distributions import kl_divergence as torch_kl

    d = 500
    rng = np.random.default_rng(1)
    mp, mq = rng.standard_normal(d), rng.standard_normal(d)
    cp, cq = spd(rng, d), spd(rng, d)
    tmp, tcp, tmq, tcq = (torch.from_numpy(x) for x in (mp, cp, mq, cq))

    def reference() -> object:
        return torch_kl(MultivariateNormal(tmp, covariance_matrix=tcp),
                        MultivariateNormal(tmq, covariance_matrix=tcq))

    ref = float(reference())
    assert abs(kl_mvn(mp, cp, mq, cq) - ref) <= 1e-10 * abs(ref)
    assert abs(float(kl_mvn(tmp, tcp, tmq, tcq)) - ref) <= 1e-10 * abs(ref)
    t_ref = best_time(reference, repeats)
    out = []
    for label, fn in [("numpy", lambda: kl_mvn(mp, cp, mq, cq)),
                      ("torch float64", lambda: kl_mvn(tmp, tcp, tmq, tcq))]:
        t = best_time(fn, repeats)
        out.append({
            "case": f"kl_mvn ({label} inputs) vs torch kl_divergence(MultivariateNormal, "
                    f"MultivariateNormal), d = {d}, construction included",
            "ours_s": t, "reference_s": t_ref, "ratio": t / t_ref, "target": 1.0,
        })
    return out


def machine() -> dict:
    import torch

    return {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "processor": platform.processor() or platform.machine(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "torch": torch.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per call")
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON file to write")
    args = parser.parse_args()
    results = [bench_kl(args.repeats), *bench_mvn(args.repeats)]
    for r in results:
        flag = "ok" if r["ratio"] <= r["target"] else "MISSED"
        print(f"{r['case']}\n    ours {r['ours_s'] * 1e3:8.2f} ms   reference "
              f"{r['reference_s'] * 1e3:8.2f} ms   ratio {r['ratio']:.3f} "
              f"(target <= {r['target']}: {flag})")
    payload = {"machine": machine(), "repeats": args.repeats, "results": results,
               "when": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    merged = json.loads(args.out.read_text()) if args.out.is_file() else {}
    if "results" in merged:  # the old flat format of this file
        merged = {}
    merged["lessons"] = payload  # bench_book.py and bench_pages.py add their own keys
    args.out.write_text(json.dumps(merged, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
