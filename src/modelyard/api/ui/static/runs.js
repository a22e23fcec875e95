/* The runs table's nested runs. A run with children has a toggle (a button with
   aria-expanded and aria-controls): pressing it (click, Enter or Space) fetches its
   children's rows from the server (rendered by the table's own row macro) and puts them
   right under its row; pressing it again removes them, and their children's. A row's id
   is its key: "run-<id>", a child's "<parent's key>-c<n>", so a row's descendants are
   the rows whose id starts with its key and "-". */
(function () {
  "use strict";

  function descendants(table, key) {
    return table.querySelectorAll('tbody tr[id^="' + key + '-"]');
  }

  function collapse(table, button, row) {
    descendants(table, row.id).forEach(function (tr) { tr.remove(); });
    button.setAttribute("aria-expanded", "false");
  }

  function failed(row, message) {
    var tr = document.createElement("tr");
    var blank = document.createElement("td");
    var cell = document.createElement("td");
    tr.id = row.id + "-c1";
    tr.className = "nested";
    cell.colSpan = row.cells.length - 1;
    cell.className = "error-text";
    cell.setAttribute("role", "alert");
    cell.textContent = message;
    tr.append(blank, cell);
    return [tr];
  }

  function expand(table, button, row) {
    button.setAttribute("aria-busy", "true");
    fetch(button.getAttribute("data-children"), { credentials: "same-origin" })
      .then(function (answer) {
        if (answer.redirected) throw new Error("Sign in again to see the child runs.");
        if (!answer.ok) throw new Error("Could not load the child runs (HTTP " + answer.status + ").");
        return answer.text();
      })
      .then(function (html) {
        var holder = document.createElement("template");
        holder.innerHTML = html;
        return Array.prototype.slice.call(holder.content.querySelectorAll("tr"));
      }, function (err) { return failed(row, err.message); })
      .then(function (rows) {
        descendants(table, row.id).forEach(function (tr) { tr.remove(); });
        row.after.apply(row, rows);
        button.setAttribute("aria-controls", rows.map(function (tr) { return tr.id; }).join(" "));
        button.setAttribute("aria-expanded", "true");
        button.removeAttribute("aria-busy");
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var table = document.getElementById("runs");
    if (!table) return;
    table.addEventListener("click", function (ev) {
      var button = ev.target.closest("button.nest-toggle");
      if (!button || button.getAttribute("aria-busy") === "true") return;
      var row = button.closest("tr");
      if (button.getAttribute("aria-expanded") === "true") collapse(table, button, row);
      else expand(table, button, row);
    });
  });
})();
