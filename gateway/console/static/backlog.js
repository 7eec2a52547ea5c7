// A backlog item's charts, drawn from the JSON the page carries in #backlog-charts.
// The page says the same in tables and aria-labels, for screen readers and for a
// browser without JavaScript; the charts only add the picture.
(function () {
  "use strict";
  var source = document.getElementById("backlog-charts");
  if (!source || typeof echarts === "undefined") {
    return;
  }
  var data = JSON.parse(source.textContent);
  var still = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  var ink = "#1f2328", muted = "#4b5563", brand = "#0b4f9c", warn = "#8a4b00", ok = "#1a6b32";

  function draw(id, option) {
    var element = document.getElementById(id);
    if (!element) {
      return;
    }
    var chart = echarts.init(element);
    option.animation = !still;
    option.textStyle = { color: ink };
    chart.setOption(option);
    window.addEventListener("resize", function () { chart.resize(); });
  }

  var trend = data.trend;
  if (trend) {
    var fixMark = trend.fix_week && trend.weeks.indexOf(trend.fix_week) >= 0 ? {
      symbol: "none",
      lineStyle: { color: ok, type: "dashed", width: 2 },
      label: { formatter: trend.fix_label, color: ok },
      data: [{ xAxis: trend.fix_week }]
    } : undefined;
    draw("trend-chart", {
      tooltip: { trigger: "axis" },
      legend: { top: 0, data: [trend.events_label, trend.burden_label] },
      grid: { top: 64, left: 48, right: 56, bottom: 32, containLabel: true },
      xAxis: { type: "category", data: trend.weeks },
      yAxis: [
        { type: "value", name: trend.events_label, minInterval: 1 },
        { type: "value", name: trend.burden_label }
      ],
      series: [
        { name: trend.events_label, type: "bar", data: trend.events,
          itemStyle: { color: brand }, markLine: fixMark },
        { name: trend.burden_label, type: "line", yAxisIndex: 1, data: trend.burden_minutes,
          itemStyle: { color: warn }, symbolSize: 6 }
      ]
    });
  }

  var rates = data.rates;
  if (rates) {
    draw("rate-chart", {
      tooltip: { trigger: "axis" },
      grid: { top: 48, left: 48, right: 24, bottom: 32, containLabel: true },
      xAxis: { type: "category", data: rates.labels },
      yAxis: { type: "value", name: rates.axis_label },
      series: [{
        type: "bar",
        name: rates.axis_label,
        barMaxWidth: 96,
        data: rates.per_100_cases.map(function (value, i) {
          return { value: value === null ? null : Math.round(value * 10) / 10,
                   itemStyle: { color: i === 0 ? muted : brand } };
        }),
        label: { show: true, position: "top" }
      }]
    });
  }
})();
