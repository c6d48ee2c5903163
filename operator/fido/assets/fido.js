// The passkey pages' script (operator/fido): no inline script, served from
// the node's own origin. #fido[data-mode] says which ceremony:
//   login:    fetch the options, navigator.credentials.get, post the
//             assertion, then submit #fido-done back to the gateway;
//   phone:    the request went to the phone: poll data-status until the
//             challenge is over, then submit #fido-done; the button still
//             runs this device's login;
//   register: post for a ceremony, navigator.credentials.create, post the
//             attestation, then reload the list.
// Texts are the page's (elements [data-msg], shown one at a time).
(function () {
  "use strict";
  var root = document.getElementById("fido");
  if (!root) return;
  var mode = root.getAttribute("data-mode");
  var start = document.getElementById("fido-start");
  var again = document.getElementById("fido-again");

  function show(id) {
    var msgs = root.querySelectorAll("[data-msg]");
    for (var i = 0; i < msgs.length; i++) msgs[i].hidden = msgs[i].id !== id;
  }
  function busy(on) {
    start.disabled = on;
    again.style.display = on ? "none" : "";
  }
  function fromB64u(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function toB64u(buf) {
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function descriptors(list) {
    return (list || []).map(function (d) {
      var o = { type: d.type, id: fromB64u(d.id) };
      if (d.transports) o.transports = d.transports;
      return o;
    });
  }
  // The credential as go-webauthn reads it (WebAuthn's toJSON form).
  function credentialJSON(c) {
    var r = c.response, out = {
      id: c.id, rawId: toB64u(c.rawId), type: c.type,
      clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
      response: { clientDataJSON: toB64u(r.clientDataJSON) }
    };
    if (c.authenticatorAttachment) out.authenticatorAttachment = c.authenticatorAttachment;
    if (r.attestationObject) {
      out.response.attestationObject = toB64u(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    } else {
      out.response.authenticatorData = toB64u(r.authenticatorData);
      out.response.signature = toB64u(r.signature);
      if (r.userHandle) out.response.userHandle = toB64u(r.userHandle);
    }
    return out;
  }
  function postJSON(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body)
    });
  }
  // problem+json "type" ends in fido-over: the ceremony is over, the
  // gateway (login) or a reload (register) says what next.
  function problemType(res) {
    return res.json().then(function (p) { return (p && p.type) || ""; }, function () { return ""; });
  }
  function failed(e) {
    show(e && e.name === "NotAllowedError" ? "fido-cancelled" : "fido-refused");
    busy(false);
  }

  function login() {
    busy(true);
    show("fido-working");
    fetch(root.getAttribute("data-options"), { credentials: "same-origin", cache: "no-store" })
      .then(function (res) {
        if (!res.ok) throw { over: true };
        return res.json();
      })
      .then(function (o) {
        var pk = o.publicKey;
        pk.challenge = fromB64u(pk.challenge);
        pk.allowCredentials = descriptors(pk.allowCredentials);
        return navigator.credentials.get({ publicKey: pk });
      })
      .then(function (cred) { return postJSON(root.getAttribute("data-finish"), credentialJSON(cred)); })
      .then(function (res) {
        if (res.ok) { show("fido-ok"); throw { over: true }; }
        return problemType(res).then(function (t) {
          if (/fido-over$/.test(t)) throw { over: true };
          show("fido-refused");
          busy(false);
        });
      })
      .catch(function (e) {
        if (e && e.over) {
          document.getElementById("fido-done").submit(); // the gateway decides
          return;
        }
        failed(e);
      });
  }

  function register() {
    busy(true);
    show("fido-working");
    var ceremony;
    postJSON(root.getAttribute("data-begin"), {})
      .then(function (res) {
        if (!res.ok) throw { refused: true };
        return res.json();
      })
      .then(function (c) {
        ceremony = c.ceremony;
        var pk = c.options.publicKey;
        pk.challenge = fromB64u(pk.challenge);
        pk.user.id = fromB64u(pk.user.id);
        pk.excludeCredentials = descriptors(pk.excludeCredentials);
        return navigator.credentials.create({ publicKey: pk });
      })
      .then(function (cred) {
        return postJSON(root.getAttribute("data-finish") + "?r=" + encodeURIComponent(ceremony), credentialJSON(cred));
      })
      .then(function (res) {
        if (!res.ok) throw { refused: true };
        window.location.assign(root.getAttribute("data-next") + "?done=added");
      })
      .catch(function (e) {
        if (e && e.name === "InvalidStateError") e = { refused: true }; // excluded: registered already
        failed(e);
      });
  }

  // phone: the request went to the person's phone; wait for its answer
  // (the gateway decides once the challenge is over). This device's
  // passkey stays offered.
  function waitForPhone() {
    fetch(root.getAttribute("data-status"), { credentials: "same-origin", cache: "no-store" })
      .then(function (res) { return res.ok ? res.json() : { status: "over" }; })
      .then(function (s) {
        if (s.status === "pending") { setTimeout(waitForPhone, 1000); return; }
        document.getElementById("fido-done").submit();
      }, function () { setTimeout(waitForPhone, 2000); });
  }
  if (mode === "phone") waitForPhone();

  if (!window.PublicKeyCredential || !navigator.credentials) {
    if (mode === "phone") { again.style.display = "none"; return; }
    show("fido-unsupported");
    again.style.display = "none";
    return;
  }
  if (mode === "login") {
    start.addEventListener("click", login);
    login(); // at once: the person came here to use it
  } else if (mode === "phone") {
    start.addEventListener("click", login);
  } else if (mode === "register") {
    start.addEventListener("click", register);
  }
})();
