/* Shared by the report pages: the map with the city's basemap (none when not configured). */
"use strict";
window.ReportsMap = {
  config: function () { return JSON.parse(document.getElementById("reports-config").textContent); },
  create: function (id, cfg, options) {
    var map = L.map(id, Object.assign({ zoomControl: true, maxZoom: 19, minZoom: 3 }, options || {}))
      .setView(cfg.center, cfg.zoom);
    if (cfg.basemap && cfg.basemap.url) {
      L.tileLayer(cfg.basemap.url, { attribution: cfg.basemap.attribution, maxZoom: 19 }).addTo(map);
    }
    return map;
  },
  el: function (tag, attrs, text) {
    /* Elements are built with textContent only: report texts are residents' input. */
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }
};
