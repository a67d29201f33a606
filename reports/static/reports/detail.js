/* A report's point on a small map. */
"use strict";
(function () {
  var cfg = ReportsMap.config();
  var map = ReportsMap.create("report-map", cfg);
  map.setView(cfg.point, 16);
  L.circleMarker(cfg.point, { radius: 9, color: "#17324d", fillColor: "#f4a300", fillOpacity: 0.9 })
    .addTo(map);
})();
