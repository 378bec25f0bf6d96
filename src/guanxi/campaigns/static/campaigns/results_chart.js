/* Campaign results chart: conversion rate (%) and revenue per recipient (¥) of each variant and the control,
   drawn with the workspace's ECharts (SVG renderer) from the JSON the page embeds; no inline script, no CDN.
   Without ECharts the box is hidden and the table remains. */
(function () {
  "use strict";
  function draw() {
    document.querySelectorAll(".chart[data-chart-source='campaign-results-data']").forEach(function (box) {
      var node = document.getElementById(box.getAttribute("data-chart-source"));
      if (!node || box.dataset.drawn) { return; }
      if (!window.echarts) { box.hidden = true; return; }
      var d = JSON.parse(node.textContent);
      var chart = window.echarts.init(box, null, { renderer: "svg" });
      chart.setOption({
        animation: false,
        tooltip: { trigger: "axis" },
        legend: { data: [d.names.conversion, d.names.revenue] },
        grid: { left: 8, right: 8, top: 36, bottom: 8, containLabel: true },
        xAxis: { type: "category", data: d.labels, axisTick: { show: false } },
        yAxis: [
          { type: "value", axisLabel: { formatter: "{value}%" } },
          { type: "value", axisLabel: { formatter: "¥{value}" }, splitLine: { show: false } }
        ],
        series: [
          { name: d.names.conversion, type: "bar", data: d.conversion, itemStyle: { color: "#b4232c" }, barMaxWidth: 34 },
          { name: d.names.revenue, type: "bar", yAxisIndex: 1, data: d.revenue, itemStyle: { color: "#5b6b7f" }, barMaxWidth: 34 }
        ]
      });
      box.dataset.drawn = "1";
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
