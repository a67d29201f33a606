/* District profile: a locator map and a small chart per indicator (Chart.js). The table on the
   page holds the same figures: the charts are decoration for sighted readers (aria-hidden). */
(function () {
  "use strict";
  var LANG = document.documentElement.lang || "pl";
  function data(id) { return JSON.parse(document.getElementById(id).textContent); }
  var S = data("chart-strings");

  var sibling = document.getElementById("sibling");
  if (sibling) {
    sibling.addEventListener("change", function () {
      if (sibling.value !== sibling.dataset.current) {
        window.location.href = "/districts/" + encodeURIComponent(sibling.value) + "/";
      }
    });
  }

  var print = document.getElementById("print-page");
  if (print) { print.addEventListener("click", function () { window.print(); }); }

  // Locator: every area of the layer in outline, this one filled.
  var outline = data("area-outline"), basemap = data("basemap"), loc = data("locator-config");
  if (typeof outline === "string") { outline = JSON.parse(outline); }
  if (window.L && document.getElementById("locator")) {
    if (!L.DomEvent.fakeStop) { L.DomEvent.fakeStop = function (e) { e._stopped = true; }; }
    var map = L.map("locator", { zoomControl: false, attributionControl: !!basemap.url,
      scrollWheelZoom: false, dragging: false, keyboard: false, doubleClickZoom: false,
      boxZoom: false, touchZoom: false });
    if (basemap.url) {
      L.tileLayer(basemap.url, { attribution: basemap.attribution, maxZoom: 19 }).addTo(map);
    }
    var shape = L.geoJSON(outline, { interactive: false,
      style: { color: "#17324d", weight: 2, fillColor: "#2c7fb8", fillOpacity: 0.6 } });
    map.fitBounds(shape.getBounds(), { padding: [10, 10] });
    map.setZoom(Math.max(map.getZoom() - 2, 10));
    var styles = {};
    styles[loc.layer] = { color: "#777", weight: 1, fill: false };
    L.vectorGrid.protobuf(loc.tiles, { rendererFactory: L.canvas.tile, interactive: false,
      vectorTileLayerStyles: styles, maxNativeZoom: 16 }).addTo(map);
    shape.addTo(map);
  }

  if (!window.Chart) { return; }
  // Axis numbers in the page's language: "40 000" in Polish, not Chart.js's default "40,000".
  Chart.defaults.locale = LANG;
  var fmt = function (decimals) {
    return function (v) {
      return v === null || v === undefined ? S.noData :
        Number(v).toLocaleString(LANG, { maximumFractionDigits: decimals });
    };
  };
  data("chart-data").forEach(function (ind) {
    var canvas = document.querySelector('canvas[data-code="' + ind.code + '"]');
    if (!canvas) { return; }
    var periods = ind.periods;
    var f = fmt(ind.decimals);
    var common = {
      responsive: false, animation: false,
      plugins: { legend: { display: false },
        tooltip: { callbacks: { label: function (c) {
          return c.dataset.label + ": " + f(c.raw) +
            window.sdiUnitAfter(c.raw, ind.decimals, ind.unit, ind.unit_forms, LANG);
        } } } },
      scales: { x: { display: false },
        y: { beginAtZero: true, ticks: { font: { size: 9 }, maxTicksLimit: 3 } } }
    };
    canvas.width = 160; canvas.height = 64;
    if (periods.length > 1) {
      new Chart(canvas, { type: "line", options: common, data: {
        labels: periods.map(function (p) { return p.period; }),
        datasets: [
          { label: S.area, data: periods.map(function (p) { return p.value; }),
            borderColor: "#17324d", backgroundColor: "#17324d", spanGaps: false },
          { label: S.median, data: periods.map(function (p) { return p.median; }),
            borderColor: "#E69F00", backgroundColor: "#E69F00", borderDash: [4, 3] }
        ] } });
    } else if (periods.length === 1) {
      // Area against the median of the layer's areas. Not against the city value: for counts
      // and sums the city total is not comparable with one area's figure.
      var p = periods[0];
      new Chart(canvas, { type: "bar", options: common, data: { labels: [S.area, S.median],
        datasets: [{ label: ind.name, data: [p.value, p.median],
          backgroundColor: ["#17324d", "#E69F00"] }] } });
    }
  });
}());
