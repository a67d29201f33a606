/* /reports/: public reports on a map, clustered at low zoom (Leaflet.markercluster). */
"use strict";
(function () {
  var cfg = ReportsMap.config();
  var el = ReportsMap.el;
  var map = ReportsMap.create("reports-map", cfg);
  var clusters = L.markerClusterGroup({ disableClusteringAtZoom: 17, showCoverageOnHover: false });
  fetch(cfg.geojson, { headers: { Accept: "application/json" } })
    .then(function (r) { return r.ok ? r.json() : { features: [] }; })
    .then(function (data) {
      var markers = data.features.map(function (f) {
        var c = f.geometry.coordinates;
        var marker = L.marker([c[1], c[0]], { title: f.properties.title });
        var box = el("div");
        box.appendChild(el("strong", null, f.properties.title));
        box.appendChild(el("div", { "class": "meta" },
          f.properties.category + " · " + f.properties.status_label));
        var link = el("a", { href: f.properties.url }, cfg.strings.open);
        box.appendChild(link);
        marker.bindPopup(box);
        return marker;
      });
      clusters.addLayers(markers);
      // The view is fitted at once and the clusters join the map after it: an animation
      // still running would swallow the first tap (Leaflet ignores a zoom asked for during
      // one, markercluster a spiderfy), and the page says it is ready just below.
      if (markers.length) {
        map.fitBounds(clusters.getBounds(), { maxZoom: 16, padding: [20, 20], animate: false });
      }
      map.addLayer(clusters);
      document.getElementById("reports-map").setAttribute("data-loaded", String(markers.length));
    });
})();
