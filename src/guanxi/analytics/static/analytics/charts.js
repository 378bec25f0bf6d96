/* Analytics charts: draws the JSON that the page embeds (json_script) with whichever chart library the
   workspace ships (ECharts or Chart.js). Without one, the chart boxes are hidden and the tables remain. */
(function () {
  "use strict";

  function data(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function series(kind, src) {
    if (kind === "segments") {
      return {
        type: "bar",
        labels: src.segments.map(function (s) { return s.label; }),
        links: src.segments.map(function (s) { return s.url; }),
        sets: [
          { name: src.labels.customers, values: src.segments.map(function (s) { return s.customers; }) },
          { name: src.labels.revenue, values: src.segments.map(function (s) { return s.revenue; }), axis: 1 }
        ]
      };
    }
    if (kind === "clv") {
      return {
        type: "bar",
        labels: src.clv.map(function (b) { return b.label; }),
        links: src.clv.map(function (b) { return b.url; }),
        sets: [{ name: src.labels.customers, values: src.clv.map(function (b) { return b.customers; }) }]
      };
    }
    if (kind === "cohorts") {
      var width = src.cohorts.length ? src.cohorts[0].retention.length : 0;
      var labels = [];
      for (var k = 1; k <= width; k++) { labels.push("+" + k); }
      return {
        type: "line",
        labels: labels,
        sets: src.cohorts.map(function (c) {
          return { name: c.label, values: c.retention.map(function (v) { return v === null ? null : Math.round(v * 1000) / 10; }) };
        })
      };
    }
    return null;
  }

  function drawECharts(el, s) {
    var chart = window.echarts.init(el);
    var twoAxes = s.sets.some(function (set) { return set.axis === 1; });
    var yLabel = { axisLabel: { hideOverlap: true, formatter: compact } };
    chart.setOption({
      tooltip: { trigger: "axis" },
      legend: { data: s.sets.map(function (set) { return set.name; }) },
      // containLabel: rotated category names and long values get room instead of being cut off
      grid: { left: 8, right: 8, top: 36, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: s.labels, axisLabel: { interval: 0, hideOverlap: true, rotate: s.labels.length > 6 ? 30 : 0 } },
      yAxis: twoAxes ? [{ type: "value", axisLabel: yLabel.axisLabel }, { type: "value", axisLabel: yLabel.axisLabel }] : { type: "value", axisLabel: yLabel.axisLabel },
      series: s.sets.map(function (set) {
        return { name: set.name, type: s.type, data: set.values, yAxisIndex: set.axis || 0, connectNulls: false };
      })
    });
    if (s.links) {  // a bar is the customers behind it: open them in the customer list
      chart.on("click", function (p) { if (s.links[p.dataIndex]) { window.location.href = s.links[p.dataIndex]; } });
    }
    window.addEventListener("resize", function () { chart.resize(); });
  }

  // 12000 -> "1.2万" in Chinese pages, "12k" otherwise
  function compact(v) {
    var n = Number(v), abs = Math.abs(n), zh = (document.documentElement.lang || "").toLowerCase().indexOf("zh") === 0;
    if (zh && abs >= 1e8) { return +(n / 1e8).toFixed(1) + "亿"; }
    if (zh && abs >= 1e4) { return +(n / 1e4).toFixed(1) + "万"; }
    if (!zh && abs >= 1e6) { return +(n / 1e6).toFixed(1) + "M"; }
    if (!zh && abs >= 1e3) { return +(n / 1e3).toFixed(1) + "k"; }
    return n.toLocaleString();
  }

  function drawChartJs(el, s) {
    var canvas = document.createElement("canvas");
    el.appendChild(canvas);
    var scales = { y: { beginAtZero: true } };
    if (s.sets.some(function (set) { return set.axis === 1; })) {
      scales.y1 = { beginAtZero: true, position: "right", grid: { drawOnChartArea: false } };
    }
    new window.Chart(canvas, {
      type: s.type,
      data: {
        labels: s.labels,
        datasets: s.sets.map(function (set) {
          return { label: set.name, data: set.values, yAxisID: set.axis === 1 ? "y1" : "y", spanGaps: false };
        })
      },
      options: { responsive: true, maintainAspectRatio: false, scales: scales }
    });
  }

  function draw() {
    var boxes = document.querySelectorAll(".chart[data-chart]");
    var useECharts = !!window.echarts, useChartJs = !useECharts && !!window.Chart;
    boxes.forEach(function (el) {
      var src = data(el.getAttribute("data-source"));
      var s = src && series(el.getAttribute("data-chart"), src);
      if (!s || (!useECharts && !useChartJs)) { el.hidden = true; return; }
      if (useECharts) { drawECharts(el, s); } else { drawChartJs(el, s); }
      el.setAttribute("data-drawn", useECharts ? "echarts" : "chartjs");
    });
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
