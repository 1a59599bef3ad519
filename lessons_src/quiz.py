"""Chapter quizzes: questions in a YAML file beside the notebook, shown with jupyterquiz.

A quiz file (``book/<chapter>.quiz.yml``) looks like this::

    title: Check yourself                     # optional
    questions:
      - id: units                             # unique within the file
        type: multiple_choice                 # exactly one correct answer
        question: With the natural logarithm, KL divergence is measured in
        answers:
          - answer: nats
            correct: true
            feedback: Right, ln gives nats; log2 gives bits.
          - answer: bits
            correct: false
            feedback: Bits come from log base 2; divide nats by ln 2.
      - id: coin-kl
        type: numeric
        question: KL(P‖Q) for P = (0.7, 0.3), Q = (0.5, 0.5), in nats?
        expr: kl_divergence([0.7, 0.3], [0.5, 0.5])   # computed by lessons_src
        decimals: 3                           # accepted within ±0.0005
        feedback: Right, 0.082 nats.
        mistakes:                             # optional: likely slips, explained
          - expr: kl_divergence([0.5, 0.5], [0.7, 0.3])
            feedback: That is KL(Q‖P), the other direction.
        default_feedback: Not quite; sum P(x) log(P(x)/Q(x)) over both outcomes.

``type`` is ``multiple_choice`` (one correct answer) or ``many_choice`` (two or more).
Choice answers are shown in a fixed order drawn from the file name and question id (so
the right answer is not always where the author wrote it, yet every run and page load
shows the same order); ``shuffle: false`` keeps the written order, for answers that form
a scale.
Numeric answers are never typed in: ``expr`` is evaluated with the public API of
``lessons_src`` (and ``log``, ``exp``, ``sqrt``, ``pi``) in scope, so every number a quiz
accepts is computed by the library the chapter teaches.

Taught in the introduction (book/intro.md, "How to read, run and quiz").
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Quiz", "QuizError", "load_quiz", "show_quiz"]

_CHOICE_TYPES = ("multiple_choice", "many_choice")
_TYPES = (*_CHOICE_TYPES, "numeric")
_QUESTION_KEYS = {
    "multiple_choice": {"id", "type", "question", "answers", "shuffle"},
    "many_choice": {"id", "type", "question", "answers", "shuffle"},
    "numeric": {"id", "type", "question", "expr", "decimals", "feedback", "mistakes",
                "default_feedback"},
}
_REQUIRED = {
    "multiple_choice": {"id", "type", "question", "answers"},
    "many_choice": {"id", "type", "question", "answers"},
    "numeric": {"id", "type", "question", "expr", "decimals", "feedback", "default_feedback"},
}


class QuizError(ValueError):
    """A quiz file that cannot be shown; the message names the file and the question."""


@dataclass(frozen=True)
class Quiz:
    """A validated quiz: its name (the file's stem), title and jupyterquiz questions."""

    name: str
    path: Path
    title: str | None
    questions: list[dict[str, Any]]

    @property
    def ids(self) -> list[str]:
        """The question ids, in order."""
        return [q["id"] for q in self.questions]


def _namespace() -> dict[str, Any]:
    import lessons_src

    names: dict[str, Any] = {n: getattr(lessons_src, n) for n in lessons_src.__all__}
    names.update(log=math.log, exp=math.exp, sqrt=math.sqrt, pi=math.pi, abs=abs, sum=sum,
                 min=min, max=max, float=float)
    return names


def _evaluate(expr: Any, where: str) -> float:
    if not isinstance(expr, str) or not expr.strip():
        raise QuizError(f"{where}: 'expr' must be a non-empty Python expression string")
    try:
        value = eval(expr, {"__builtins__": {}}, _namespace())
        value = float(value)
    except Exception as exc:  # any failure is the quiz file's fault: say where
        raise QuizError(f"{where}: cannot evaluate expr {expr!r}: {exc}") from exc
    if not math.isfinite(value):
        raise QuizError(f"{where}: expr {expr!r} gives {value}, not a finite number")
    return value


def _text(q: dict[str, Any], key: str, where: str) -> str:
    value = q.get(key)
    if not isinstance(value, str) or not value.strip():
        raise QuizError(f"{where}: '{key}' must be a non-empty string")
    return value.strip()


def _shuffled(items: list, *key: str) -> list:
    """The items in an order drawn from the quiz's name and the question's id: the same
    on every run and every page load, but not the order the author wrote them in."""
    digest = hashlib.sha256("\x00".join(key).encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    order = list(range(len(items)))
    while len(items) > 1 and order == list(range(len(items))):
        rng.shuffle(order)
    return [items[i] for i in order]


def _choice_question(q: dict[str, Any], where: str) -> dict[str, Any]:
    answers = q["answers"]
    if not isinstance(answers, list) or len(answers) < 2:
        raise QuizError(f"{where}: 'answers' must be a list of at least two answers")
    out = []
    for j, a in enumerate(answers, start=1):
        at = f"{where}, answer {j}"
        if not isinstance(a, dict):
            raise QuizError(f"{at}: must be a mapping with answer, correct, feedback")
        unknown = set(a) - {"answer", "correct", "feedback"}
        if unknown:
            raise QuizError(f"{at}: unknown key(s) {sorted(unknown)}")
        if not isinstance(a.get("correct"), bool):
            raise QuizError(f"{at}: 'correct' must be true or false")
        out.append({"answer": _text(a, "answer", at), "correct": a["correct"],
                    "feedback": _text(a, "feedback", at)})
    texts = [a["answer"] for a in out]
    if len(set(texts)) != len(texts):
        raise QuizError(f"{where}: two answers have the same text")
    n_correct = sum(a["correct"] for a in out)
    if q["type"] == "multiple_choice" and n_correct != 1:
        raise QuizError(f"{where}: a multiple_choice question needs exactly one correct "
                        f"answer, found {n_correct} (use many_choice for several)")
    if q["type"] == "many_choice" and n_correct < 2:
        raise QuizError(f"{where}: a many_choice question needs at least two correct "
                        f"answers, found {n_correct}")
    if not isinstance(q.get("shuffle", True), bool):
        raise QuizError(f"{where}: 'shuffle' must be true or false")
    return {"question": _text(q, "question", where), "type": q["type"], "answers": out}


def _numeric_question(q: dict[str, Any], where: str) -> dict[str, Any]:
    decimals = q["decimals"]
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 8:
        raise QuizError(f"{where}: 'decimals' must be an integer from 0 to 8")
    value = _evaluate(q["expr"], where)
    tol = 0.5 * 10.0**-decimals
    correct = [value - tol, value + tol]
    answers: list[dict[str, Any]] = [{
        "type": "range", "range": correct, "correct": True,
        "feedback": _text(q, "feedback", where),
    }]
    mistakes = q.get("mistakes", [])
    if not isinstance(mistakes, list):
        raise QuizError(f"{where}: 'mistakes' must be a list")
    for j, m in enumerate(mistakes, start=1):
        at = f"{where}, mistake {j}"
        if not isinstance(m, dict) or set(m) != {"expr", "feedback"}:
            raise QuizError(f"{at}: must have exactly the keys expr and feedback")
        wrong = _evaluate(m["expr"], at)
        if abs(wrong - value) < 2 * tol:
            raise QuizError(f"{at}: value {wrong:.6g} is within the accepted range of the "
                            f"correct answer {value:.6g}; it cannot be marked wrong")
        answers.append({"type": "range", "range": [wrong - tol, wrong + tol],
                        "correct": False, "feedback": _text(m, "feedback", at)})
    answers.append({"type": "default", "feedback": _text(q, "default_feedback", where)})
    return {"question": _text(q, "question", where), "type": "numeric", "answers": answers,
            "_value": value, "_decimals": decimals}


# jupyterquiz reads ``MathJax.version`` 500 ms after it renders. On the website MathJax
# loads asynchronously, and on a slow machine it is not ready by then (a console error,
# and the quiz's math stays raw), so the quiz starts once MathJax has started up. Pages
# without the site's MathJax (JupyterLab, a page with no math) start it at once.
_AFTER_MATHJAX = """(function () {
  function run() {
    // jupyterquiz typesets with MathJax 2's Hub or MathJax 3's typeset(). JupyterLab 4 has a
    // global MathJax with neither, and jupyterquiz would then fetch MathJax from a CDN and
    // throw on every answer; so the quiz sees only a MathJax it can use (quiz text has no TeX).
    var MathJax = window.MathJax && (window.MathJax.Hub || typeof window.MathJax.typeset
      === "function") ? window.MathJax : undefined;
/*QUIZ*/
  }
  if (!document.querySelector('script[src*="mathjax/tex-"]')) { run(); return; }
  var tries = 0;
  (function wait() {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      MathJax.startup.promise.then(run);
    } else if (++tries > 400) { run(); } else { setTimeout(wait, 50); }
  })();
})();
"""


def load_quiz(path: str | Path) -> Quiz:
    """Read and validate a quiz file; raise :class:`QuizError` naming the file and question.

    Parameters
    ----------
    path
        A ``.quiz.yml`` file (see the module docstring for its format).

    Returns
    -------
    Quiz
        The questions in jupyterquiz's format. Numeric questions also carry ``_value``
        (the answer computed from ``expr``) and ``_decimals``, which tests and the browser
        check use; :func:`show_quiz` strips them.

    Examples
    --------
    >>> quiz = load_quiz("book/01_definition.quiz.yml")  # doctest: +SKIP
    >>> quiz.ids[:2]  # doctest: +SKIP
    ['roles', 'coin-bits']
    """
    path = Path(path)
    if not path.is_file():
        raise QuizError(f"{path}: quiz file not found (looked in {Path.cwd()})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise QuizError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("questions"), list):
        raise QuizError(f"{path}: must be a mapping with a 'questions' list")
    unknown = set(data) - {"title", "questions"}
    if unknown:
        raise QuizError(f"{path}: unknown top-level key(s) {sorted(unknown)}")
    if not data["questions"]:
        raise QuizError(f"{path}: 'questions' is empty")
    title = data.get("title")
    if title is not None and not isinstance(title, str):
        raise QuizError(f"{path}: 'title' must be a string")

    questions, seen = [], set()
    for i, q in enumerate(data["questions"], start=1):
        qid = q.get("id") if isinstance(q, dict) else None
        where = f"{path}: question {i}" + (f" ({qid!r})" if qid else "")
        if not isinstance(q, dict):
            raise QuizError(f"{where}: must be a mapping")
        if not isinstance(qid, str) or not qid.strip():
            raise QuizError(f"{where}: needs a non-empty string 'id'")
        if qid in seen:
            raise QuizError(f"{where}: id {qid!r} is used twice")
        seen.add(qid)
        qtype = q.get("type")
        if qtype not in _TYPES:
            raise QuizError(f"{where}: 'type' must be one of {', '.join(_TYPES)}, "
                            f"got {qtype!r}")
        missing = _REQUIRED[qtype] - set(q)
        if missing:
            raise QuizError(f"{where}: missing key(s) {sorted(missing)}")
        extra = set(q) - _QUESTION_KEYS[qtype]
        if extra:
            raise QuizError(f"{where}: unknown key(s) {sorted(extra)} for a {qtype} question")
        built = (_choice_question if qtype in _CHOICE_TYPES else _numeric_question)(q, where)
        if qtype in _CHOICE_TYPES and q.get("shuffle", True):
            built["answers"] = _shuffled(built["answers"], path.name, qid)
        built["id"] = qid
        questions.append(built)
    return Quiz(name=path.name.removesuffix(".quiz.yml").removesuffix(".yml"), path=path,
                title=title, questions=questions)


def show_quiz(path: str | Path) -> None:
    """Validate a quiz file and display it with jupyterquiz, deterministically.

    The element ids jupyterquiz draws from Python's global ``random`` are seeded
    from the quiz's name, and the notebook's own ``random`` state is restored
    afterwards, so re-running the cell gives byte-identical output (nbval compares it)
    and does not disturb the chapter's random numbers.

    Parameters
    ----------
    path
        The chapter's quiz file, relative to the notebook's folder.

    Raises
    ------
    QuizError
        If the file is missing or malformed (the message names the file and question).
    """
    import jupyterquiz.dynamic.display as jq_display
    from IPython.display import Javascript, display

    quiz = load_quiz(path)
    public = [{k: v for k, v in q.items() if not k.startswith("_") and k != "id"}
              for q in quiz.questions]
    state = random.getstate()
    digest = hashlib.sha256(quiz.name.encode()).digest()
    random.seed(int.from_bytes(digest[:8], "big"))
    shown: list[Any] = []
    original = jq_display.display
    jq_display.display = shown.append  # collect jupyterquiz's HTML and script
    try:
        jq_display.display_quiz(public, shuffle_answers=False, max_width=720)
    finally:
        jq_display.display = original
        random.setstate(state)
    html, script = shown
    display(html)
    display(Javascript(_AFTER_MATHJAX.replace("/*QUIZ*/", script.data)))

