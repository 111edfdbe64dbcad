// Refreshes the ops page every 30 s while nobody is typing into one of its forms.
"use strict";
(function () {
  const PERIOD_MS = 30000;
  function busy() {
    const active = document.activeElement;
    if (active && (active.tagName === "INPUT" || active.tagName === "TEXTAREA")) return true;
    return Array.from(document.querySelectorAll("form.command input:not([type=hidden])"))
      .some((input) => input.value !== "");
  }
  window.setInterval(function () {
    if (!busy() && document.visibilityState === "visible") window.location.reload();
  }, PERIOD_MS);
})();
