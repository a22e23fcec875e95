/* The run and compare pages: metric charts drawn with uPlot from the page's
   #chart-data (series downsampled on the server), drag to zoom and double-click to
   reset (uPlot's own cursor), and the compare page's parallel coordinates as SVG from
   #parallel-data. Each chart container gets data-drawn="1" once drawn. */
(function () {
  "use strict";
  var COLORS = ["#1f4e79", "#cf222e", "#1a7f37", "#9a6700", "#8250df", "#0a7ea4", "#bc4c00", "#57606a"];
  var SVG = "http://www.w3.org/2000/svg";

  function readJson(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  /* The y axis as wide as its longest label (memory in bytes is 11 digits), so no
     label is cut at uPlot's fixed 50 px. */
  function axisWidth(u, values) {
    var longest = (values || []).reduce(function (n, v) { return Math.max(n, String(v).length); }, 0);
    return Math.max(50, 16 + 7 * longest);
  }

  function drawChart(el, series) {
    if (!series || !series.length) return;
    var tables = series.map(function (s) { return [s.x, s.y]; });
    var data = tables.length === 1 ? tables[0] : uPlot.join(tables);
    var opts = {
      width: Math.max(280, el.clientWidth || 420),
      height: 220,
      scales: { x: { time: false } },
      cursor: { drag: { x: true, y: false } },
      legend: { live: false },
      axes: [{ label: "step" }, { size: axisWidth }],
      series: [{ label: "step" }].concat(series.map(function (s, i) {
        return { label: s.label, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true,
                 points: { show: s.x.length < 2 } };
      })),
    };
    el.uplot = new uPlot(opts, data, el);
    var sampled = series.filter(function (s) { return s.total > s.x.length; });
    if (sampled.length) {
      var note = document.createElement("p");
      note.className = "muted";
      note.textContent = sampled.map(function (s) {
        return s.label + ": " + s.x.length + " of " + s.total + " points (lowest and highest kept)";
      }).join("; ");
      el.parentNode.appendChild(note);
    }
    el.setAttribute("data-drawn", "1");
  }

  function drawCharts() {
    var data = readJson("chart-data") || {};
    document.querySelectorAll("div.chart[data-chart]").forEach(function (el) {
      drawChart(el, data[el.getAttribute("data-key")]);
    });
  }

  function node(name, attrs, text) {
    var el = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (k) { el.setAttribute(k, attrs[k]); });
    if (text !== undefined) el.textContent = text;
    return el;
  }

  /* One vertical axis per param or metric, one polyline per run; a numeric axis runs
     from its lowest value (bottom) to its highest (top), a category axis spreads its
     values evenly; a run without a value on an axis breaks its line there. */
  function drawParallel(el, spec) {
    var width = Math.max(480, el.clientWidth || 800), height = 300, top = 30, bottom = 40;
    var step = spec.axes.length > 1 ? (width - 120) / (spec.axes.length - 1) : 0;
    var svg = node("svg", { viewBox: "0 0 " + width + " " + height, width: "100%", "aria-hidden": "true" });
    var scale = spec.axes.map(function (axis) {
      var present = axis.values.filter(function (v) { return v !== null; });
      if (axis.numeric) {
        var lo = Math.min.apply(null, present), hi = Math.max.apply(null, present);
        return function (v) { return hi === lo ? 0.5 : (v - lo) / (hi - lo); };
      }
      var cats = present.filter(function (v, i) { return present.indexOf(v) === i; }).sort();
      return function (v) { return cats.length < 2 ? 0.5 : cats.indexOf(v) / (cats.length - 1); };
    });
    function x(i) { return 60 + i * step; }
    function y(frac) { return top + (1 - frac) * (height - top - bottom); }
    spec.axes.forEach(function (axis, i) {
      svg.appendChild(node("line", { x1: x(i), x2: x(i), y1: top, y2: height - bottom, class: "axis" }));
      svg.appendChild(node("text", { x: x(i), y: height - bottom + 16, "text-anchor": "middle", class: "axis-name" }, axis.name));
      var present = axis.values.filter(function (v) { return v !== null; });
      if (present.length && axis.numeric) {
        svg.appendChild(node("text", { x: x(i) + 4, y: top - 6, class: "axis-end" }, String(Math.max.apply(null, present))));
        svg.appendChild(node("text", { x: x(i) + 4, y: height - bottom + 30, class: "axis-end" }, String(Math.min.apply(null, present))));
      }
    });
    spec.runs.forEach(function (run, r) {
      var parts = [], current = [];
      spec.axes.forEach(function (axis, i) {
        var v = axis.values[r];
        if (v === null || v === undefined) { if (current.length) parts.push(current); current = []; return; }
        current.push(x(i) + "," + y(scale[i](v)).toFixed(1));
      });
      if (current.length) parts.push(current);
      var group = node("g", { "data-run": run.id });
      group.appendChild(node("title", {}, run.label));
      parts.forEach(function (points) {
        group.appendChild(node(points.length > 1 ? "polyline" : "circle", points.length > 1
          ? { points: points.join(" "), stroke: COLORS[r % COLORS.length], fill: "none", "stroke-width": 2 }
          : { cx: points[0].split(",")[0], cy: points[0].split(",")[1], r: 3, fill: COLORS[r % COLORS.length] }));
      });
      svg.appendChild(group);
    });
    el.appendChild(svg);
    el.setAttribute("data-drawn", "1");
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawCharts();
    var parallel = document.querySelector("[data-chart=parallel]");
    var spec = readJson("parallel-data");
    if (parallel && spec) drawParallel(parallel, spec);
  });
})();
