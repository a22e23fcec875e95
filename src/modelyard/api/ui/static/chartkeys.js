/* Charts with the keyboard: each drawn uPlot chart (a [data-chart] container whose
   script put its uPlot on it as .uplot) becomes a tab stop that says its keys; on it,
   + and - zoom the x scale in and out around the centre, ArrowLeft and ArrowRight pan,
   0 and Escape reset to the full range (what a mouse does by dragging and
   double-clicking); a series' name in the legend is a toggle button. Charts drawn later
   (live ones) are wired when they say data-drawn. */
(function () {
  "use strict";
  var KEYS = "Keys: + and - zoom, left and right arrows pan, 0 or Escape resets.";

  function full(u) {
    var xs = u.data[0];
    return xs && xs.length ? { min: xs[0], max: xs[xs.length - 1] } : null;
  }

  function wire(box) {
    var u = box.uplot;
    if (!u || u.keysWired) return;
    u.keysWired = true;
    wireLegend(u);
    if (box.hasAttribute("data-keys")) return;  // a chart drawn again in the same box
    var name = box.getAttribute("aria-label") || (box.getAttribute("aria-labelledby") || "")
      .split(" ").map(function (id) {
        var el = document.getElementById(id);
        return el ? el.textContent.trim() : "";
      }).join(" ").trim();
    box.setAttribute("data-keys", "1");
    box.setAttribute("tabindex", "0");
    box.setAttribute("role", "group");  // not img: its legend's toggles are controls
    box.setAttribute("aria-roledescription", "chart");
    box.removeAttribute("aria-labelledby");
    box.setAttribute("aria-label", (name ? name + ". " : "Chart. ") + KEYS);
    box.setAttribute("aria-keyshortcuts", "+ - ArrowLeft ArrowRight 0 Escape");
  }

  /* A series' name in the legend shows and hides it on a click (uPlot's); as a button,
     Enter and Space do the same, and aria-pressed says whether it is shown. Done again
     whenever the series change (a live chart adds and drops them). */
  function wireLegend(u) {
    function mark() {
      var rows = u.root.querySelectorAll(".u-legend tr.u-series");
      var skip = u.series.length - rows.length;  // a legend that is not live leaves x out
      rows.forEach(function (tr, i) {
        var th = tr.querySelector("th");
        if (!th) return;
        if (i + skip === 0) { th.style.cursor = "default"; return; }  // x toggles nothing
        th.setAttribute("tabindex", "0");
        th.setAttribute("role", "button");
        th.setAttribute("aria-pressed", String(u.series[i + skip].show));
      });
    }
    ["setSeries", "addSeries", "delSeries"].forEach(function (hook) {
      u.hooks[hook] = (u.hooks[hook] || []).concat(mark);
    });
    mark();
  }

  function move(u, key) {
    var all = full(u), x = u.scales.x;
    if (!all || all.max <= all.min || x.min == null || x.max == null) return false;
    var span = x.max - x.min, whole = all.max - all.min, centre = (x.min + x.max) / 2;
    var lo, hi;
    if (key === "0" || key === "Escape") {
      lo = all.min; hi = all.max;
    } else if (key === "+" || key === "=" || key === "-") {
      var half = (key === "-" ? Math.min(span * 2, whole) : span / 2) / 2;
      lo = centre - half; hi = centre + half;
    } else if (key === "ArrowLeft" || key === "ArrowRight") {
      var by = span / 5 * (key === "ArrowLeft" ? -1 : 1);
      lo = x.min + by; hi = x.max + by;
    } else {
      return false;
    }
    if (lo < all.min) { hi += all.min - lo; lo = all.min; }
    if (hi > all.max) { lo -= hi - all.max; hi = all.max; }
    u.setScale("x", { min: Math.max(lo, all.min), max: hi });
    return true;
  }

  document.addEventListener("keydown", function (ev) {
    var el = ev.target;
    if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
    if (el.matches && el.matches(".u-legend th[role=button]") && (ev.key === "Enter" || ev.key === " ")) {
      ev.preventDefault();
      el.click();
    } else if (el.uplot && el.hasAttribute("data-keys") && move(el.uplot, ev.key)) {
      ev.preventDefault();
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-chart]").forEach(wire);
    new MutationObserver(function (changes) {
      changes.forEach(function (c) { if (c.target.hasAttribute("data-chart")) wire(c.target); });
    }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ["data-drawn"] });
  });
})();
