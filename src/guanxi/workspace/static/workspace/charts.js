/* Draws every .chart[data-chart-source] box with ECharts from the JSON the page embeds (json_script).
   Series format: [{month, amount, orders}] -> bars of amount per month. Without ECharts the box stays empty. */
(function () {
  "use strict";
  // "2026-03" -> "3月" (January, and the first month shown, also name the year: "2026年1月"), or "Mar 2026"
  function monthLabel(m, index, lang) {
    var parts = String(m).split("-"), y = parts[0], mo = Number(parts[1]);
    var first = index === 0 || mo === 1;
    if (lang.indexOf("zh") === 0) { return (first ? y + "年" : "") + mo + "月"; }
    var names = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    return names[mo - 1] + (first ? " " + y : "");
  }
  // 12000 -> "¥1.2万" (zh) or "¥12k"; small values as they are
  function compact(v, lang) {
    var n = Number(v), abs = Math.abs(n);
    if (lang.indexOf("zh") === 0) {
      if (abs >= 1e8) { return "¥" + +(n / 1e8).toFixed(1) + "亿"; }
      if (abs >= 1e4) { return "¥" + +(n / 1e4).toFixed(1) + "万"; }
    } else {
      if (abs >= 1e6) { return "¥" + +(n / 1e6).toFixed(1) + "M"; }
      if (abs >= 1e3) { return "¥" + +(n / 1e3).toFixed(1) + "k"; }
    }
    return "¥" + n.toLocaleString();
  }
  function money(v) { return "¥" + Number(v).toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 }); }
  function draw() {
    if (!window.echarts) { return; }
    document.querySelectorAll(".chart[data-chart-source]").forEach(function (box) {
      var node = document.getElementById(box.getAttribute("data-chart-source"));
      if (!node || box.dataset.drawn) { return; }
      var rows = JSON.parse(node.textContent) || [];
      var chart = window.echarts.init(box, null, { renderer: "svg" });
      var lang = (document.documentElement.lang || "").toLowerCase();
      chart.setOption({
        animation: false,
        // containLabel: the grid leaves room for the longest axis label instead of cutting it off
        grid: { left: 8, right: 16, top: 16, bottom: 8, containLabel: true },
        tooltip: { trigger: "axis", valueFormatter: money },
        xAxis: { type: "category", data: rows.map(function (r) { return r.month; }), axisTick: { show: false },
                 axisLabel: { formatter: function (m, i) { return monthLabel(m, i, lang); }, hideOverlap: true } },
        yAxis: { type: "value", splitLine: { lineStyle: { color: "#eef0f3" } },
                 axisLabel: { formatter: function (v) { return compact(v, lang); }, hideOverlap: true } },
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
