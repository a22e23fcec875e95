/* The account, users and members pages: MFA enrolment, tokens, user administration and
   project roles, each a call to the API (window.modelyard.api); the API checks again. */
(function () {
  "use strict";
  var my = window.modelyard;

  /* A form's named fields as a JSON body: checkboxes as booleans, numbers as numbers,
     empty fields left out. */
  function fields(form) {
    var body = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.disabled) return;
      if (el.type === "checkbox") body[el.name] = el.checked;
      else if (el.value === "") return;
      else if (el.type === "number") body[el.name] = Number(el.value);
      else body[el.name] = el.value;
    });
    return body;
  }

  function shown(box) {
    return function (err) { box.textContent = err.message; };
  }

  function onSubmit(id, send) {
    var form = document.getElementById(id);
    if (!form) return;
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var box = form.querySelector("[data-error]");
      box.textContent = "";
      send(form, fields(form)).catch(shown(box));
    });
  }

  function reload() { window.location.reload(); }

  /* MFA: start an enrolment, then show its QR code, address and recovery codes once. */
  onSubmit("mfa-enrol", function (form, body) {
    return my.api("POST", "/auth/mfa/enrol", body).then(function (answer) {
      document.getElementById("mfa-qr").src = "data:image/png;base64," + answer.qr_png_base64;
      document.getElementById("mfa-uri").textContent = answer.uri;
      var list = document.getElementById("mfa-codes");
      list.textContent = "";
      answer.recovery_codes.forEach(function (code) {
        var item = document.createElement("li");
        item.textContent = code;
        list.appendChild(item);
      });
      form.hidden = true;
      document.getElementById("mfa-new").hidden = false;
      document.getElementById("mfa-code").focus();
    });
  });

  /* A personal access token: its secret is in this answer only. */
  onSubmit("token-create", function (form, body) {
    return my.api("POST", "/tokens", body).then(function (answer) {
      document.getElementById("token-secret").textContent = answer.secret;
      form.hidden = true;
      document.getElementById("token-new").hidden = false;
    });
  });

  onSubmit("user-create", function (form, body) {
    return my.api("POST", "/users", body).then(reload);
  });

  onSubmit("member-grant", function (form, body) {
    var path = "/projects/" + encodeURIComponent(form.getAttribute("data-project")) +
      "/members/" + encodeURIComponent(body.username || "");
    return my.api("PUT", path, { role: body.role }).then(reload);
  });

  /* <button data-call="METHOD /path" data-body='{...}' data-confirm="question">. */
  document.querySelectorAll("button[data-call]").forEach(function (button) {
    button.addEventListener("click", function () {
      var question = button.getAttribute("data-confirm");
      if (question && !window.confirm(question)) return;
      var spec = button.getAttribute("data-call").split(" ");
      var body = button.hasAttribute("data-body") ? JSON.parse(button.getAttribute("data-body")) : undefined;
      var box = document.querySelector("[data-call-error]");
      my.api(spec[0], spec[1], body).then(reload, function (err) {
        if (box) box.textContent = err.message; else window.alert(err.message);
      });
    });
  });
})();
