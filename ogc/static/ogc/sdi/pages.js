/* The scripts of the OGC API's HTML pages (pygeoapi's templates, ogc/templates/pygeoapi), moved
   out of the templates so that the Content-Security-Policy allows no inline script. Data comes in
   data- attributes, which the templates escape; property values are put into the page as text,
   never as HTML. */
(function () {
  "use strict";

  // The page's JSON-LD, embedded for search engines (as pygeoapi's _base.html did).
  function embedJsonLd() {
    var holder = document.getElementById("sdi-page");
    if (!holder) { return; }
    var path = holder.dataset.jsonld || (window.location.protocol + "//" + window.location.host +
      window.location.pathname + "?f=jsonld");
    fetch(path, { headers: { Accept: "application/ld+json" } }).then(function (r) {
      if (!r.ok) { return null; }
      return r.text();
    }).then(function (text) {
      if (!text) { return; }
      var block = document.createElement("script");
      block.type = "application/ld+json";
      // search engines do not expect the full context path (pyld needs it)
      block.textContent = text.replace("docs/jsonldcontext.jsonld", "");
      document.head.appendChild(block);
    }).catch(function () {});
  }

  function basemap(map, holder) {
    if (holder.dataset.basemapUrl) {
      map.addLayer(L.tileLayer(holder.dataset.basemapUrl, {
        maxZoom: 18, attribution: holder.dataset.basemapAttribution || "" }));
    }
  }

  function limits() {
    var select = document.getElementById("limits");
    if (!select) { return; }
    var params = new URL(document.location).searchParams;
    select.value = params.get("limit") || select.options[0].value;
    select.addEventListener("change", function (ev) {
      document.location.search = "limit=" + encodeURIComponent(ev.target.value);
    });
  }

  function itemsMap() {
    var holder = document.getElementById("items-map");
    if (!holder || !window.L || holder.dataset.kind !== "items") { return null; }
    var map = L.map(holder, { maxZoom: 19 }).setView([45, -75], 5);
    basemap(map, holder);
    var titleField = holder.dataset.titleField;
    var itemsPath = holder.dataset.itemsPath;
    var items = L.geoJSON(JSON.parse(holder.dataset.features), {
      onEachFeature: function (feature, layer) {
        var link = document.createElement("a");
        link.href = itemsPath + "/" + encodeURIComponent(feature.id) + "?f=html";
        link.textContent = String(titleField && feature.properties[titleField] != null
          ? feature.properties[titleField] : feature.id);
        layer.bindPopup(link);
      }
    });
    var markers = L.markerClusterGroup({ disableClusteringAtZoom: 9, chunkedLoading: true,
      chunkInterval: 500 });
    markers.clearLayers().addLayer(items);
    map.addLayer(markers);
    map.fitBounds(items.getBounds());
    return map;
  }

  function recordSearch(map) {
    var form = document.getElementById("searchForm");
    if (!form || !map) { return; }
    var holder = document.getElementById("items-map");
    var rectangle = null;
    function bbox(rect) {
      var b = rect.getBounds();
      return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()];
    }
    function submit(event) {
      if (event) { event.preventDefault(); }
      var query = [], datetime = [];
      var q = document.getElementById("q").value;
      var begin = document.getElementById("datetime_begin");
      var end = document.getElementById("datetime_end");
      if (q) { query.push("q=" + encodeURIComponent(q)); }
      datetime.push(begin.value !== "" ? begin.value + "T00:00:00Z" : "..");
      datetime.push(end.value !== "" ? end.value + "T23:59:59Z" : "..");
      datetime = datetime.join("/");
      if (datetime !== "../..") { query.push("datetime=" + encodeURIComponent(datetime)); }
      if (rectangle && map.hasLayer(rectangle)) { query.push("bbox=" + bbox(rectangle).join(",")); }
      if (query.length > 0) { document.location.href = holder.dataset.itemsPath + "?" + query.join("&"); }
    }
    document.getElementById("q").addEventListener("keydown", function (event) {
      if (event.key === "Enter") { submit(event); }
    });
    form.addEventListener("submit", submit);
    form.addEventListener("reset", function () {
      if (rectangle && map.hasLayer(rectangle)) { rectangle.remove(); }
    });
    document.getElementById("spatial_filter_check").addEventListener("change", function () {
      if (rectangle && map.hasLayer(rectangle)) {
        rectangle.remove();
        return;
      }
      var b = map.getBounds().pad(-0.95);
      if (rectangle) { rectangle.setBounds(b); } else {
        rectangle = L.rectangle(b);
        rectangle.editing.enable();
        rectangle.setStyle({ color: "green" });
      }
      map.addLayer(rectangle);
    });
  }

  function itemMap() {
    var holder = document.getElementById("items-map");
    if (!holder || !window.L || holder.dataset.kind !== "item") { return; }
    var map = L.map(holder, { maxZoom: 19 }).setView([45, -75], 10);
    basemap(map, holder);
    var item = L.geoJSON(JSON.parse(holder.dataset.feature));
    map.addLayer(item);
    map.fitBounds(item.getBounds(), { maxZoom: 15 });
  }

  function collectionMap() {
    var holder = document.getElementById("collection-map");
    if (!holder || !window.L) { return; }
    var map = L.map(holder, { maxZoom: 19 }).setView([0, 0], 1);
    basemap(map, holder);
    var bbox = JSON.parse(holder.dataset.bbox);
    if (bbox[2] < bbox[0]) { bbox[2] += 360; }  // across the date line
    var clamp = function (lat) { return Math.max(-85.0511, Math.min(lat, 85.0511)); };
    var outline = L.polygon([[bbox[1], bbox[0]], [bbox[3], bbox[0]], [bbox[3], bbox[2]],
      [bbox[1], bbox[2]]]);
    var b = outline.getBounds();
    map.addLayer(outline);
    map.fitBounds(L.latLngBounds(L.latLng(clamp(b.getSouth()), b.getWest()),
      L.latLng(clamp(b.getNorth()), b.getEast())), { maxZoom: 10 });

    // Ctrl + drag draws a rectangle; a click on it tells its bbox= query parameter.
    var first = null, drawing = false, current = null, box = null;
    map.on("mousedown", function (e) {
      if (e.originalEvent.ctrlKey) {
        if (box && map.hasLayer(box)) { map.removeLayer(box); }
        map.dragging.disable();
        first = e.latlng;
        drawing = true;
      } else if (box && map.hasLayer(box) && !box.getBounds().contains(e.latlng)) {
        map.removeLayer(box);
      }
    });
    map.on("mouseup", function (e) {
      if (current && map.hasLayer(current)) { map.removeLayer(current); }
      if (e.originalEvent.ctrlKey && drawing) {
        box = L.rectangle([first, e.latlng], { color: "#ff7800", weight: 1 }).addTo(map);
      }
      drawing = false;
      map.dragging.enable();
    });
    map.on("mousemove", function (e) {
      if (!drawing) { return; }
      if (current && map.hasLayer(current)) { map.removeLayer(current); }
      current = L.rectangle([first, e.latlng], { dashArray: "4 1", weight: 0.4 }).addTo(map);
    });
    map.on("click", function () {
      if (box && map.hasLayer(box)) {
        var text = document.createElement("span");
        text.textContent = "bbox=" + box.getBounds().toBBoxString();
        L.popup({ maxWidth: "auto" }).setLatLng(box.getBounds().getCenter()).setContent(text)
          .addTo(map);
      }
    });
  }

  function swagger() {
    var holder = document.getElementById("swagger-ui");
    if (!holder || !window.SwaggerUIBundle) { return; }
    // BaseLayout: the standalone layout's top bar (an address box, which was hidden anyway, and
    // a logo whose SVG carries a <style> element the policy refuses) is left out.
    window.ui = SwaggerUIBundle({
      url: holder.dataset.url, dom_id: "#swagger-ui", deepLinking: true,
      presets: [SwaggerUIBundle.presets.apis], layout: "BaseLayout"
    });
  }

  limits();
  recordSearch(itemsMap());
  itemMap();
  collectionMap();
  swagger();
  embedJsonLd();
})();
