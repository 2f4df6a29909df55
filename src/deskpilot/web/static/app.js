// Deskpilot's small page script: CSRF for htmx requests, keyboard shortcuts, live refresh by SSE.
// Pages work without it (forms post normally); it only makes them quicker to use.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // htmx sends the session's CSRF token as a header on every request it makes.
  document.addEventListener("htmx:configRequest", function (event) {
    var token = csrfToken();
    if (token) event.detail.headers["X-CSRF-Token"] = token;
  });

  // Keyboard shortcuts. An element with data-shortcut="r" is clicked (or focused, for inputs)
  // when r is pressed outside a text field. Lists with data-nav-list get j/k row movement;
  // their rows carry data-nav-row and a link, which Enter follows.
  function typing(target) {
    if (!target) return false;
    var tag = target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
  }

  function moveSelection(step) {
    var list = document.querySelector("[data-nav-list]");
    if (!list) return false;
    var rows = Array.prototype.slice.call(list.querySelectorAll("[data-nav-row]"));
    if (!rows.length) return false;
    var current = rows.findIndex(function (row) { return row.classList.contains("is-selected"); });
    var next = Math.max(0, Math.min(rows.length - 1, current + step));
    if (current === -1) next = 0;
    rows.forEach(function (row) { row.classList.remove("is-selected"); row.removeAttribute("aria-selected"); });
    rows[next].classList.add("is-selected");
    rows[next].setAttribute("aria-selected", "true");
    var focusTarget = rows[next].querySelector("a") || rows[next];
    focusTarget.focus({ preventScroll: false });
    return true;
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape" && typing(event.target)) { event.target.blur(); return; }
    if (typing(event.target)) return;
    var key = event.key;
    if ((key === "j" || key === "k") && moveSelection(key === "j" ? 1 : -1)) {
      event.preventDefault();
      return;
    }
    var target = document.querySelector('[data-shortcut="' + (key === "/" ? "slash" : key) + '"]');
    if (!target) return;
    event.preventDefault();
    if (typing(target)) { target.focus(); if (target.select) target.select(); }
    else target.click();
  });

  // Live updates: an element with data-sse-url listens to that event stream and, on each
  // event, asks htmx to refresh the element named by data-sse-refresh (its own hx-get).
  function connect(el) {
    if (el._deskpilotSource || !window.EventSource) return;
    var source = new EventSource(el.getAttribute("data-sse-url"));
    el._deskpilotSource = source;
    source.onmessage = function () {
      var selector = el.getAttribute("data-sse-refresh");
      var targets = selector ? document.querySelectorAll(selector) : [el];
      targets.forEach(function (target) {
        if (window.htmx) window.htmx.trigger(target, "sse:refresh");
      });
    };
  }

  function wire(root) {
    (root || document).querySelectorAll("[data-sse-url]").forEach(connect);
  }

  document.addEventListener("DOMContentLoaded", function () { wire(document); });
  document.addEventListener("htmx:load", function (event) { wire(event.target); });

  // Buttons with data-confirm ask before their form submits.
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-confirm]") : null;
    if (button && !window.confirm(button.getAttribute("data-confirm"))) event.preventDefault();
  });

  window.deskpilot = { csrfToken: csrfToken, wire: wire };
})();
