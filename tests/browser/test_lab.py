"""A chapter in JupyterLab, offline: the test starts JupyterLab on 127.0.0.1 in a pytest tmp
dir holding a copy of Chapter 1 and its quiz, runs every cell from Lab's Run menu in
Chromium, and answers quiz questions in the notebook's output.

What must hold with no internet:
- nothing goes off 127.0.0.1: the page's requests to other hosts are refused and recorded,
  and a ``sitecustomize`` put on the PYTHONPATH of the Lab server (and so of its kernel)
  records and refuses their connections and name lookups;
- the chapter runs without an error in the venv's kernel;
- the quiz renders with no raw TeX (Lab has no MathJax the quiz can use: jupyterquiz would
  fetch one from a CDN), and marks a wrong answer wrong and the right one right;
- no JavaScript error comes from the quiz.

The repository's notebooks are never touched: Lab works on copies.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lessons_src import load_quiz

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CHAPTER = "01_definition"  # the fastest chapter to run (about 5 s)
STARTUP_TIMEOUT = 120  # seconds for the server to answer /api/status
UI_TIMEOUT_MS = 120_000  # for Lab to load, start the kernel and run the whole chapter
TEX = ("$", "\\(", "\\)", "\\[", "\\frac", "\\mathrm", "\\text", "^{", "_{")
# Console errors and exceptions that come from the quiz (jupyterquiz's functions, its
# MathJax handling, or Lab's report of a failed Javascript output).
QUIZ_ERROR = re.compile(r"quiz|show_questions|check_mc|check_numeric|make_mc|make_numeric|"
                        r"MathJax|Javascript Error", re.IGNORECASE)

# Imported first by every Python the server starts (itself and the kernel).
GUARD = '''"""Written by tests/browser/test_lab.py: record and refuse network use off 127.0.0.1."""
import ipaddress
import os
import socket

_LOG = os.environ["KL_OFFLINE_LOG"]
_getaddrinfo = socket.getaddrinfo
_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


def _local(host):
    if isinstance(host, bytes):
        host = host.decode()
    if host in (None, "", "localhost"):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _refuse(what):
    with open(_LOG, "a", encoding="utf-8") as log:
        log.write(f"pid {os.getpid()}: {what}\\n")
    raise OSError(f"offline test: refused {what}")


def getaddrinfo(host, *args, **kwargs):
    if not _local(host):
        _refuse(f"lookup of {host!r}")
    return _getaddrinfo(host, *args, **kwargs)


def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(address[0]):
        _refuse(f"connection to {address!r}")
    return _connect(self, address)


def connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(address[0]):
        _refuse(f"connection to {address!r}")
    return _connect_ex(self, address)


socket.getaddrinfo = getaddrinfo
socket.socket.connect = connect
socket.socket.connect_ex = connect_ex
'''

# Lab's user settings (in a tmp dir): never fetch the Jupyter news nor check for updates,
# and no toast asking about it. The server is also started with news_url=None and
# NeverCheckForUpdate, so not even a request from the page could reach the internet.
SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False},
}


@dataclass
class Lab:
    """A running JupyterLab server: its base URL, token, notebook folder and logs."""

    url: str
    token: str
    root: Path
    log: Path
    offline_log: Path

    def api(self, path: str):
        """GET a server API path (e.g. /api/sessions) and decode its JSON."""
        return _get(self.url, self.token, path)

    def log_tail(self, n: int = 40) -> str:
        """The last lines of the server's log, for failure messages."""
        lines = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(lines[-n:])

    def refused(self) -> list[str]:
        """What the server or the kernel tried to reach off 127.0.0.1."""
        if not self.offline_log.exists():
            return []
        return self.offline_log.read_text(encoding="utf-8").splitlines()


