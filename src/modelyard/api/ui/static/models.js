/* The model page: approve or reject a status change request through the API (the API
   checks the role, and refuses a requester deciding their own request: its message
   shows in the form's error box). */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-decide]").forEach(function (form) {
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        var button = ev.submitter || form.querySelector("[data-decision]");
        var decision = button.getAttribute("data-decision");
        var path = "/model-requests/" + encodeURIComponent(form.getAttribute("data-decide")) + "/" + decision;
        var errorBox = form.querySelector("[data-error]");
        errorBox.textContent = "";
        form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
        window.modelyard.api("POST", path, { comment: form.comment.value }).then(function () {
          window.location.reload();
        }, function (err) {
          errorBox.textContent = err.message;
          form.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
        });
      });
    });
  });
})();
