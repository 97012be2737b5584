// 402claw portal behaviour that htmx does not cover. No inline scripts: the
// CSP forbids them, so every hook lives here.
(function () {
  "use strict";
  // A page that answers a plain form's POST (a failed form, re-rendered with its
  // message) names the GET address of its tab: show that address, and make a
  // reload a GET instead of a resubmission.
  var replaceURL = document.body && document.body.getAttribute("data-replace-url");
  if (replaceURL && window.history.replaceState) window.history.replaceState(null, "", replaceURL);
  // htmx 2 does not swap 4xx/5xx answers; show their message in the flash area.
  document.addEventListener("htmx:responseError", function (e) {
    var area = document.getElementById("flash");
    if (!area) return;
    var xhr = e.detail.xhr;
    var box = document.createElement("div");
    box.className = "flash error";
    var tmp = document.createElement("div");
    tmp.innerHTML = xhr.responseText || "";
    box.textContent = (tmp.textContent || "").trim() || ("The request failed (" + xhr.status + ").");
    area.replaceChildren(box);
  });
  document.addEventListener("htmx:sendError", function () {
    var area = document.getElementById("flash");
    if (!area) return;
    var box = document.createElement("div");
    box.className = "flash error";
    box.textContent = "The portal could not be reached. Check your connection and try again.";
    area.replaceChildren(box);
  });
  // While a request runs, the buttons that sent it are disabled and marked
  // busy (CSS draws a spinner): no double submits, and the user sees the wait.
  function busyButtons(elt) {
    if (!elt || !elt.tagName) return [];
    if (elt.tagName === "FORM") return Array.prototype.slice.call(elt.querySelectorAll("button, input[type=submit]"));
    if (elt.tagName === "BUTTON") return [elt];
    return [];
  }
  function setBusy(buttons, on) {
    buttons.forEach(function (b) {
      b.disabled = on;
      if (on) b.setAttribute("aria-busy", "true"); else b.removeAttribute("aria-busy");
    });
  }
  document.addEventListener("htmx:beforeRequest", function (e) {
    var buttons = busyButtons(e.detail.elt);
    e.detail.elt.__busy = buttons.filter(function (b) { return !b.disabled; });
    setBusy(e.detail.elt.__busy, true);
  });
  document.addEventListener("htmx:afterRequest", function (e) {
    if (e.detail.elt.__busy) setBusy(e.detail.elt.__busy, false);
    e.detail.elt.__busy = null;
  });
  // Plain forms (full page loads): disable after the browser has read the
  // submitter, and undo it when the page comes back from the back/forward cache.
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (e.defaultPrevented || form.hasAttribute("hx-post") || form.hasAttribute("hx-put") || form.hasAttribute("hx-get")) return;
    // data-confirm="…" on a plain form: ask first (htmx forms use hx-confirm).
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { e.preventDefault(); return; }
    if (form.__submitting) { e.preventDefault(); return; }
    form.__submitting = true;
    setTimeout(function () { setBusy(busyButtons(form).filter(function (b) { return !b.disabled; }), true); }, 0);
  });
  window.addEventListener("pageshow", function (e) {
    if (!e.persisted) return;
    document.querySelectorAll("form").forEach(function (f) { f.__submitting = false; });
    setBusy(Array.prototype.slice.call(document.querySelectorAll("button[aria-busy=true]")), false);
  });
  // A card or table that scrolls sideways (phones) must be reachable by
  // keyboard: when nothing inside it can take focus, it takes focus itself.
  function markScrollers() {
    document.querySelectorAll(".card, .table").forEach(function (el) {
      var scrolls = el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX === "auto";
      if (scrolls && !el.hasAttribute("tabindex") && !el.querySelector("a[href], button, input, select, textarea, [tabindex]")) {
        el.tabIndex = 0;
        el.setAttribute("data-scroll-focus", "");
      } else if (!scrolls && el.hasAttribute("data-scroll-focus")) {
        el.removeAttribute("tabindex");
        el.removeAttribute("data-scroll-focus");
      }
    });
  }
  document.addEventListener("DOMContentLoaded", markScrollers);
  document.addEventListener("htmx:afterSettle", markScrollers);
  window.addEventListener("resize", markScrollers);
  // Copy buttons: <button data-copy="#id">.
  document.addEventListener("click", function (e) {
    var btn = e.target.closest("[data-copy]");
    if (!btn) return;
    var el = document.querySelector(btn.getAttribute("data-copy"));
    if (el && navigator.clipboard) {
      navigator.clipboard.writeText(el.textContent.trim()).then(
        function () { btn.textContent = "Copied"; },
        function () { btn.textContent = "Copy failed: select the text"; }
      );
    }
  });
})();