def _get(url: str, token: str, path: str):
    """GET url + path from the Jupyter server with the token; decode the JSON answer."""
    request = urllib.request.Request(f"{url}{path}", headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def _wait_for_server(proc: subprocess.Popen, runtime: Path, token: str, log: Path) -> str:
    """Wait until the server has written its runtime file (it picks a free port itself) and
    answers /api/status with our token; return its base URL."""
    info = runtime / f"jpserver-{proc.pid}.json"
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"JupyterLab exited with code {proc.returncode}:\n"
                        f"{log.read_text(errors='replace')[-3000:]}")
        try:
            url = f"http://127.0.0.1:{json.loads(info.read_text(encoding='utf-8'))['port']}"
            _get(url, token, "/api/status")
            return url
        except (OSError, ValueError, KeyError):  # not written yet, or not answering yet
            time.sleep(0.2)
    pytest.fail(f"JupyterLab did not answer within {STARTUP_TIMEOUT} s:\n"
                f"{log.read_text(errors='replace')[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server (on SIGTERM it shuts its kernels down); kill it if it hangs."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextlib.contextmanager
def running_lab(tmp_path: Path, chapter: str = CHAPTER) -> Iterator[Lab]:
    """JupyterLab on a free port of 127.0.0.1, serving a copy of the chapter and its quiz.

    Jupyter's and IPython's config, data, runtime, settings and workspace folders are all
    under tmp_path, so nothing touches ~/.jupyter; the kernel is the venv's "python3"
    kernelspec (the one `make lab` uses), which Jupyter finds under sys.prefix.
    """
    root, home = tmp_path / "notebooks", tmp_path / "jupyter"
    root.mkdir()
    for suffix in (".ipynb", ".quiz.yml"):
        shutil.copy(ROOT / "book" / f"{chapter}{suffix}", root)
    dirs = {name: home / name for name in
            ("config", "data", "runtime", "settings", "workspaces", "ipython", "guard")}
    for path in dirs.values():
        path.mkdir(parents=True)
    for name, values in SETTINGS.items():
        (dirs["settings"] / name).parent.mkdir(parents=True, exist_ok=True)
        (dirs["settings"] / name).write_text(json.dumps(values), encoding="utf-8")
    (dirs["guard"] / "sitecustomize.py").write_text(GUARD, encoding="utf-8")
    offline_log = tmp_path / "refused-connections.log"
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(dirs["config"]),
        "JUPYTER_DATA_DIR": str(dirs["data"]),
        "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
        "IPYTHONDIR": str(dirs["ipython"]),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(dirs["guard"]),
                                                    os.environ.get("PYTHONPATH")])),
        "KL_OFFLINE_LOG": str(offline_log),
    }
    token = secrets.token_hex(16)
    args = [
        sys.executable, "-m", "jupyterlab", "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        "--ServerApp.port=0",  # a free port, read back from the runtime file
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.terminals_enabled=False",
        # No phoning home: no news feed, no update check, no PyPI extension manager.
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
        f"--LabApp.user_settings_dir={dirs['settings']}",
        f"--LabApp.workspaces_dir={dirs['workspaces']}",
    ]
    if os.geteuid() == 0:  # CI runs as root
        args.append("--allow-root")
    log = tmp_path / "jupyterlab.log"
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.Popen(args, cwd=root, env=env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        url = _wait_for_server(proc, dirs["runtime"], token, log)
        yield Lab(url=url, token=token, root=root, log=log, offline_log=offline_log)
    finally:
        _stop(proc)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """JupyterLab serving a copy of the chapter (see :func:`running_lab`)."""
    with running_lab(tmp_path) as server:
        yield server


@dataclass
class LabWatch:
    """Refuses and records what the Lab page requests off 127.0.0.1; records its console."""

    foreign: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def attach(self, page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught {e}\n{e.stack or ''}"))
        page.route(re.compile(r"^(?!https?://127\.0\.0\.1[:/]).*"), self._route)

    def _console(self, message) -> None:
        self.console.append(f"{message.type}: {message.text}")
        if message.type == "error":
            self.errors.append(message.text)

    def _route(self, route) -> None:
        url = route.request.url
        if url.startswith(("data:", "blob:", "about:")):
            route.continue_()
        else:
            self.foreign.append(url)
            route.abort()


def _wait_until_kernel_ready(page, lab: Lab, chapter: str = CHAPTER) -> None:
    """Wait until the notebook's kernel is the venv's python3 and Lab shows it idle.

    Lab's status bar reads "No Kernel | Initializing" (with an idle execution indicator)
    before the kernel starts, so only "<kernel name> | Idle" means the kernel is ready;
    running cells before that pops up a "Select Kernel" dialog.
    """
    spec = lab.api("/api/kernelspecs")["kernelspecs"]["python3"]["spec"]
    python = os.path.abspath(spec["argv"][0])
    assert python.startswith(sys.prefix), f"kernel python3 runs {python}, not the venv's"
    page.get_by_text(f"{spec['display_name']} | Idle", exact=True).wait_for(
        timeout=UI_TIMEOUT_MS)
    sessions = [s for s in lab.api("/api/sessions") if s["path"].endswith(f"{chapter}.ipynb")]
    assert [s["kernel"]["name"] for s in sessions] == ["python3"], sessions


def _run_all_cells(page) -> None:
    """Run every cell from Lab's menu bar: Run > Run All Cells."""
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu .lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()


# Returns false while cells run; "done" once every code cell has run and the quiz (the last
# cell's output) shows n questions; "error" once a cell has failed (Lab then stops running
# the rest); "dialog" if Lab asks something instead of running.
RUN_STATE = """n => {
    if (document.querySelector('.jp-Dialog')) return 'dialog';
    const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
        .map(p => p.textContent.trim());
    if (prompts.some(p => p === '[*]:')) return false;
    if (prompts.every(p => /^\\[\\d+\\]:$/.test(p))
        && document.querySelectorAll('.jp-OutputArea .Quiz').length >= n) return 'done';
    const failed = [...document.querySelectorAll(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
        .some(e => e.textContent.includes('Traceback'));
    return failed ? 'error' : false;
}"""


def _tracebacks(page) -> list[str]:
    return page.evaluate("""() => [...document.querySelectorAll(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
        .map(e => e.textContent).filter(t => t.includes('Traceback'))""")


def _feedback(question) -> tuple[str, str]:
    fb = question.locator(".Feedback")
    return fb.get_attribute("class") or "", fb.inner_text()


def _answer_numeric(question, text: str) -> None:
    box = question.locator("input.Input-text")
    box.click()  # focusing clears the box
    box.press_sequentially(text)
    box.press("Enter")


def _plain(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", "", html).split())


def test_chapter_runs_and_quiz_answers_in_jupyterlab(browser, lab, tmp_path):
    quiz = load_quiz(lab.root / f"{CHAPTER}.quiz.yml")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(60_000)  # Lab is heavy on a busy 2-core machine
    page = context.new_page()
    watch = LabWatch()
    watch.attach(page)
    try:
        started = time.monotonic()
        response = page.goto(f"{lab.url}/lab/tree/{CHAPTER}.ipynb?token={lab.token}",
                             timeout=UI_TIMEOUT_MS)
        assert response is not None and response.ok, f"Lab: HTTP {response and response.status}"
        _wait_until_kernel_ready(page, lab)
        ready = time.monotonic() - started

        _run_all_cells(page)
        outcome = page.wait_for_function(RUN_STATE, arg=len(quiz.questions),
                                         timeout=UI_TIMEOUT_MS).json_value()
        ran = time.monotonic() - started - ready
        assert outcome != "dialog", (
            f"Lab asked instead of running: {page.locator('.jp-Dialog').inner_text()!r}")
        assert outcome == "done", f"{CHAPTER} failed in JupyterLab:\n{_tracebacks(page)}"
        notebook = json.loads((lab.root / f"{CHAPTER}.ipynb").read_text(encoding="utf-8"))
        code_cells = sum(c["cell_type"] == "code" for c in notebook["cells"])
        assert page.locator(".jp-CodeCell").count() == code_cells, (
            "Lab did not put every code cell in the page: cannot tell they all ran")
        shown = page.locator(".jp-OutputArea .Quiz")
        assert shown.count() == len(quiz.questions), (
            f"{len(quiz.questions)} questions in the quiz file, {shown.count()} shown in Lab")

        # Readable without MathJax: no raw TeX in any question or its answers.
        for i, q in enumerate(quiz.questions):
            text = shown.nth(i).text_content()  # (off-screen cells may not be rendered)
            raw = [t for t in TEX if t in text]
            assert not raw, f"question {q['id']!r} shows raw TeX {raw} in Lab: {text!r}"

        # A multiple-choice question: a wrong answer, then the right one.
        i = next(k for k, q in enumerate(quiz.questions) if q["type"] == "multiple_choice")
        question, answers = shown.nth(i), quiz.questions[i]["answers"]
        question.scroll_into_view_if_needed()
        labels = question.locator("label.MCButton")
        assert labels.count() == len(answers)
        labels.and_(page.locator("[data-correct='false']")).first.click()
        cls, text = _feedback(question)
        assert "incorrect" in cls and text.strip(), f"a wrong answer got {cls!r}: {text!r}"
        labels.and_(page.locator("[data-correct='true']")).click()
        cls, text = _feedback(question)
        assert "incorrect" not in cls and "correct" in cls, f"the right answer got {cls!r}"
        right = next(a for a in answers if a["correct"])
        assert _plain(text) == _plain(right["feedback"]), f"feedback {text!r}"

        # A numeric question: typing in the output must reach the quiz, not Lab's shortcuts.
        j = next(k for k, q in enumerate(quiz.questions) if q["type"] == "numeric")
        number, q = shown.nth(j), quiz.questions[j]
        number.scroll_into_view_if_needed()
        value, decimals = q["_value"], q["_decimals"]
        _answer_numeric(number, f"{value + 1.0 + 7 * 10.0 ** -decimals:.{decimals}f}")
        cls, text = _feedback(number)
        assert "incorrect" in cls, f"a wrong number was not marked wrong: {cls!r} {text!r}"
        _answer_numeric(number, f"{value:.{decimals}f}")
        cls, text = _feedback(number)
        assert "incorrect" not in cls and "correct" in cls, (
            f"{value:.{decimals}f} was not accepted: {cls!r} {text!r}")
        assert _plain(text) == _plain(q["answers"][0]["feedback"]), f"feedback {text!r}"
        assert page.locator(".jp-CodeCell").count() == code_cells and page.evaluate(
            RUN_STATE, len(quiz.questions)) == "done", (
            "typing the answer changed the notebook (did a Lab shortcut fire?)")

        question.scroll_into_view_if_needed()
        page.screenshot(path=str(tmp_path / "lab-quiz.png"))
        number.locator(".Feedback").scroll_into_view_if_needed()
        page.screenshot(path=str(tmp_path / "lab-quiz-numeric.png"))
        print(f"\nLab: kernel ready after {ready:.1f} s, {CHAPTER} ran in {ran:.1f} s; "
              f"screenshot {tmp_path / 'lab-quiz.png'}")
        noise = [m for m in watch.console if m.startswith(("error", "warning"))]
        if noise:
            print("Lab console (warnings and errors):\n  " + "\n  ".join(noise))

        foreign, refused = watch.foreign, lab.refused()
        assert not foreign, f"the Lab page requested off 127.0.0.1: {foreign}"
        assert not refused, f"Lab's server or kernel went off 127.0.0.1: {refused}"
        quiz_errors = [e for e in watch.errors if QUIZ_ERROR.search(e)]
        assert not quiz_errors, f"JavaScript errors from the quiz: {quiz_errors}"
        uncaught = [e for e in watch.errors if e.startswith("uncaught")]
        assert not uncaught, f"uncaught JavaScript exceptions in Lab: {uncaught}"
    except BaseException:
        with contextlib.suppress(Exception):  # keep the real error if the page is gone
            page.screenshot(path=str(tmp_path / "lab-failure.png"))
        print(f"\nscreenshot {tmp_path / 'lab-failure.png'}\nconsole:\n  "
              + "\n  ".join(watch.console)
              + f"\nerrors: {watch.errors}\nrefused: {watch.foreign} {lab.refused()}"
              + f"\nserver log:\n{lab.log_tail()}")
        raise
    finally:
        context.close()


def _play_two_distributions(page, playground) -> None:
    from test_playground import P_NAMES, Q_NAMES, _check_two, _slider_values

    _check_two(page, "the start, in Lab")
    handles = playground.locator(".noUi-handle")
    assert handles.count() == len(P_NAMES + Q_NAMES)
    assert handles.nth(0).get_attribute("aria-label") == "P weight of outcome 0"
    handles.nth(0).focus()
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    assert _slider_values(page, "two-distributions", ["p-0"]) == [0.83]
    _check_two(page, "p-0 = 0.83 by keyboard, in Lab")
    handles.nth(5).focus()  # Q's weight of outcome 2
    page.keyboard.press("Home")
    assert _check_two(page, "Q(2) = 0 by keyboard, in Lab")["kl_pq"] == "∞"


def _play_gaussian_fit(page, playground) -> None:
    from test_playground import _check_fit, _slider_values

    _check_fit(page, "the start, in Lab")
    handles = playground.locator(".noUi-handle")
    assert handles.nth(1).get_attribute("aria-label") == "standard deviation σ of q"
    handles.nth(0).focus()
    for _ in range(8):
        page.keyboard.press("ArrowLeft")
    handles.nth(1).focus()
    page.keyboard.press("End")
    assert _slider_values(page, "gaussian-fit", ["mu", "sigma"]) == [
        pytest.approx(-0.4), 4.0]
    _check_fit(page, "mu = -0.4, sigma = 4 by keyboard, in Lab")


# Each chapter with a playground, and what the test does with it.
PLAYGROUNDS = {"03_asymmetry": _play_two_distributions,
               "04_forward_reverse": _play_gaussian_fit}


@pytest.mark.parametrize("chapter", PLAYGROUNDS)
def test_playground_works_in_jupyterlab(browser, tmp_path, chapter):
    """Run All, then the playground (BokehJS from the load_bokehjs() cell, no internet)
    answers the keyboard and shows the values lessons_src computes."""
    with running_lab(tmp_path, chapter) as lab:
        _playground_in_lab(browser, lab, tmp_path, chapter)


def _playground_in_lab(browser, lab: Lab, tmp_path: Path, chapter: str) -> None:
    quiz = load_quiz(lab.root / f"{chapter}.quiz.yml")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(60_000)
    page = context.new_page()
    watch = LabWatch()
    watch.attach(page)
    try:
        response = page.goto(f"{lab.url}/lab/tree/{chapter}.ipynb?token={lab.token}",
                             timeout=UI_TIMEOUT_MS)
        assert response is not None and response.ok, f"Lab: HTTP {response and response.status}"
        _wait_until_kernel_ready(page, lab, chapter)
        _run_all_cells(page)
        outcome = page.wait_for_function(RUN_STATE, arg=len(quiz.questions),
                                         timeout=UI_TIMEOUT_MS).json_value()
        assert outcome == "done", f"{chapter} failed in JupyterLab ({outcome}):\n" \
                                  f"{_tracebacks(page)}"
        playground = page.locator(".jp-OutputArea .kl-playground")
        assert playground.count() == 1
        playground.scroll_into_view_if_needed()
        page.wait_for_selector(".kl-playground[data-ready]", state="attached",
                               timeout=UI_TIMEOUT_MS)
        PLAYGROUNDS[chapter](page, playground)
        page.screenshot(path=str(tmp_path / "lab-playground.png"))

        foreign, refused = watch.foreign, lab.refused()
        assert not foreign, f"the Lab page requested off 127.0.0.1: {foreign}"
        assert not refused, f"Lab's server or kernel went off 127.0.0.1: {refused}"
        uncaught = [e for e in watch.errors if e.startswith("uncaught")]
        assert not uncaught, f"uncaught JavaScript exceptions in Lab: {uncaught}"
        bokeh_errors = [e for e in watch.errors if "bokeh" in e.lower()]
        assert not bokeh_errors, f"BokehJS errors in Lab: {bokeh_errors}"
    except BaseException:
        with contextlib.suppress(Exception):
            page.screenshot(path=str(tmp_path / "lab-failure.png"))
        print(f"\nscreenshot {tmp_path / 'lab-failure.png'}\nconsole:\n  "
              + "\n  ".join(watch.console) + f"\nserver log:\n{lab.log_tail()}")
        raise
    finally:
        context.close()


@pytest.mark.parametrize("path", sorted((ROOT / "book").glob("*.quiz.yml")),
                         ids=lambda p: p.name)
def test_quiz_text_has_no_tex(path):
    """Every chapter's quiz is readable in JupyterLab, where the quiz has no MathJax: its
    questions, answers and feedback use HTML (<sub>, <sup>) and Unicode, never TeX."""
    for q in load_quiz(path).questions:
        texts = [q["question"], *(a.get(key, "") for a in q["answers"]
                                  for key in ("answer", "feedback"))]
        raw = sorted({token for text in texts for token in TEX if token in text})
        assert not raw, (f"{path.name}: question {q['id']!r} has TeX {raw}; JupyterLab "
                         f"shows it raw (write D<sub>KL</sub>(P‖Q), not $D_{{KL}}$)")
