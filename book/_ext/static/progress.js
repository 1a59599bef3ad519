/* Quiz progress and keyboard support for the course's quizzes.
 *
 * Linked from every page by book/_ext/offline_site.py. It builds on the DOM that
 * jupyterquiz renders (it does not replace any of jupyterquiz's code):
 *   - each question is a `.Quiz` element; its `.Feedback` element gets the class
 *     `correct` or `incorrect` when the reader answers;
 *   - multiple-choice answers are `<label class="MCButton">` elements wrapping a radio.
 *
 * What it adds:
 *   - a score line above each chapter's quiz ("3 of 8 correct"), announced to screen
 *     readers, with a button that resets the chapter's quiz;
 *   - the score is kept in the browser's localStorage (key KL_PROGRESS_KEY) and survives a
 *     reload; nothing is sent anywhere;
 *   - the "Your progress" page (an element #kl-progress) lists every chapter's score from
 *     _static/quiz-manifest.js, written at build time, with a button that resets it all;
 *   - keyboard use: Tab reaches an answer, Enter (or Space) chooses it, and feedback is a
 *     polite live region, so screen readers announce it.
 *
 * A question's score is the reader's latest answer to it: right after a wrong answer counts
 * as right, wrong after a right one counts as wrong.
 */
(function () {
  "use strict";

  var KEY = "kl-course/quiz-progress/v1";
  window.KL_PROGRESS_KEY = KEY;

  /* ---- storage: {doc: {questionIndex: true|false}} --------------------------------- */
  function load() {
    try {
      var data = JSON.parse(window.localStorage.getItem(KEY) || "{}");
      return data && typeof data === "object" ? data : {};
    } catch (e) {
      return {};
    }
  }

  function save(data) {
    try {
      window.localStorage.setItem(KEY, JSON.stringify(data));
    } catch (e) {
      /* Storage disabled (e.g. a private window): the score still shows for this visit. */
    }
  }

  function pageDoc() {
    var meta = document.querySelector('meta[name="kl-doc"]');
    return meta ? meta.getAttribute("content") : null;
  }

  function rootUrl() {
    var root = document.documentElement.getAttribute("data-content_root");
    return root === null ? "" : root;
  }

  /* ---- reading jupyterquiz's DOM ---------------------------------------------------- */
  function questions() {
    return Array.prototype.slice.call(document.querySelectorAll(".Quiz"));
  }

  /* true (right), false (wrong) or null (not answered on this visit). */
  function domState(quiz) {
    var fb = quiz.querySelector(".Feedback");
    if (!fb) return null;
    if (fb.classList.contains("incorrect")) return false;
    if (!fb.classList.contains("correct")) return null;
    var needed = Number(fb.dataset.numcorrect || 1);
    if (needed > 1) {
      /* Many-choice: right once every correct answer has been picked. */
      return Number(fb.dataset.answeredcorrect || 0) >= needed;
    }
    return true;
  }

  /* ---- the score line on a chapter page -------------------------------------------- */
  var doc = pageDoc();
  var box = null;

  function scoreText(right, total) {
    return right + " of " + total + " correct";
  }

  function makeBox(first) {
    box = document.createElement("div");
    box.className = "kl-quiz-score";
    var text = document.createElement("p");
    text.className = "kl-quiz-score-text";
    text.setAttribute("role", "status");
    text.setAttribute("aria-live", "polite");
    var reset = document.createElement("button");
    reset.type = "button";
    reset.className = "kl-quiz-reset";
    reset.textContent = "Reset this quiz";
    reset.addEventListener("click", resetChapter);
    var link = document.createElement("a");
    link.className = "kl-quiz-all";
    link.href = rootUrl() + "book/progress.html";
    link.textContent = "All chapters";
    box.appendChild(text);
    box.appendChild(reset);
    box.appendChild(link);
    /* Above the quiz: before the container jupyterquiz renders its questions into. */
    var container = first.parentNode;
    container.parentNode.insertBefore(box, container);
  }

  function enhance(quiz, index) {
    if (quiz.dataset.klIndex !== undefined) return;
    quiz.dataset.klIndex = String(index);
    var fb = quiz.querySelector(".Feedback");
    if (fb) {
      fb.setAttribute("role", "status");
      fb.setAttribute("aria-live", "polite");
    }
    var prompt = quiz.querySelector("[id^='quizQn']");
    var promptText = prompt ? prompt.textContent.trim() : "Quiz question";
    Array.prototype.forEach.call(quiz.querySelectorAll("label.MCButton"), function (label) {
      var radio = label.querySelector("input");
      if (!radio) return;
      radio.addEventListener("keydown", function (event) {
        if (event.key === "Enter") {
          event.preventDefault();
          radio.click(); /* the click bubbles to the label, where jupyterquiz listens */
        }
      });
    });
    Array.prototype.forEach.call(quiz.querySelectorAll("input.Input-text"), function (input) {
      input.setAttribute("aria-label", promptText + " Type a number and press Enter.");
      input.setAttribute("inputmode", "decimal");
    });
    var group = quiz.querySelector(".MultipleChoiceQn, .ManyChoiceQn, .NumericQn");
    if (group) {
      group.setAttribute("role", "group");
      if (prompt) {
        prompt.id = prompt.id || "kl-q-" + index;
        group.setAttribute("aria-labelledby", prompt.id);
      }
    }
  }

  function previousNote(quiz, stored) {
    var note = quiz.querySelector(".kl-quiz-previous");
    if (stored === undefined || stored === null || domState(quiz) !== null) {
      if (note) note.remove();
      return;
    }
    if (!note) {
      note = document.createElement("p");
      note.className = "kl-quiz-previous";
      quiz.appendChild(note);
    }
    var text = stored ? "You answered this correctly on an earlier visit."
                      : "Your last answer on an earlier visit was not right.";
    if (note.textContent !== text) note.textContent = text;
    note.classList.toggle("kl-right", !!stored);
  }

  function update() {
    var qs = questions();
    if (!qs.length || !doc) return;
    qs.forEach(enhance);
    if (!box || !document.body.contains(box)) makeBox(qs[0]);
    var data = load();
    var mine = data[doc] || {};
    var changed = false;
    var right = 0;
    qs.forEach(function (quiz, i) {
      var now = domState(quiz);
      if (now !== null && mine[i] !== now) {
        mine[i] = now;
        changed = true;
      }
      if (mine[i] === true) right += 1;
      previousNote(quiz, mine[i]);
    });
    if (changed) {
      data[doc] = mine;
      save(data);
    }
    var text = box.querySelector(".kl-quiz-score-text");
    var message = "Your score: " + scoreText(right, qs.length);
    if (text.textContent !== message) text.textContent = message;
    box.dataset.right = String(right);
    box.dataset.total = String(qs.length);
  }

  function resetChapter() {
    var data = load();
    delete data[doc];
    save(data);
    questions().forEach(function (quiz) {
      var fb = quiz.querySelector(".Feedback");
      if (fb) {
        fb.className = "Feedback";
        fb.innerHTML = "";
        if (fb.dataset.answeredcorrect !== undefined) fb.dataset.answeredcorrect = "0";
      }
      Array.prototype.forEach.call(quiz.querySelectorAll(".MCButton"), function (label) {
        label.className = "MCButton";
        label.dataset.answered = "0";
        var radio = label.querySelector("input");
        if (radio) radio.checked = false;
      });
      Array.prototype.forEach.call(quiz.querySelectorAll("input.Input-text"), function (input) {
        input.className = "Input-text";
        input.value = "";
      });
    });
    update();
  }

  /* ---- the "Your progress" page ---------------------------------------------------- */
  function progressPage(el) {
    var chapters = window.KL_QUIZZES || [];
    var data = load();
    var table = document.createElement("table");
    table.className = "kl-progress-table table";
    var head = table.createTHead().insertRow();
    ["Chapter", "Quiz score", ""].forEach(function (h) {
      var th = document.createElement("th");
      th.scope = "col";
      th.textContent = h;
      head.appendChild(th);
    });
    var body = table.createTBody();
    var right = 0;
    var total = 0;
    chapters.forEach(function (ch) {
      var mine = data[ch.doc] || {};
      var n = 0;
      for (var i = 0; i < ch.questions; i += 1) if (mine[i] === true) n += 1;
      right += n;
      total += ch.questions;
      var row = body.insertRow();
      row.dataset.doc = ch.doc;
      var link = document.createElement("a");
      link.href = rootUrl() + ch.doc + ".html";
      link.textContent = ch.title;
      row.insertCell().appendChild(link);
      row.insertCell().textContent = scoreText(n, ch.questions);
      var bar = document.createElement("progress");
      bar.max = ch.questions;
      bar.value = n;
      bar.setAttribute("aria-label", ch.title + ": " + scoreText(n, ch.questions));
      row.insertCell().appendChild(bar);
    });
    var summary = document.createElement("p");
    summary.className = "kl-progress-total";
    summary.textContent = chapters.length
      ? "All chapters: " + scoreText(right, total) + "."
      : "No quizzes were found in this build.";
    var reset = document.createElement("button");
    reset.type = "button";
    reset.className = "kl-quiz-reset";
    reset.textContent = "Reset all progress";
    reset.addEventListener("click", function () {
      try {
        window.localStorage.removeItem(KEY);
      } catch (e) { /* nothing stored */ }
      progressPage(el);
    });
    el.replaceChildren(summary, table, reset);
  }

  function start() {
    var page = document.getElementById("kl-progress");
    if (page) progressPage(page);
    if (!doc) return;
    update();
    var pending = false;
    new MutationObserver(function () {
      if (pending) return;
      pending = true;
      window.requestAnimationFrame(function () {
        pending = false;
        update();
      });
    }).observe(document.body, {
      subtree: true, childList: true, attributes: true, attributeFilter: ["class"],
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
