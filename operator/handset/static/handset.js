// The handset's page updates itself: every few seconds it asks for itself
// again and reloads when what it shows has changed (a new message, a tap's
// result, a code that expired), as a phone's inbox does. Without script, a
// <noscript> refresh does the same less gently.
(function () {
  "use strict";
  var body = document.body;
  var state = body.getAttribute("data-state");
  var every = 1000 * Number(body.getAttribute("data-refresh") || "2");
  function look() {
    fetch(location.href, { cache: "no-store", credentials: "same-origin" })
      .then(function (r) { return r.text(); })
      .then(function (page) {
        var m = /data-state="([^"]*)"/.exec(page);
        if (m && m[1] !== state) {
          location.reload();
        } else {
          setTimeout(look, every);
        }
      }, function () { setTimeout(look, every * 5); });
  }
  setTimeout(look, every);
})();
