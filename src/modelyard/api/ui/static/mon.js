/* The monitoring page's charts (uPlot): performance with its labelled rows, volume
   against expected, health history, serving cost. Each container gets data-drawn="1"
   once drawn. */
(function () {
  "use strict";

  function width(el) { return Math.max(300, el.clientWidth || 600); }

  /* Times on the axes in UTC, as every time the pages print, whatever the browser's zone. */
  function utc(ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); }

  /* One point (a day's cost on the first day) gets a day's span around it, a y axis
     from zero and a dot: uPlot's own ranges for a single point span years and repeat
     their labels. */
  function single(data, series) {
    var x = data[0][0];
    return {
      scales: {
        x: { time: true, range: [x - 43200, x + 43200] },
        y: { range: function (u, min, max) { return [Math.min(0, min), max > 0 ? max * 1.25 : 1]; } },
      },
      series: series.map(function (s) { return Object.assign({ points: { show: true, size: 8 } }, s); }),
    };
  }

  function draw(el, title, data, series, axes) {
    var one = data[0].length === 1 ? single(data, series) : null;
    var opts = {
      title: title,
      width: width(el),
      height: 220,
      scales: one ? one.scales : { x: { time: true } },
      series: [{}].concat(one ? one.series : series),
      axes: axes || [{}, {}],
      tzDate: utc,
      hooks: { ready: [function () { el.setAttribute("data-drawn", "1"); }] },
    };
    el.uplot = new uPlot(opts, data, el);
    el.setAttribute("data-drawn", "1");
  }

  document.addEventListener("DOMContentLoaded", function () {
    var source = document.getElementById("mon-data");
    if (!source || typeof uPlot === "undefined") return;
    var charts = JSON.parse(source.textContent);
    document.querySelectorAll("[data-chart=performance]").forEach(function (el) {
      var s = charts.performance[Number(el.getAttribute("data-index"))];
      draw(el, s.name, [s.x, s.value, s.labelled], [
        { label: "value", stroke: "#1565c0", width: 2, spanGaps: true },
        { label: "labelled", stroke: "#888", dash: [4, 4], scale: "n" },
      ], [{}, {}, { scale: "n", side: 1, grid: { show: false } }]);
    });
    document.querySelectorAll("[data-chart=volume]").forEach(function (el) {
      var s = charts.volume[Number(el.getAttribute("data-index"))];
      draw(el, s.name, [s.x, s.rows, s.expected], [
        { label: "rows", stroke: "#1565c0", width: 2 },
        { label: "expected", stroke: "#b26a00", dash: [6, 4], spanGaps: true },
      ]);
    });
    document.querySelectorAll("[data-chart=health]").forEach(function (el) {
      var s = charts.health;
      draw(el, "", [s.x, s.score], [{ label: "health", stroke: "#2e7d32", width: 2, spanGaps: true }]);
    });
    document.querySelectorAll("[data-chart=cost]").forEach(function (el) {
      var s = charts.cost;
      draw(el, "", [s.x, s.cost], [{ label: "cost (" + s.currency + ")", stroke: "#6a1b9a", width: 2 }],
           [{}, { values: function (u, ticks) { return ticks.map(function (v) { return String(+v.toPrecision(3)); }); } }]);
    });
  });
})();
