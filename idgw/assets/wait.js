// Moves a waiting page on by itself: polls the page's status URL
// (main[data-watch], same origin) and, once the person has answered on the
// phone, goes to main[data-next]. Without script the page's Continue
// button does the same. A form the person submits (the code typed) owns
// the navigation from then on: a poll that answers after it must not send
// the browser elsewhere, which would cancel the form's own navigation and
// land on a session that the form has already moved on.
(function () {
  "use strict";
  var main = document.querySelector("main[data-watch]");
  if (!main) return;
  var watch = main.getAttribute("data-watch"), next = main.getAttribute("data-next");
  var delay = 1500, gone = false;
  document.addEventListener("submit", function () { gone = true; }, true);
  function poll() {
    if (gone) return;
    fetch(watch, { cache: "no-store", credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : { status: "pending" }; })
      .then(function (s) {
        if (gone) return;
        if (s && s.status && s.status !== "pending") {
          gone = true;
          window.location.assign(next);
          return;
        }
        setTimeout(poll, delay);
      })
      .catch(function () { if (!gone) setTimeout(poll, delay * 2); });
  }
  setTimeout(poll, delay);
})();
