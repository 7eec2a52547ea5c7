// The data bureau's dashboard, drawn from the JSON the page carries in #dashboard-charts.
// The page gives the same figures in tables, for screen readers and for a browser without
// JavaScript; the charts only add the picture. Withheld figures are null: no bar.
(function () {
  "use strict";
  var source = document.getElementById("dashboard-charts");
  if (!source || typeof echarts === "undefined") {
    return;
  }
  var data = JSON.parse(source.textContent);
  var still = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  var ink = "#1f2328", muted = "#4b5563", brand = "#0b4f9c", warn = "#8a4b00", ok = "#1a6b32",
      bad = "#b42318";
  var palette = [brand, warn, ok, bad, "#6639ba", "#0f766e", muted, "#9a3412"];

  function draw(id, option) {
    var element = document.getElementById(id);
    if (!element) {
      return;
    }
    var chart = echarts.init(element);
    option.animation = !still;
    option.textStyle = { color: ink };
    option.color = palette;
    chart.setOption(option);
    window.addEventListener("resize", function () { chart.resize(); });
  }

  function shown(value) {
    return value === null ? data.withheld_label : value;
  }

  function bars(id, chart, color, horizontal) {
    var category = { type: "category", data: chart.labels, axisLabel: { width: 220, overflow: "truncate" } };
    var value = { type: "value", name: chart.axis_label, nameLocation: "middle", nameGap: 28 };
    draw(id, {
      tooltip: { trigger: "axis", valueFormatter: shown },
      grid: { left: 40, right: 40, bottom: 40, top: 24, containLabel: true },
      xAxis: horizontal ? value : category,
      yAxis: horizontal ? Object.assign(category, { inverse: true }) : value,
      series: [{ type: "bar", name: chart.axis_label, data: chart.values, barMaxWidth: 48,
                 itemStyle: { color: color }, label: { show: true, position: horizontal ? "right" : "top" } }]
    });
  }

  var overTime = data.over_time;
  if (overTime.periods.length) {
    draw("over-time-chart", {
      tooltip: { trigger: "axis" },
      legend: { type: "scroll", top: 0 },
      grid: { left: 16, right: 32, bottom: 24, top: 48, containLabel: true },
      xAxis: { type: "category", data: overTime.periods },
      yAxis: { type: "value", name: overTime.axis_label, minInterval: 1 },
      series: overTime.series.map(function (s) {
        return { type: "line", name: s.name, data: s.events, symbolSize: 6 };
      })
    });
  }

  if (data.stuck_points.keys.length) {
    bars("stuck-points-chart", data.stuck_points, warn, true);
  }
  if (data.trips.keys.length) {
    bars("trips-chart", data.trips, brand, false);
  }
  if (data.sla_breaches.keys.length) {
    bars("sla-chart", data.sla_breaches, bad, true);
  }

  var prefill = data.prefill;
  if (prefill.keys.length) {
    draw("prefill-chart", {
      tooltip: { trigger: "axis", valueFormatter: function (v) { return v === null ? data.withheld_label : v + "%"; } },
      grid: { left: 40, right: 24, bottom: 24, top: 32, containLabel: true },
      xAxis: { type: "category", data: prefill.labels, axisLabel: { width: 160, overflow: "truncate" } },
      yAxis: { type: "value", name: prefill.axis_label, min: 0, max: 100,
               nameLocation: "middle", nameGap: 36 },
      series: [{
        type: "bar", name: prefill.axis_label, barMaxWidth: 48,
        data: prefill.share_percent.map(function (v) {
          return { value: v, itemStyle: { color: v !== null && v >= prefill.benchmark_percent ? ok : brand } };
        }),
        label: { show: true, position: "top", formatter: "{c}%" },
        markLine: {
          symbol: "none",
          lineStyle: { color: bad, type: "dashed", width: 2 },
          label: { formatter: prefill.benchmark_label + " " + prefill.benchmark_percent + "%", color: bad,
                   position: "insideEndTop" },
          data: [{ yAxis: prefill.benchmark_percent }]
        }
      }]
    });
  }

  var cant = data.cant_get_it_done;
  draw("cant-chart", {
    tooltip: { trigger: "axis" },
    legend: { top: 0 },
    grid: { left: 16, right: 32, bottom: 24, top: 40, containLabel: true },
    xAxis: { type: "value", minInterval: 1 },
    yAxis: { type: "category", data: cant.labels, inverse: true },
    series: [
      { type: "bar", stack: "cases", name: cant.open_label, data: cant.open, itemStyle: { color: bad } },
      { type: "bar", stack: "cases", name: cant.answered_label, data: cant.answered, itemStyle: { color: ok } }
    ]
  });
})();
