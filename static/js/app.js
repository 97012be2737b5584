// 402claw portal behaviour that htmx does not cover. No inline scripts: the
// CSP forbids them, so every hook lives here.
(function () {
  "use strict";
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
  // Copy buttons: <button data-copy="#id">.
  document.addEventListener("click", function (e) {
    var btn = e.target.closest("[data-copy]");
    if (!btn) return;
    var el = document.querySelector(btn.getAttribute("data-copy"));
    if (el && navigator.clipboard) {
      navigator.clipboard.writeText(el.textContent.trim()).then(function () { btn.textContent = "Copied"; });
    }
  });
})();
