// The data bureau's dashboard, drawn from the JSON the page carries in #dashboard-charts.
// The page gives the same figures in tables, for screen readers and for a browser without
// JavaScript; the charts only add the picture. Withheld figures are null: no bar.
//
// Legible at 1440 px and on a 390 px phone: every category is labelled (interval 0),
// long names wrap within a width taken from the chart's own width, value axes keep few
// ticks and hide a label that would overlap, and each chart is laid out again when its
// box changes size. Drawn as SVG, so each label is text the browser can measure.
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
  var narrow = 480;  // px: a phone's chart

  // build(width) gives the option for a chart box that wide.
  function draw(id, build) {
    var element = document.getElementById(id);
    if (!element) {
      return;
    }
    var chart = echarts.init(element, null, { renderer: "svg" });
    function layout() {
      var option = build(element.clientWidth || 320, element);
      option.animation = !still;
      option.textStyle = { color: ink };
      option.color = palette;
      chart.setOption(option, true);
      chart.resize();
    }
    layout();
    if (typeof ResizeObserver !== "undefined") {
      var last = element.clientWidth;
      new ResizeObserver(function () {
        if (element.clientWidth !== last) {
          last = element.clientWidth;
          layout();
        }
      }).observe(element);
    } else {
      window.addEventListener("resize", layout);
    }
  }

  function shown(value) {
    return value === null ? data.withheld_label : value;
  }

  function valueAxis(name, width, extra) {
    return Object.assign({
      type: "value", name: name, nameLocation: "middle", nameGap: 30,
      splitNumber: width < narrow ? 3 : 5,
      axisLabel: { hideOverlap: true, margin: 8 }
    }, extra || {});
  }

  function labelWidth(width) {
    return Math.max(96, Math.round(width * 0.4));
  }

  // Categories down the side: names wrap in up to 40% of the chart's width.
  function sideCategories(labels, width) {
    return {
      type: "category", data: labels, inverse: true,
      axisTick: { alignWithLabel: true },
      axisLabel: { interval: 0, width: labelWidth(width), overflow: "break", lineHeight: 16 }
    };
  }

  // A chart of bars down the side grows with its bars and with the lines their wrapped
  // names take (a character of 12 px type is at most 12 px wide), so no two names meet.
  function fitHeight(element, labels, width, extra) {
    var perLine = Math.max(1, Math.floor(labelWidth(width) / 12));
    var lines = labels.reduce(function (most, label) {
      return Math.max(most, Math.ceil(String(label).length / perLine));
    }, 1);
    var row = Math.max(36, lines * 16 + 14);
    element.style.height = (extra + labels.length * row) + "px";
  }

  // Bars along, names down the side: long names wrap rather than turn or run together.
  function bars(id, chart, color) {
    draw(id, function (width, element) {
      fitHeight(element, chart.labels, width, 72);
      var category = sideCategories(chart.labels, width);
      var value = valueAxis(chart.axis_label, width);
      return {
        tooltip: { trigger: "axis", valueFormatter: shown },
        grid: { left: 8, right: 48, bottom: 40, top: 16, containLabel: true },
        xAxis: value,
        yAxis: category,
        series: [{ type: "bar", name: chart.axis_label, data: chart.values, barMaxWidth: 40,
                   itemStyle: { color: color },
                   label: { show: true, position: "right" } }]
      };
    });
  }

  var overTime = data.over_time;
  if (overTime.periods.length) {
    // Days along the bottom: as many as fit side by side (ECharts skips the rest evenly),
    // never turned, so no label reaches its neighbour or the value axis.
    draw("over-time-chart", function (width) {
      return {
        tooltip: { trigger: "axis" },
        legend: { type: "scroll", top: 0 },
        grid: { left: 8, right: 24, bottom: 8, top: 48, containLabel: true },
        xAxis: { type: "category", data: overTime.periods,
                 axisLabel: { hideOverlap: true,
                              formatter: function (day) { return day.slice(5); } } },
        yAxis: { type: "value", name: overTime.axis_label, minInterval: 1,
                 splitNumber: width < narrow ? 3 : 5, axisLabel: { hideOverlap: true } },
        series: overTime.series.map(function (s) {
          return { type: "line", name: s.name, data: s.events, symbolSize: 6 };
        })
      };
    });
  }

  if (data.stuck_points.keys.length) {
    bars("stuck-points-chart", data.stuck_points, warn);
  }
  if (data.trips.keys.length) {
    bars("trips-chart", data.trips, brand);
  }
  if (data.sla_breaches.keys.length) {
    bars("sla-chart", data.sla_breaches, bad);
  }

  var prefill = data.prefill;
  if (prefill.keys.length) {
    draw("prefill-chart", function (width, element) {
      fitHeight(element, prefill.labels, width, 88);
      return {
        tooltip: { trigger: "axis", valueFormatter: function (v) { return v === null ? data.withheld_label : v + "%"; } },
        grid: { left: 8, right: 48, bottom: 40, top: 32, containLabel: true },
        xAxis: valueAxis(prefill.axis_label, width, { min: 0, max: 100, interval: width < narrow ? 50 : 25 }),
        yAxis: sideCategories(prefill.labels, width),
        series: [{
          type: "bar", name: prefill.axis_label, barMaxWidth: 40,
          data: prefill.share_percent.map(function (v) {
            return { value: v, itemStyle: { color: v !== null && v >= prefill.benchmark_percent ? ok : brand } };
          }),
          label: { show: true, position: "insideRight", color: "#fff", formatter: "{c}%" },
          markLine: {
            symbol: "none",
            lineStyle: { color: bad, type: "dashed", width: 2 },
            label: { formatter: prefill.benchmark_label + " " + prefill.benchmark_percent + "%", color: bad,
                     position: "start" },
            data: [{ xAxis: prefill.benchmark_percent }]
          }
        }]
      };
    });
  }

  var cant = data.cant_get_it_done;
  if (document.getElementById("cant-chart")) {
    draw("cant-chart", function (width, element) {
      fitHeight(element, cant.labels, width, 72);
      return {
        tooltip: { trigger: "axis" },
        legend: { top: 0 },
        grid: { left: 8, right: 32, bottom: 8, top: 40, containLabel: true },
        xAxis: valueAxis("", width, { minInterval: 1 }),
        yAxis: sideCategories(cant.labels, width),
        series: [
          { type: "bar", stack: "cases", name: cant.open_label, data: cant.open, itemStyle: { color: bad } },
          { type: "bar", stack: "cases", name: cant.answered_label, data: cant.answered, itemStyle: { color: ok } }
        ]
      };
    });
  }
})();
