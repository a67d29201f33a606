/* Dataset page: a preview map of the layer's vector tiles and "copy" buttons for QGIS users. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("preview-config").textContent);
  var status = document.getElementById("copy-status");
  Array.prototype.forEach.call(document.querySelectorAll("[data-copy]"), function (b) {
    b.addEventListener("click", function () {
      var input = document.getElementById(b.getAttribute("data-copy"));
      input.select();
      var done = function () { status.textContent = b.dataset.done || "✓ " + input.value; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(done, function () {
          document.execCommand("copy"); done();
        });
      } else { document.execCommand("copy"); done(); }
    });
  });

  if (!window.L || !document.getElementById("preview")) { return; }
  if (!L.DomEvent.fakeStop) { L.DomEvent.fakeStop = function (e) { e._stopped = true; }; }
  var map = L.map("preview", { scrollWheelZoom: false });
  if (cfg.basemap.url) {
    L.tileLayer(cfg.basemap.url, { attribution: cfg.basemap.attribution, maxZoom: 19 }).addTo(map);
  }
  var e = cfg.extent;
  if (e) {
    map.fitBounds([[e[1], e[0]], [e[3], e[2]]], { padding: [12, 12], maxZoom: 16 });
  } else {
    map.setView([0, 0], 2);
  }
  var point = /Point/.test(cfg.geometry);
  var styles = {};
  styles[cfg.layer] = point ? { radius: 4, fill: true, fillColor: "#0072B2", fillOpacity: 1,
    color: "#1a1a1a", weight: 1 } : { color: "#0072B2", weight: 2, fill: /Polygon/.test(
    cfg.geometry), fillColor: "#56B4E9", fillOpacity: 0.35 };
  L.vectorGrid.protobuf(cfg.tiles, { rendererFactory: L.canvas.tile, interactive: false,
    vectorTileLayerStyles: styles, maxNativeZoom: 16 }).addTo(map);
}());
