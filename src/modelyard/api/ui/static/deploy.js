/* The deployment page: its traffic charts (uPlot) and split by version, live, and the
   plan editor, which sends the plan to the API with the revision it was read at (a plan
   changed meanwhile is refused, 409) and shows the API's refusal beside the form.

   The traffic comes first from the page's JSON (#deploy-traffic), then, while the page
   is shown, from the JSON route beside the page (#traffic's data-url) every
   data-refresh-s seconds: the charts take the new data (setData; their series replaced
   when versions come or go), keeping the span the user zoomed into; the split
   and the "as of" line are rewritten; #traffic-status says when it was updated, or why
   it failed (the page and the editor stay as they are). A hidden tab reads nothing
   until it is shown again. */
(function () {
  "use strict";
  var COLORS = ["#1f4e79", "#cf222e", "#1a7f37", "#9a6700", "#8250df", "#0a7ea4", "#bc4c00", "#57606a"];

  function seriesOpts(s, i, unit) {
    return { label: s.label, stroke: COLORS[i % COLORS.length], width: i === 0 ? 2 : 1.5,
             spanGaps: false, value: function (u, v) { return v == null ? "-" : v + " " + unit; } };
  }

  function columns(x, series) {
    return [x].concat(series.map(function (s) { return s.values; }));
  }

  function drawChart(box, x, series) {
    var unit = box.getAttribute("data-unit");
    var opts = {
      width: Math.max(280, box.clientWidth),
      height: 200,
      series: [{}].concat(series.map(function (s, i) { return seriesOpts(s, i, unit); })),
      axes: [{}, { size: 60 }],
      cursor: { drag: { x: true, y: false } },
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); },  // UTC, as the page's times
    };
    box.uplot = new uPlot(opts, columns(x, series), box);
    box.setAttribute("data-drawn", "1");
  }

  /* New data into a drawn chart (the same uPlot): when the series changed (a version
     came or went), they are replaced in the server's order, coloured as a fresh page
     would colour them; then setData; a chart zoomed into part of its old span keeps it. */
  function updateChart(box, x, series) {
    var u = box.uplot;
    var unit = box.getAttribute("data-unit");
    var old = u.data[0];
    var zoomed = old.length > 0 && (u.scales.x.min > old[0] || u.scales.x.max < old[old.length - 1]);
    var span = { min: u.scales.x.min, max: u.scales.x.max };
    var had = u.series.slice(1).map(function (s) { return s.label; }).join("\n");
    if (had !== series.map(function (s) { return s.label; }).join("\n")) {
      for (var i = u.series.length - 1; i > 0; i--) u.delSeries(i);
      series.forEach(function (s, i) { u.addSeries(seriesOpts(s, i, unit), i + 1); });
    }
    u.setData(columns(x, series));  // every scale fitted to the new data,
    if (zoomed) u.setScale("x", span);  // then x back to the zoom: y fits what it shows
  }

  function showTraffic(data) {
    document.getElementById("traffic-note").textContent = data.note;
    document.getElementById("traffic-live").hidden = !data.requests;
    document.getElementById("traffic-empty").hidden = !!data.requests;
    if (!data.requests) return;
    var charts = document.getElementById("traffic-charts");
    if (!charts.firstElementChild) {  // the first traffic: the charts' cards come in
      charts.appendChild(document.getElementById("traffic-chart-cards").content.cloneNode(true));
    }
    charts.querySelectorAll("[data-series]").forEach(function (box) {
      var series = data.charts[box.getAttribute("data-series")] || [];
      if (box.uplot) updateChart(box, data.charts.x, series);
      else drawChart(box, data.charts.x, series);
    });
    var body = document.querySelector("#split tbody");
    var rows = data.split.map(function (cells) {
      var tr = document.createElement("tr");
      cells.forEach(function (cell, i) {
        var td = document.createElement("td");
        if (i > 1) td.className = "num";
        td.textContent = cell;
        tr.appendChild(td);
      });
      return tr;
    });
    body.replaceChildren.apply(body, rows);
  }

  /* The traffic route's answer as data; an Error saying why not otherwise. */
  function read(answer) {
    return answer.text().then(function (text) {
      var data = null;
      try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
      if (!answer.ok) {
        var said = data && data.error && data.error.message;
        throw new Error(said || (answer.status + " " + answer.statusText).trim());
      }
      if (!data || !data.charts) throw new Error("the answer was not the traffic");
      return data;
    });
  }

  function utc(ms) {
    return new Date(ms).toISOString().slice(11, 19) + " UTC";
  }

  function liveTraffic() {
    var section = document.getElementById("traffic");
    var source = document.getElementById("deploy-traffic");
    if (!section || !source || typeof uPlot === "undefined") return;
    var status = document.getElementById("traffic-status");
    var every = Number(section.getAttribute("data-refresh-s")) * 1000;
    var timer = null;
    var reading = false;

    function schedule() {
      clearTimeout(timer);
      timer = document.visibilityState === "visible" ? setTimeout(refresh, every) : null;
    }

    function refresh() {
      clearTimeout(timer);
      timer = null;
      reading = true;
      fetch(section.getAttribute("data-url"), {
        credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" },
      }).then(read, function () {
        throw new Error("the server did not answer");
      }).then(function (data) {
        showTraffic(data);
        status.textContent = "updated " + utc(data.until);
      }).catch(function (err) {
        status.textContent = "update failed: " + err.message;
      }).then(function () {
        reading = false;
        schedule();
      });
    }

    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState !== "visible") {
        clearTimeout(timer);
        timer = null;
      } else if (!reading) {
        refresh();
      }
    });
    showTraffic(JSON.parse(source.textContent));
    schedule();
  }

  function wireEditor() {
    var form = document.getElementById("plan-editor");
    if (!form) return;
    var errorBox = form.querySelector("[data-error]");
    var total = document.getElementById("live-total");

    function rows() {
      return Array.prototype.map.call(form.querySelectorAll("tr[data-route]"), function (tr) {
        var isNew = tr.hasAttribute("data-new");
        var weight = tr.querySelector("input[name=weight]").value;
        return {
          model: isNew ? tr.querySelector("input[name=model]").value.trim() : tr.getAttribute("data-model"),
          ref: isNew ? tr.querySelector("input[name=ref]").value.trim() : tr.getAttribute("data-ref"),
          weight: weight === "" ? null : Number(weight),
          shadow: tr.querySelector("select[name=kind]").value === "shadow",
          removed: !isNew && tr.querySelector("input[name=remove]").checked,
          blank: isNew && !tr.querySelector("input[name=model]").value.trim(),
        };
      }).filter(function (r) { return !r.removed && !r.blank; });
    }

    function sum() {
      total.textContent = rows().reduce(function (acc, r) {
        return acc + (r.shadow ? 0 : (r.weight || 0));
      }, 0);
    }
    form.addEventListener("input", sum);
    form.addEventListener("change", sum);

    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      errorBox.textContent = "";
      var chosen = rows();
      var route = function (r) { return { model: r.model, ref: r.ref, weight: r.weight == null ? 0 : r.weight }; };
      var live = chosen.filter(function (r) { return !r.shadow; });
      var body = {
        plan: {
          routes: live.map(route),
          shadows: chosen.filter(function (r) { return r.shadow; }).map(route),
          sticky_key: live.length > 1 ? (form.getAttribute("data-sticky") || null) : null,
        },
        reason: form.elements.reason.value,
        expected_revision: Number(form.getAttribute("data-revision")),
      };
      window.modelyard.api("PUT", form.getAttribute("data-path"), body).then(function () {
        window.location.reload();
      }, function (err) {
        errorBox.textContent = err.message;
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    liveTraffic();
    wireEditor();
  });
})();
