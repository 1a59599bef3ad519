/* Accessible names that match what a reader sees (linked from every page by
 * book/_ext/offline_site.py; checked by axe-core in tests/browser/test_a11y.py).
 *
 * The theme's search buttons say "Search Ctrl+K" but are labelled "Search", and the
 * folded solutions and code cells say "Solution to Exercise 1.1" or "Show code cell
 * source" but are labelled "Toggle hidden content". A speech-input user who says what
 * they see would miss them (WCAG 2.5.3, axe's label-content-name-mismatch). Without the
 * aria-label, the visible text is the accessible name.
 *
 * The bibliography is a role="list" whose entries have role="doc-biblioentry", a role
 * deprecated in DPUB-ARIA 1.1 that screen readers no longer expose as a list item (axe's
 * aria-required-children): the entries become list items.
 */
(function () {
  "use strict";
  var MISMATCHED = [
    'button.search-button__button[aria-label="Search"]',
    'summary[aria-label="Toggle hidden content"]',
    'button.toggle-button[aria-label="Toggle hidden content"]',
  ].join(", ");

  function relabel() {
    Array.prototype.forEach.call(document.querySelectorAll(MISMATCHED), function (el) {
      if (el.textContent.trim()) el.removeAttribute("aria-label");
    });
    var entries = document.querySelectorAll('[role="list"] > [role="doc-biblioentry"]');
    Array.prototype.forEach.call(entries, function (el) {
      el.setAttribute("role", "listitem");
    });
  }

  document.addEventListener("DOMContentLoaded", relabel);
  window.addEventListener("load", relabel);
  if (document.readyState !== "loading") relabel();
})();
