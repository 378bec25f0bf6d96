/* Draws every .chart[data-chart-source] box with ECharts from the JSON the page embeds (json_script).
   Series format: [{month, amount, orders}] -> bars of amount per month. Without ECharts the box stays empty. */
(function () {
  "use strict";
  function draw() {
    if (!window.echarts) { return; }
    document.querySelectorAll(".chart[data-chart-source]").forEach(function (box) {
      var node = document.getElementById(box.getAttribute("data-chart-source"));
      if (!node || box.dataset.drawn) { return; }
      var rows = JSON.parse(node.textContent) || [];
      var chart = window.echarts.init(box, null, { renderer: "svg" });
      chart.setOption({
        animation: false,
        grid: { left: 56, right: 16, top: 16, bottom: 28 },
        tooltip: { trigger: "axis" },
        xAxis: { type: "category", data: rows.map(function (r) { return r.month; }), axisTick: { show: false } },
        yAxis: { type: "value", splitLine: { lineStyle: { color: "#eef0f3" } } },
        series: [{ type: box.getAttribute("data-chart-kind") || "bar", data: rows.map(function (r) { return Number(r.amount); }),
                   itemStyle: { color: "#b4232c", borderRadius: [3, 3, 0, 0] }, barMaxWidth: 34 }]
      });
      box.dataset.drawn = "1";
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
  document.addEventListener("htmx:afterSwap", draw);
})();
