// WAPTWUA console: small progressive enhancements. Every page works without them.
(function () {
  "use strict";

  // Content-Security-Policy violations are kept for the browser tests to read.
  window.waptwuaCSP = [];
  document.addEventListener("securitypolicyviolation", function (e) {
    window.waptwuaCSP.push(e.violatedDirective + " " + (e.blockedURI || ""));
  });

  // Filters apply as soon as a box is ticked or a choice made.
  document.addEventListener("change", function (e) {
    var el = e.target;
    if (el.classList && el.classList.contains("autosubmit") && el.form) {
      if (el.form.requestSubmit) { el.form.requestSubmit(); } else { el.form.submit(); }
    }
  });

  // "Select all" boxes tick every row of their table; the selection buttons are enabled
  // only while a row is ticked.
  function refresh(form) {
    if (!form) { return; }
    var any = form.querySelector("tbody input[type=checkbox]:checked") !== null;
    form.querySelectorAll(".sel-actions button").forEach(function (b) { b.disabled = !any; });
  }
  document.addEventListener("change", function (e) {
    var el = e.target;
    if (!el.matches || !el.matches("input[type=checkbox]")) { return; }
    var table = el.closest("table");
    if (el.classList.contains("check-all") && table) {
      table.querySelectorAll("tbody input[type=checkbox]").forEach(function (c) { c.checked = el.checked; });
    }
    refresh(el.form);
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form").forEach(refresh);
  });
})();
