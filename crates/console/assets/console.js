// Curatore console: the little that needs script (no inline script is
// allowed by the page's Content-Security-Policy). Everything else is plain
// HTML enhanced by htmx.
(function () {
  "use strict";
  // Copy buttons: <button data-copy="id-of-element">.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      button.textContent = "Copied";
    });
  });
  // Confirmations: <form data-confirm="Really?">.
  document.addEventListener("submit", function (event) {
    var form = event.target.closest("[data-confirm]");
    if (form && !window.confirm(form.getAttribute("data-confirm"))) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);
  // Report CSP violations where the browser tests can see them.
  document.addEventListener("securitypolicyviolation", function (event) {
    document.documentElement.setAttribute("data-csp-violation", event.violatedDirective);
  });
})();
