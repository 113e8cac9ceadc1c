// Progressive enhancement only: every page works without this file.
// On the request form it keeps the "Can this be filled?" panel up to date as the person types.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("request-form");
    var panel = document.getElementById("feasibility");
    var summary = document.getElementById("error-summary");
    if (summary) { summary.focus(); }
    if (!form || !panel) { return; }
    var timer = null;
    var latest = 0;
    function refresh() {
      var body = new URLSearchParams(new FormData(form));
      body.delete("action");
      var ticket = ++latest;
      panel.setAttribute("aria-busy", "true");
      fetch(panel.dataset.url, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: { "Content-Type": "application/x-www-form-urlencoded" }
      }).then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.text();
      }).then(function (html) {
        if (ticket === latest) { panel.innerHTML = html; }
      }).catch(function () { /* the "Check now" button still works */ })
        .finally(function () { if (ticket === latest) { panel.removeAttribute("aria-busy"); } });
    }
    function later() {
      window.clearTimeout(timer);
      timer = window.setTimeout(refresh, 400);
    }
    form.addEventListener("change", later);
    form.addEventListener("input", later);
    refresh();
  });
})();
