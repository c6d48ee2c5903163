// Moves a waiting page on by itself: polls the page's status URL
// (main[data-watch], same origin) and, once the person has answered on the
// phone, goes to main[data-next]. Without script the page's Continue
// button does the same.
(function () {
  "use strict";
  var main = document.querySelector("main[data-watch]");
  if (!main) return;
  var watch = main.getAttribute("data-watch"), next = main.getAttribute("data-next");
  var delay = 1500, gone = false;
  function poll() {
    if (gone) return;
    fetch(watch, { cache: "no-store", credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : { status: "pending" }; })
      .then(function (s) {
        if (s && s.status && s.status !== "pending") {
          gone = true;
          window.location.assign(next);
          return;
        }
        setTimeout(poll, delay);
      })
      .catch(function () { setTimeout(poll, delay * 2); });
  }
  setTimeout(poll, delay);
})();
