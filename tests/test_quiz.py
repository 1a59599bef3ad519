"""lessons_src.quiz: quiz files are validated on load, and shown deterministically."""

from __future__ import annotations

import math
import random
import textwrap
from pathlib import Path

import pytest
import yaml

from lessons_src import QuizError, load_quiz, show_quiz

ROOT = Path(__file__).resolve().parent.parent
BOOK_QUIZZES = sorted((ROOT / "book").glob("*.quiz.yml"))

GOOD = """\
title: Check yourself
questions:
  - id: units
    type: multiple_choice
    question: Natural log gives
    answers:
      - {answer: nats, correct: true, feedback: Right.}
      - {answer: bits, correct: false, feedback: Bits need log base 2.}
  - id: both
    type: many_choice
    question: Which are divergences?
    answers:
      - {answer: KL, correct: true, feedback: Yes.}
      - {answer: JS, correct: true, feedback: Yes.}
      - {answer: Euclid, correct: false, feedback: That is a distance.}
  - id: coin
    type: numeric
    question: KL(P‖Q) for the coin?
    expr: kl_divergence([0.7, 0.3], [0.5, 0.5])
    decimals: 3
    feedback: Right.
    mistakes:
      - {expr: "kl_divergence([0.5, 0.5], [0.7, 0.3])", feedback: Other direction.}
    default_feedback: Not quite.
"""


def write(tmp_path: Path, text: str, name: str = "ch.quiz.yml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_good_quiz_loads_with_answers_computed_by_the_library(tmp_path):
    quiz = load_quiz(write(tmp_path, GOOD))
    assert quiz.name == "ch" and quiz.title == "Check yourself"
    assert quiz.ids == ["units", "both", "coin"]
    coin = quiz.questions[2]
    expected = 0.7 * math.log(0.7 / 0.5) + 0.3 * math.log(0.3 / 0.5)
    assert coin["_value"] == pytest.approx(expected, rel=1e-12)
    low, high = coin["answers"][0]["range"]
    assert low == pytest.approx(expected - 5e-4) and high == pytest.approx(expected + 5e-4)
    assert coin["answers"][0]["correct"] is True
    assert coin["answers"][1]["correct"] is False
    assert coin["answers"][-1] == {"type": "default", "feedback": "Not quite."}


BAD = {
    "missing key": ("- id: q\n  type: multiple_choice\n  question: x\n", "missing key"),
    "bad type": ("- id: q\n  type: essay\n  question: x\n", "'type' must be one of"),
    "no id": ("- type: numeric\n  question: x\n", "needs a non-empty string 'id'"),
    "two correct": ("""\
- id: q
  type: multiple_choice
  question: x
  answers:
    - {answer: a, correct: true, feedback: f}
    - {answer: b, correct: true, feedback: f}
""", "exactly one correct"),
    "no feedback": ("""\
- id: q
  type: multiple_choice
  question: x
  answers:
    - {answer: a, correct: true}
    - {answer: b, correct: false, feedback: f}
""", "'feedback' must be a non-empty string"),
    "bad expr": ("""\
- id: q
  type: numeric
  question: x
  expr: kl_divergence([0.7, 0.3])
  decimals: 2
  feedback: f
  default_feedback: g
""", "cannot evaluate expr"),
    "infinite expr": ("""\
- id: q
  type: numeric
  question: x
  expr: kl_divergence([0.5, 0.5], [1.0, 0.0])
  decimals: 2
  feedback: f
  default_feedback: g
""", "not a finite number"),
    "mistake equals answer": ("""\
- id: q
  type: numeric
  question: x
  expr: log(2)
  decimals: 2
  feedback: f
  mistakes:
    - {expr: "0.6935", feedback: m}
  default_feedback: g
""", "within the accepted range"),
    "unknown key": ("""\
- id: q
  type: numeric
  question: x
  expr: log(2)
  answer: 0.69
  decimals: 2
  feedback: f
  default_feedback: g
""", "unknown key"),
    "builtins are off": ("""\
- id: q
  type: numeric
  question: x
  expr: __import__('os').getpid()
  decimals: 0
  feedback: f
  default_feedback: g
""", "cannot evaluate expr"),
}


@pytest.mark.parametrize("case", BAD)
def test_malformed_quiz_names_file_and_question(tmp_path, case):
    body, message = BAD[case]
    path = write(tmp_path, "questions:\n" + textwrap.indent(body, "  "), "broken.quiz.yml")
    with pytest.raises(QuizError, match=message) as err:
        load_quiz(path)
    assert str(path) in str(err.value)
    assert "question 1" in str(err.value)


def test_duplicate_ids_and_file_level_errors(tmp_path):
    dup = GOOD.replace("id: both", "id: units")
    with pytest.raises(QuizError, match="id 'units' is used twice"):
        load_quiz(write(tmp_path, dup))
    with pytest.raises(QuizError, match="not valid YAML"):
        load_quiz(write(tmp_path, "questions: [\n"))
    with pytest.raises(QuizError, match="'questions' is empty"):
        load_quiz(write(tmp_path, "questions: []\n"))
    with pytest.raises(QuizError, match="quiz file not found"):
        load_quiz(tmp_path / "nope.quiz.yml")


def test_show_quiz_is_deterministic_and_leaves_random_alone(tmp_path, monkeypatch):
    shown: list[object] = []
    import IPython.display

    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    path = write(tmp_path, GOOD)
    random.seed(123)
    expected_next = random.random()
    random.seed(123)
    show_quiz(path)
    assert random.random() == expected_next, "show_quiz changed the global random state"
    first = [getattr(o, "data", None) for o in shown]
    shown.clear()
    show_quiz(path)
    second = [getattr(o, "data", None) for o in shown]
    assert first == second and len(first) == 2
    assert "_value" not in first[1] and "kl_divergence" not in first[1]
    # the quiz starts only once the site's MathJax is ready (a race on slow machines)
    assert "MathJax.startup.promise.then(run)" in first[1]


@pytest.mark.parametrize("path", BOOK_QUIZZES, ids=lambda p: p.name)
def test_book_quiz_is_complete(path):
    quiz = load_quiz(path)
    types = [q["type"] for q in quiz.questions]
    assert len(types) >= 5, f"{path}: a chapter quiz needs at least 5 questions"
    assert "numeric" in types, f"{path}: needs at least one numeric question"
    assert {"multiple_choice", "many_choice"} & set(types), f"{path}: needs a choice question"
    for q in quiz.questions:
        if q["type"] == "numeric":  # the accepted range really contains the library's value
            low, high = q["answers"][0]["range"]
            assert low < q["_value"] < high



def test_choice_answers_are_reordered_reproducibly(tmp_path):
    path = write(tmp_path, GOOD)
    quiz = load_quiz(path)
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    same_name = load_quiz(write(elsewhere, GOOD))  # same file name, other folder
    assert quiz.questions == same_name.questions == load_quiz(path.resolve()).questions
    source = yaml.safe_load(GOOD)["questions"]
    for i, q in enumerate(quiz.questions[:2]):
        written = [a["answer"] for a in source[i]["answers"]]
        shown = [a["answer"] for a in q["answers"]]
        assert sorted(shown) == sorted(written) and shown != written
    fixed = GOOD.replace("    type: multiple_choice\n",
                         "    type: multiple_choice\n    shuffle: false\n")
    kept = load_quiz(write(tmp_path, fixed))
    assert [a["answer"] for a in kept.questions[0]["answers"]] == ["nats", "bits"]
