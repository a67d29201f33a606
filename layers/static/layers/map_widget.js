/* Starts the admin's geometry map widgets: what django-leaflet's widget templates did in inline
   scripts (leaflet/widget.html, leaflet/_leaflet_map.html), with the settings read from the
   widget's data-sdi-map-widget attribute (layers/forms.py, layers/templates/layers/map_widget.html). */
(function () {
  "use strict";

  function start(holder) {
    var c = JSON.parse(holder.dataset.sdiMapWidget);
    var field = { fieldid: c.fieldid, modifiable: c.modifiable, geom_type: c.geom_type,
                  srid: c.srid };
    function callback(map, options) {
      field.field_store_class = L.FieldStore;
      field.precision = options.djoptions.precision;
      (new L.GeometryField(field)).addTo(map);
    }
    function loadmap() {
      var map = L.Map.djangoMap(c.name, { djoptions: c.djoptions, initfunc: loadmap,
                                          globals: c.globals, callback: callback });
      if (c.globals) { window["leafletmap" + c.name] = map; }
    }
    if (c.loadevents.length === 0) { loadmap(); } else {
      c.loadevents.forEach(function (name) { window.addEventListener(name, loadmap, false); });
    }
  }

  function startAll() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-sdi-map-widget]"), start);
  }
  // The admin puts form media in the page's head, before the widgets.
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", startAll);
  } else { startAll(); }
})();
