"""Page weight and time-to-typeset of every page of the built site, in headless Chromium.

For each page in the table of contents, served on 127.0.0.1: the bytes the browser
downloads to show it (uncompressed: the HTML and every script, stylesheet, font and image
it loads), how many requests that takes, and the time from navigation until MathJax has
typeset the page (``MathJax.startup.promise`` resolved) and the quiz, if any, is rendered.
On a page with a playground (``lessons_src.playground``), which loads BokehJS only when it
comes near the screen, the page is then scrolled to each playground: the time from that
scroll until every playground is drawn and shows its numbers (``data-ready`` set), and the
bytes of the page with them drawn, are reported too.
Each page is loaded in a fresh browser context (an empty cache), ``--runs`` times; the
median time is reported.

Usage: ``python benchmarks/bench_pages.py [--site _build/html] [--runs 3] [--out FILE]``
(``make bench`` runs it). Needs Debian's Chromium at /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from notebook_checks import toc_docs  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
TYPESET_TARGET_S = 1.5

READY = """() => new Promise(resolve => {
  const t0 = performance.timeOrigin;
  const quiz = () => !document.querySelector('div[data-shufflequestions]')
                     || document.querySelector('div[data-shufflequestions] .Quiz');
  const done = () => { if (quiz()) resolve(performance.now()); else setTimeout(done, 10); };
  if (!document.querySelector("script[src*='mathjax']")) { done(); return; }
  (function wait() {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      MathJax.startup.promise.then(done);
    } else { setTimeout(wait, 10); }
  })();
})"""


PLAYGROUNDS_READY = """() => new Promise(resolve => {
  const all = [...document.querySelectorAll('.kl-playground')];
  if (!all.length) { resolve(null); return; }
  const t0 = performance.now();
  all.forEach(e => e.scrollIntoView());
  (function wait() {
    if (all.every(e => e.dataset.ready)) resolve(performance.now() - t0);
    else setTimeout(wait, 10);
  })();
})"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def _settled_bytes(page, sizes: dict[str, int]) -> int:
    """Total bytes once no response has arrived for 0.5 s (bodies are read as they come)."""
    last, quiet = (len(sizes), sum(sizes.values())), 0
    while quiet < 5:
        page.wait_for_timeout(100)
        now = (len(sizes), sum(sizes.values()))
        quiet = quiet + 1 if now == last else 0
        last = now
    return last[1]


def measure(site: Path, runs: int) -> list[dict]:
    from playwright.sync_api import sync_playwright

    handler = functools.partial(_Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    rows = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for doc in toc_docs(ROOT):
                times, play, weight, requests, full = [], [], 0, 0, None
                for _ in range(runs):
                    ctx = browser.new_context()
                    page = ctx.new_page()
                    sizes: dict[str, int] = {}

                    def on_response(response, sizes=sizes):
                        if response.url.startswith(base):
                            try:
                                sizes[response.url] = len(response.body())
                            except Exception:  # a redirect or an aborted request: no body
                                sizes.setdefault(response.url, 0)

                    page.on("response", on_response)
                    page.goto(f"{base}/{doc}.html", wait_until="load")
                    times.append(page.evaluate(READY) / 1000)
                    page.wait_for_load_state("networkidle")
                    weight, requests = sum(sizes.values()), len(sizes)
                    ready = page.evaluate(PLAYGROUNDS_READY)
                    if ready is not None:
                        play.append(ready / 1000)
                        full = _settled_bytes(page, sizes)
                    ctx.close()
                rows.append({"page": doc, "bytes": weight, "requests": requests,
                             "typeset_s": round(statistics.median(times), 3),
                             "playground_s": round(statistics.median(play), 3) if play
                             else None, "bytes_with_playground": full})
            browser.close()
    finally:
        server.shutdown()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, default=ROOT / "_build" / "html")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results.json",
                        help="results file: the rows are merged in under 'pages'")
    args = parser.parse_args(argv)
    if not (args.site / "index.html").is_file():
        print(f"{args.site}/index.html is missing: run 'make book' first", file=sys.stderr)
        return 2
    start = time.perf_counter()
    rows = measure(args.site, args.runs)
    print(f"{'page':<28} {'bytes':>10} {'requests':>9} {'typeset (s)':>12} "
          f"{'playground (s)':>15} {'bytes with it':>14}")
    for r in rows:
        flag = "" if r["typeset_s"] <= TYPESET_TARGET_S else f"  over {TYPESET_TARGET_S} s"
        play = "" if r["playground_s"] is None else f"{r['playground_s']:.2f}"
        full = "" if r["bytes_with_playground"] is None else f"{r['bytes_with_playground']:,}"
        print(f"{r['page']:<28} {r['bytes']:>10,} {r['requests']:>9} {r['typeset_s']:>12.2f} "
              f"{play:>15} {full:>14}{flag}")
    print(f"largest page {max(r['bytes'] for r in rows):,} bytes; slowest typeset "
          f"{max(r['typeset_s'] for r in rows):.2f} s (target {TYPESET_TARGET_S} s); "
          f"measured in {time.perf_counter() - start:.0f} s")
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    results["pages"] = {"site": str(args.site), "runs": args.runs, "rows": rows,
                        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
