/* Compare page: one bar chart (Chart.js) for the indicator picked; the table holds the same
   figures for screen readers and printing. */
(function () {
  "use strict";
  var LANG = document.documentElement.lang || "pl";
  var d = JSON.parse(document.getElementById("compare-data").textContent);
  var picker = document.getElementById("chart-indicator");
  var canvas = document.getElementById("compare-chart");
  var chart = null;
  // Axis numbers in the page's language: "40 000" in Polish, not Chart.js's default "40,000".
  Chart.defaults.locale = LANG;
  // Okabe & Ito: colour-blind-safe, one colour per area.
  var colours = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#000000",
    "#F0E442"];
  function draw() {
    var r = d.rows[Number(picker.value)];
    if (chart) { chart.destroy(); }
    chart = new Chart(canvas, {
      type: "bar",
      data: { labels: d.areas, datasets: [{
        label: r.name + (r.unit ? " [" + r.unit + "]" : "") + ", " + r.period,
        data: r.values,
        backgroundColor: d.areas.map(function (_, i) { return colours[i % colours.length]; })
      }] },
      options: {
        maintainAspectRatio: false, animation: false,
        plugins: { tooltip: { callbacks: { label: function (c) {
          return c.raw === null ? d.noData : Number(c.raw).toLocaleString(LANG,
            { maximumFractionDigits: r.decimals }) +
            window.sdiUnitAfter(c.raw, r.decimals, r.unit, r.unit_forms, LANG);
        } } } },
        scales: { y: { beginAtZero: true } }
      }
    });
  }
  picker.addEventListener("change", draw);
  draw();
  // No inline handlers (Content-Security-Policy): the print button is wired here.
  Array.prototype.forEach.call(document.querySelectorAll("[data-print]"), function (b) {
    b.addEventListener("click", function () { window.print(); });
  });
}());
