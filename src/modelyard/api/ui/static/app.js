/* Modelyard's pages: every action is a call to the API (/api/v1), sent with the
   session's CSRF token (kept, readable by this origin only, in the modelyard_csrf
   cookie at sign-in); the API checks the role again. */
(function () {
  "use strict";
  var API = "/api/v1";

  function csrf() {
    var m = document.cookie.match(/(?:^|; )modelyard_csrf=([^;]*)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  /* Call the API: resolves to the parsed answer (null when empty); rejects with an
     Error whose message is the API's (and .code, .field, .status). */
  function api(method, path, body) {
    var headers = { "X-CSRF-Token": csrf() };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(API + path, {
      method: method,
      headers: headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(function (answer) {
      return answer.text().then(function (text) {
        var data = text ? JSON.parse(text) : null;
        if (!answer.ok) {
          var e = (data && data.error) || { message: answer.statusText };
          var err = new Error(e.message);
          err.code = e.code; err.field = e.field; err.status = answer.status;
          throw err;
        }
        return data;
      });
    });
  }

  function showError(where, err) {
    if (where) { where.textContent = err.message; where.hidden = false; }
  }

  /* <form data-api="POST /projects/p/..." data-then="reload|URL">: its named fields as a
     JSON object (numbers for type=number, booleans for checkboxes); the answer reloads
     the page or goes to data-then; an error shows in the form's [data-error]. */
  function wireApiForms(root) {
    root.querySelectorAll("form[data-api]").forEach(function (form) {
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        var spec = form.getAttribute("data-api").split(" ");
        var body = {};
        Array.prototype.forEach.call(form.elements, function (el) {
          if (!el.name || el.disabled) return;
          if (el.type === "checkbox") body[el.name] = el.checked;
          else if (el.type === "number") body[el.name] = el.value === "" ? null : Number(el.value);
          else body[el.name] = el.value;
        });
        var errorBox = form.querySelector("[data-error]");
        var sent = form.hasAttribute("data-no-body") ? undefined : body;
        api(spec[0], spec[1], sent).then(function (answer) {
          var then = form.getAttribute("data-then") || "reload";
          if (then === "reload") window.location.reload();
          else window.location.assign(then);
        }, function (err) { showError(errorBox, err); });
      });
    });
  }

  function wireSignIn() {
    var form = document.getElementById("signin");
    if (!form) return;
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var body = { username: form.username.value, password: form.password.value };
      if (form.code.value) body.totp_code = form.code.value;
      var errorBox = document.getElementById("signin-error");
      errorBox.textContent = "";
      api("POST", "/auth/login", body).then(function (answer) {
        var age = Math.max(0, Math.floor((answer.expires_at - Date.now()) / 1000));
        document.cookie = "modelyard_csrf=" + encodeURIComponent(answer.csrf_token) +
          "; path=/; max-age=" + age + "; SameSite=Strict" +
          (location.protocol === "https:" ? "; Secure" : "");
        window.location.assign(form.getAttribute("data-next") || "/");
      }, function (err) {
        if (err.code === "mfa_required") {
          document.getElementById("code-row").hidden = false;
          form.code.focus();
        }
        showError(errorBox, err);
      });
    });
  }

  function wireSignOut() {
    document.querySelectorAll("[data-signout]").forEach(function (button) {
      button.addEventListener("click", function () {
        var gone = function () {
          document.cookie = "modelyard_csrf=; path=/; max-age=0; SameSite=Strict";
          window.location.assign("/signin");
        };
        api("POST", "/auth/logout").then(gone, gone);
      });
    });
  }

  function wireRunDeletion() {
    document.querySelectorAll("[data-delete-runs]").forEach(function (button) {
      button.addEventListener("click", function () {
        var ids = Array.prototype.map.call(
          document.querySelectorAll("#runs input[name=runs]:checked"),
          function (box) { return box.value; });
        if (!ids.length || !window.confirm("Delete " + ids.length + " run(s)? They can be restored.")) return;
        Promise.all(ids.map(function (id) { return api("DELETE", "/runs/" + encodeURIComponent(id)); }))
          .then(function () { window.location.reload(); },
                function (err) { window.alert(err.message); });
      });
    });
  }

  window.modelyard = { api: api, csrf: csrf, wireApiForms: wireApiForms };
  document.addEventListener("DOMContentLoaded", function () {
    wireSignIn();
    wireSignOut();
    wireRunDeletion();
    wireApiForms(document);
  });
})();
