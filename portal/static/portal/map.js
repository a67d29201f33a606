/* Resident map: indicator choropleth over areas from /tiles/indicators/, legend from the API.
   State (indicator, areas, period, position) lives in the URL so a view can be shared. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("map-config").textContent);
  var S = cfg.strings;
  // Leaflet >= 1.8 dropped DomEvent.fakeStop, which VectorGrid 1.3.0 still calls on click.
  if (!L.DomEvent.fakeStop) { L.DomEvent.fakeStop = function (e) { e._stopped = true; }; }

  var params = new URLSearchParams(window.location.search);
  var sel = {
    indicator: document.getElementById("indicator"),
    areas: document.getElementById("areas"),
    period: document.getElementById("period")
  };
  var byCode = {};
  cfg.indicators.forEach(function (ind) {
    byCode[ind.code] = ind;
    sel.indicator.add(new Option(ind.name, ind.code));
  });

  var map = L.map("map", { zoomControl: true }).setView(cfg.center, cfg.zoom);
  if (cfg.basemap.url) {
    L.tileLayer(cfg.basemap.url, { attribution: cfg.basemap.attribution, maxZoom: 19 }).addTo(map);
  }
  var view = (window.location.hash || "").replace("#", "").split("/").map(Number);
  if (view.length === 3 && view.every(isFinite)) { map.setView([view[1], view[2]], view[0]); }

  var choropleth = null;
  var legend = null;

  function fmt(value, decimals) {
    if (value === null || value === undefined) { return S.noData; }
    return Number(value).toLocaleString(document.documentElement.lang,
      { maximumFractionDigits: decimals, minimumFractionDigits: 0 });
  }

  function fill(select, values, labels, wanted) {
    select.innerHTML = "";
    values.forEach(function (v, i) { select.add(new Option(labels ? labels[i] : v, v)); });
    select.value = values.indexOf(wanted) >= 0 ? wanted : values[values.length - 1];
  }

  function syncChoices(wantAreas, wantPeriod) {
    var ind = byCode[sel.indicator.value];
    var areas = cfg.areas.filter(function (a) { return ind.areas.indexOf(a.slug) >= 0; });
    fill(sel.areas, areas.map(function (a) { return a.slug; }),
      areas.map(function (a) { return a.title + " (" + a.count + ")"; }), wantAreas || areas[0].slug);
    if (!wantAreas || areas.every(function (a) { return a.slug !== wantAreas; })) {
      sel.areas.value = areas[0].slug;
    }
    fill(sel.period, ind.periods, null, wantPeriod);
  }

  function url(template) {
    return template.replace("{code}", encodeURIComponent(sel.indicator.value))
      .replace("{areas}", encodeURIComponent(sel.areas.value))
      .replace("{period}", encodeURIComponent(sel.period.value));
  }

  function renderLegend(data, ind) {
    document.getElementById("legend-title").textContent =
      ind.name + (ind.unit ? " [" + ind.unit + "]" : "") + ", " + data.period;
    var list = document.getElementById("legend-items");
    list.innerHTML = "";
    data.classes.forEach(function (c) {
      var li = document.createElement("li");
      li.innerHTML = '<span class="swatch"></span><span class="range"></span>';
      li.firstChild.style.background = c.colour;
      li.lastChild.textContent = c.from === c.to ? fmt(c.to, ind.decimals)
        : fmt(c.from, ind.decimals) + " – " + fmt(c.to, ind.decimals);
      list.appendChild(li);
    });
    var nd = document.createElement("li");
    nd.innerHTML = '<span class="swatch nodata"></span><span class="range"></span>';
    nd.firstChild.style.background = data.no_data_colour;
    nd.lastChild.textContent = S.noData;
    list.appendChild(nd);
    document.getElementById("source").textContent = S.source + ": " + ind.source;
  }

  function style(props) {
    var c = props["class"];
    var colour = (c === undefined || c === null) ? legend.no_data_colour : legend.classes[c].colour;
    return { fill: true, fillColor: colour, fillOpacity: cfg.fillOpacity, color: "#444", weight: 1 };
  }

  function areaCount() {
    return cfg.areas.filter(function (a) { return a.slug === sel.areas.value; })[0].count;
  }

  function popup(e) {
    var p = e.layer.properties, ind = byCode[sel.indicator.value];
    var html = "<strong></strong><br><span class=v></span><br><small class=r></small>";
    var div = document.createElement("div");
    div.innerHTML = html;
    div.querySelector("strong").textContent = p.name;
    div.querySelector(".v").textContent = ind.name + ": " + fmt(p.value, ind.decimals) +
      (p.value !== null && p.value !== undefined && ind.unit ? " " + ind.unit : "");
    div.querySelector(".r").textContent = (p.rank ? S.rank + " " + p.rank + " " + S.of + " " +
      areaCount() + " · " : "") + S.period + " " + p.period + " · " + S.source + ": " + p.source;
    L.popup().setLatLng(e.latlng).setContent(div).openOn(map);
  }

  function draw() {
    var ind = byCode[sel.indicator.value];
    fetch(url(cfg.legendUrl)).then(function (r) { return r.json(); }).then(function (data) {
      legend = data;
      renderLegend(data, ind);
      if (choropleth) { map.removeLayer(choropleth); }
      choropleth = L.vectorGrid.protobuf(url(cfg.tileUrl), {
        rendererFactory: L.canvas.tile,
        vectorTileLayerStyles: { indicator: style },
        interactive: true,
        maxNativeZoom: 16,
        getFeatureId: function (f) { return f.properties.id; }
      }).on("click", popup).addTo(map);
      saveState();
    });
  }

  function saveState() {
    var c = map.getCenter();
    var q = "?indicator=" + encodeURIComponent(sel.indicator.value) + "&areas=" +
      encodeURIComponent(sel.areas.value) + "&period=" + encodeURIComponent(sel.period.value);
    history.replaceState(null, "", q + "#" + map.getZoom() + "/" + c.lat.toFixed(5) + "/" +
      c.lng.toFixed(5));
  }

  var first = params.get("indicator");
  sel.indicator.value = byCode[first] ? first : cfg.indicators[0].code;
  syncChoices(params.get("areas"), params.get("period"));
  sel.indicator.addEventListener("change", function () { syncChoices(sel.areas.value); draw(); });
  sel.areas.addEventListener("change", draw);
  sel.period.addEventListener("change", draw);
  map.on("moveend", saveState);
  draw();
}());
