// Watchfloor login: posts the form as JSON to /api/v1/login, then goes to the page the
// user came from (?next=, a same-origin path only) or the console.
"use strict";

(function () {
  // safeNext accepts a relative path on this origin: "/..." but not "//host" or "/\host",
  // nothing with a scheme, no control characters.
  function safeNext(raw) {
    if (typeof raw !== "string" || raw.length === 0 || raw.length > 2048) return "/console";
    if (raw[0] !== "/" || raw[1] === "/" || raw[1] === "\\") return "/console";
    if (/[\u0000-\u001f\u007f\\]/.test(raw)) return "/console";
    try {
      var u = new URL(raw, window.location.origin);
      if (u.origin !== window.location.origin) return "/console";
      return u.pathname + u.search + u.hash;
    } catch (e) {
      return "/console";
    }
  }

  var base = new URL("./", window.location.href); // works behind a path prefix
  var form = document.getElementById("login");
  var errBox = document.getElementById("error");
  var submit = document.getElementById("submit");
  var next = safeNext(new URLSearchParams(window.location.search).get("next"));

  function showError(msg) {
    errBox.textContent = msg;
    errBox.hidden = false;
  }

  // Already logged in: go on.
  fetch(new URL("api/v1/session", base), { credentials: "same-origin", cache: "no-store" })
    .then(function (r) { if (r.ok) window.location.replace(next); })
    .catch(function () {});

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    errBox.hidden = true;
    var user = document.getElementById("user").value.trim();
    var pw = document.getElementById("password").value;
    if (!user || !pw) {
      showError("Enter your user name and password.");
      return;
    }
    submit.disabled = true;
    fetch(new URL("api/v1/login", base), {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user: user, password: pw })
    }).then(function (r) {
      if (r.ok) {
        return r.json().then(function (s) {
          try { sessionStorage.setItem("wf_csrf", s.csrf); } catch (e) {}
          window.location.replace(next);
        });
      }
      document.getElementById("password").value = "";
      if (r.status === 429) {
        var wait = parseInt(r.headers.get("Retry-After") || "0", 10);
        showError("Too many failed logins. Try again in " + Math.max(1, Math.ceil(wait / 60)) + " min.");
      } else if (r.status === 401) {
        showError("Wrong user name or password.");
      } else if (r.status === 404) {
        showError("This console has no local users yet: an admin creates them with \"watchfloor user add\".");
      } else {
        showError("Login failed (" + r.status + ").");
      }
    }).catch(function () {
      showError("The console cannot be reached.");
    }).then(function () {
      submit.disabled = false;
    });
  });

  window.watchfloorSafeNext = safeNext; // for tests
})();
