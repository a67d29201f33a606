/* Resident map: indicator choropleth over areas (/tiles/indicators/), legend from the API,
   overlay layers (/tiles/<a>,<b>/), a side panel for the clicked area or feature and a table
   equivalent of the choropleth. State (indicator, areas, period, open area, overlays, position)
   lives in the address so a view can be shared; the server has already checked it. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("map-config").textContent);
  var S = cfg.strings;
  var LANG = document.documentElement.lang || "pl";
  // Leaflet >= 1.8 dropped DomEvent.fakeStop, which VectorGrid 1.3.0 still calls on click.
  if (!L.DomEvent.fakeStop) { L.DomEvent.fakeStop = function (e) { e._stopped = true; }; }
  // VectorGrid 1.3.0 hands a clicked point to Leaflet 1.9's _fireDOMEvent, which treats it as a
  // marker and reads its (absent) latlng: a TypeError. Its own hit test is kept; the event is
  // fired on the feature directly and bubbles to the grid's "click" listeners.
  L.Canvas.Tile.prototype._onClick = function (e) {
    var point = this._map.mouseEventToLayerPoint(e).subtract(this.getOffset()), hit = null;
    for (var id in this._layers) {
      var layer = this._layers[id];
      if (layer.options.interactive && layer._containsPoint(point) &&
          !this._map._draggableMoved(layer)) { hit = layer; }
    }
    if (hit) {
      L.DomEvent.fakeStop(e);
      hit.fire("click", { originalEvent: e, latlng: this._map.mouseEventToLatLng(e) }, true);
    }
  };

  var $ = function (id) { return document.getElementById(id); };
  var sel = { indicator: $("indicator"), areas: $("areas"), period: $("period") };
  var byCode = {}, areasBySlug = {}, areaById = {}, overlayBySlug = {};
  cfg.indicators.forEach(function (ind) {
    byCode[ind.code] = ind;
    sel.indicator.add(new Option(ind.name, ind.code));
  });
  cfg.areas.forEach(function (a) {
    areasBySlug[a.slug] = a;
    a.items.forEach(function (it) { areaById[it[0]] = { id: it[0], slug: it[1], name: it[2] }; });
  });
  cfg.overlays.forEach(function (o) { overlayBySlug[o.slug] = o; });

  var state = cfg.state;
  var map = L.map("map", { zoomControl: true }).setView(cfg.center, cfg.zoom);
  window.sdiMap = map;  // for the browser tests (they click places by their coordinates)
  map.createPane("choropleth").style.zIndex = 350;
  map.createPane("highlight").style.zIndex = 420;
  map.createPane("features").style.zIndex = 450;
  if (cfg.basemap.url) {
    L.tileLayer(cfg.basemap.url, { attribution: cfg.basemap.attribution, maxZoom: 19 }).addTo(map);
  }
  var view = (window.location.hash || "").replace("#", "").split("/").map(Number);
  if (view.length === 3 && view.every(isFinite)) { map.setView([view[1], view[2]], view[0]); }

  var choropleth = null, legend = null, overlayGrid = null, highlight = null;
  var areaData = null;      // JSON of the open area (/districts/<slug>.json)
  var lastFocus = null;

  function fmt(value, decimals) {
    if (value === null || value === undefined) { return S.noData; }
    return Number(value).toLocaleString(LANG,
      { maximumFractionDigits: decimals, minimumFractionDigits: 0 });
  }
  function withUnit(value, ind) {
    return fmt(value, ind.decimals) +
      window.sdiUnitAfter(value, ind.decimals, ind.unit, ind.unit_forms, LANG);
  }
  function tpl(s, values) {
    return s.replace(/%\((\w+)\)s/g, function (_, k) { return values[k]; });
  }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) { e.textContent = text; }
    return e;
  }
  // Leaflet puts attributions into the page as HTML; a layer's attribution is what an editor
  // typed, so it goes in as text, with http(s) addresses in it made links.
  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function attributionHtml(text) {
    if (!text) { return ""; }
    return String(text).split(/(https?:\/\/[^\s<>"']+)/).map(function (part, i) {
      if (i % 2 === 0) { return escapeHtml(part); }
      var a = document.createElement("a");
      a.href = part;
      a.rel = "noopener";
      a.textContent = part;
      return a.outerHTML;
    }).join("");
  }
  function getJSON(url) {
    return fetch(url, { headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) { throw new Error(r.status); }
      return r.json();
    });
  }
  function url(template, extra) {
    var v = Object.assign({ code: sel.indicator.value, areas: sel.areas.value,
      period: sel.period.value }, extra || {});
    return template.replace(/\{(\w+)\}/g, function (m, k) {
      return v[k] === undefined ? m : encodeURIComponent(v[k]);
    });
  }

  // ---- pickers -------------------------------------------------------------------------
  function fill(select, values, labels, wanted) {
    select.innerHTML = "";
    values.forEach(function (v, i) { select.add(new Option(labels ? labels[i] : v, v)); });
    select.value = values.indexOf(wanted) >= 0 ? wanted : values[values.length - 1];
  }
  function syncChoices(wantAreas, wantPeriod) {
    var ind = byCode[sel.indicator.value];
    var areas = ind.areas.map(function (s) { return areasBySlug[s]; });
    fill(sel.areas, areas.map(function (a) { return a.slug; }),
      areas.map(function (a) { return a.title + " (" + a.count + ")"; }),
      ind.areas.indexOf(wantAreas) >= 0 ? wantAreas : areas[0].slug);
    fill(sel.period, ind.periods, null, wantPeriod);
    $("indicator-description").textContent = ind.description || "";
  }

  // ---- legend and choropleth -----------------------------------------------------------
  function renderLegend(data, ind) {
    $("legend-title").textContent = ind.name + (ind.unit ? " [" + ind.unit + "]" : "") +
      ", " + data.period;
    var list = $("legend-items");
    list.innerHTML = "";
    data.classes.forEach(function (c) {
      var li = el("li");
      var sw = el("span", { "class": "swatch", "aria-hidden": "true" });
      sw.style.background = c.colour;
      li.appendChild(sw);
      li.appendChild(el("span", { "class": "range" }, c.from === c.to ? fmt(c.to, ind.decimals)
        : fmt(c.from, ind.decimals) + " – " + fmt(c.to, ind.decimals)));
      list.appendChild(li);
    });
    var nd = el("li", { "class": "nodata" });
    var sw = el("span", { "class": "swatch nodata", "aria-hidden": "true" });
    sw.style.background = data.no_data_colour;
    nd.appendChild(sw);
    nd.appendChild(el("span", { "class": "range" }, S.noData));
    list.appendChild(nd);
    $("legend-method").textContent = data.classes.length ?
      S.classes + ": " + (S.methods[data.method] || data.method) : "";
    $("legend-disputed").textContent = data.disputed_count ?
      tpl(S.disputedAreas, { n: data.disputed_count }) : "";
    $("source").textContent = S.source + ": " + ind.source;
  }

  function style(props) {
    var c = props["class"];
    var colour = (c === undefined || c === null || !legend.classes[c]) ? legend.no_data_colour
      : legend.classes[c].colour;
    return { fill: true, fillColor: colour, fillOpacity: cfg.fillOpacity, color: "#444",
      weight: 1 };
  }

  var drawing = 0;
  function draw() {
    var ind = byCode[sel.indicator.value], ticket = ++drawing;
    // For tests and tools: which indicator's legend is shown and whose tiles have all loaded.
    document.body.dataset.ready = "";
    document.body.dataset.tiles = "";
    return getJSON(url(cfg.urls.legend)).then(function (data) {
      if (ticket !== drawing) { return; }
      legend = data;
      renderLegend(data, ind);
      if (choropleth) { map.removeLayer(choropleth); }
      choropleth = L.vectorGrid.protobuf(url(cfg.urls.tiles), {
        pane: "choropleth",
        rendererFactory: L.canvas.tile,
        vectorTileLayerStyles: { indicator: style },
        interactive: false,
        maxNativeZoom: 16
      }).on("load", function () {
        if (ticket === drawing) { document.body.dataset.tiles = sel.indicator.value; }
      }).addTo(map);
      saveState();
      if (areaData) { renderArea(); }
      if (!$("table-view").hidden) { loadTable(); }
      document.body.dataset.ready = ind.code;
      if (window.performance && performance.mark) { performance.mark("portal-ready"); }
    }).catch(function () { $("legend-title").textContent = S.error; });
  }

  // ---- overlays ------------------------------------------------------------------------
  // VectorGrid's click does not say which MVT layer a feature came from, but the style
  // function sees each feature's properties object first: remember its layer there.
  var layerOf = new WeakMap();
  function overlayStyle(o) {
    return function (props) {
      layerOf.set(props, o.slug);
      if (/Point/.test(o.geometry)) {
        return { radius: 5, fill: true, fillColor: o.colour, fillOpacity: 1, color: "#1a1a1a",
          weight: 1 };
      }
      return { fill: /Polygon/.test(o.geometry), fillColor: o.colour, fillOpacity: 0.3,
        color: o.colour, weight: 2 };
    };
  }
  function checkedOverlays() {
    return Array.prototype.map.call(
      document.querySelectorAll("#overlays input:checked"), function (i) { return i.value; });
  }
  function updateOverlays() {
    var slugs = checkedOverlays();
    if (overlayGrid) { map.removeLayer(overlayGrid); overlayGrid = null; }
    if (slugs.length) {
      var styles = {};
      slugs.forEach(function (s) { styles[s] = overlayStyle(overlayBySlug[s]); });
      // One grid for all overlays: one canvas per tile, so every feature can be clicked.
      overlayGrid = L.vectorGrid.protobuf(url(cfg.urls.overlayTiles, { layers: slugs.join(",") }), {
        pane: "features",
        rendererFactory: L.canvas.tile,
        vectorTileLayerStyles: styles,
        interactive: true,
        maxNativeZoom: 16,
        attribution: slugs.map(function (s) { return attributionHtml(overlayBySlug[s].attribution); })
          .filter(Boolean).join(" · ")
      }).on("click", function (e) {
        showFeature(e.layer.properties, layerOf.get(e.layer.properties));
      }).addTo(map);
    }
    saveState();
  }

  function showFeature(props, layerName) {
    var o = overlayBySlug[layerName];
    var name = o && o.nameField && props[o.nameField];
    var body = el("div");
    body.appendChild(el("p", { "class": "muted" }, S.layer + ": " + (o ? o.title : "")));
    var dl = el("dl", { "class": "attributes" });
    Object.keys(props).forEach(function (k) {
      var v = props[k];
      if (v === null || v === undefined || v === "" || k === "id") { return; }
      dl.appendChild(el("dt", {}, k));
      var dd = el("dd");
      if (typeof v === "string" && (/^\/[^/]/.test(v) || /^https?:\/\//.test(v))) {
        dd.appendChild(el("a", { href: v }, v));
      } else {
        dd.textContent = typeof v === "number" ? v.toLocaleString(LANG) : String(v);
      }
      dl.appendChild(dd);
    });
    body.appendChild(el("h3", {}, S.attributes));
    body.appendChild(dl);
    if (o && o.attribution) { body.appendChild(el("p", { "class": "note" }, o.attribution)); }
    openDetail(name ? String(name) : (o ? o.title : ""), body, "feature");
  }

  // ---- area panel ----------------------------------------------------------------------
  function openDetail(title, body, kind) {
    var d = $("detail");
    if (d.hidden) { lastFocus = document.activeElement; }
    $("detail-title").textContent = title;
    var holder = $("detail-body");
    holder.innerHTML = "";
    holder.appendChild(body);
    d.dataset.kind = kind;
    d.hidden = false;
    d.focus();
  }
  function closeDetail() {
    var d = $("detail");
    if (d.hidden) { return; }
    d.hidden = true;
    areaData = null;
    state.area = "";
    if (highlight) { map.removeLayer(highlight); highlight = null; }
    saveState();
    if (lastFocus && lastFocus.focus) { lastFocus.focus(); }
  }
  $("detail-close").addEventListener("click", closeDetail);
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && !$("detail").hidden) { closeDetail(); }
  });

  function sparkline(series, ind) {
    var pts = series.filter(function (p) { return p.value !== null && p.value !== undefined; });
    if (pts.length < 2) { return null; }
    var w = 220, h = 48, pad = 6;
    var vals = pts.map(function (p) { return p.value; });
    var lo = Math.min.apply(null, vals), hi = Math.max.apply(null, vals);
    var span = hi - lo || 1;
    var xy = pts.map(function (p, i) {
      return [pad + i * (w - 2 * pad) / (pts.length - 1),
        h - pad - (p.value - lo) * (h - 2 * pad) / span];
    });
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 " + w + " " + h);
    svg.setAttribute("class", "sparkline");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", S.trend + ": " + pts.map(function (p) {
      return p.period + " " + withUnit(p.value, ind);
    }).join(", "));
    var line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", xy.map(function (p) { return p.join(","); }).join(" "));
    svg.appendChild(line);
    xy.forEach(function (p) {
      var c = document.createElementNS(ns, "circle");
      c.setAttribute("cx", p[0]); c.setAttribute("cy", p[1]); c.setAttribute("r", 3);
      svg.appendChild(c);
    });
    return svg;
  }

  // The same wording as the profile's box (portal/_discrepancy.html): each source with its
  // figure, the difference, and staff's explanation or "explanation pending".
  function discrepancyBox(d, ind) {
    var box = el("div", { "class": "discrepancy" + (d.reviewed ? "" : " pending"), role: "note" });
    box.appendChild(el("strong", {}, S.discrepancy));
    box.appendChild(el("p", {}, S.sourcesDiffer));
    var ul = el("ul", { "class": "by-source" });
    (d.figures || []).forEach(function (f) {
      var li = el("li");
      li.appendChild(el("span", { "class": "source" }, f.source));
      li.appendChild(document.createTextNode(": "));
      li.appendChild(el("span", { "class": "figure" }, withUnit(f.value, ind)));
      if (f.shown) { li.appendChild(el("span", { "class": "muted" }, " (" + S.figureShown + ")")); }
      ul.appendChild(li);
    });
    box.appendChild(ul);
    var diff = tpl(S.difference, { difference: withUnit(d.difference, ind) });
    if (d.allowed) { diff += " (" + tpl(S.allowed, { allowed: fmt(d.allowed, ind.decimals) }) + ")"; }
    box.appendChild(el("p", { "class": "muted" }, diff));
    var why = el("p", { "class": "explanation" + (d.reviewed ? "" : " pending") });
    if (d.reviewed) {
      why.appendChild(el("span", { "class": "label" },
        d.reviewed_on ? tpl(S.explainedOn, { date: d.reviewed_on }) : S.explained));
      why.appendChild(document.createTextNode(" " + d.explanation));
    } else {
      why.textContent = S.explanationPending;
    }
    box.appendChild(why);
    return box;
  }

  function renderArea() {
    var ind = byCode[sel.indicator.value];
    var row = areaData.indicators.filter(function (r) { return r.code === ind.code; })[0];
    var body = el("div");
    if (areaData.detail) { body.appendChild(el("p", { "class": "muted" }, areaData.detail)); }
    body.appendChild(el("p", { "class": "muted" }, areaData.layer_title));
    var p = row && row.periods.filter(function (x) { return x.period === sel.period.value; })[0];
    body.appendChild(el("h3", {}, ind.name));
    var dl = el("dl", { "class": "figures" });
    function add(label, value, cls) {
      dl.appendChild(el("dt", {}, label));
      dl.appendChild(el("dd", cls ? { "class": cls } : {}, value));
    }
    var value = p ? p.value : null;
    add(S.value + " (" + sel.period.value + ")", withUnit(value, ind),
      value === null || value === undefined ? "value nodata" : "value");
    if (p && p.rank) {
      add(S.rank, tpl(S.rankOf, { rank: p.rank, n: p.of }) + " · " +
        (ind.polarity === "lower" ? S.rankLow : S.rankHigh), "rank");
    }
    if (p && p.city !== null && p.city !== undefined) { add(S.city, withUnit(p.city, ind)); }
    var boxed = p && p.discrepancies && p.discrepancies.length;
    // "disputed" is said by the discrepancy box below, with the figures; as on the profile.
    if (p && p.status && p.status !== "ok" && p.status !== "missing" &&
        !(p.status === "disputed" && boxed)) {
      add(S.status, p.status_label || p.status);
    }
    if (p && p.note) { add(S.note, p.note); }
    body.appendChild(dl);
    if (boxed) { p.discrepancies.forEach(function (d) {
      body.appendChild(discrepancyBox(d, ind));
    }); }
    if (row && row.periods.length > 1) {
      body.appendChild(el("h3", {}, S.trend));
      var svg = sparkline(row.periods, ind);
      if (svg) { body.appendChild(svg); }
      var ul = el("ul", { "class": "trend" });
      row.periods.forEach(function (x) {
        ul.appendChild(el("li", {}, x.period + ": " + withUnit(x.value, ind)));
      });
      body.appendChild(ul);
    }
    body.appendChild(el("p", { "class": "note" }, S.source + ": " +
      (p && p.source ? p.source : ind.source)));
    var links = el("p", { "class": "links" });
    links.appendChild(el("a", { href: url(cfg.urls.profile, { slug: areaData.slug }),
      "class": "profile" }, S.profile));
    links.appendChild(document.createTextNode(" · "));
    links.appendChild(el("a", { href: url(cfg.urls.compare, { slugs: areaData.slug }) },
      S.compare));
    body.appendChild(links);
    openDetail(areaData.name, body, "area");
  }

  function openArea(slug) {
    var d = $("detail");
    d.setAttribute("aria-busy", "true");
    return getJSON(url(cfg.urls.area, { slug: slug })).then(function (data) {
      areaData = data;
      state.area = slug;
      if (highlight) { map.removeLayer(highlight); }
      highlight = L.geoJSON(data.outline, { pane: "highlight", interactive: false,
        style: { color: "#000", weight: 3, fill: false, dashArray: "6 3" } }).addTo(map);
      renderArea();
      saveState();
    }).catch(function () {
      openDetail(S.area, el("p", {}, S.error), "error");
    }).then(function () { d.removeAttribute("aria-busy"); });
  }

  // Areas are found by the server (point in polygon in PostGIS), not by the tiles: with an
  // overlay on top, VectorGrid's canvas swallows clicks that hit none of its features, and
  // Leaflet's map "click" never fires. So the container's DOM click is used.
  var downAt = null;
  map.getContainer().addEventListener("mousedown", function (e) {
    downAt = [e.clientX, e.clientY];
  });
  map.getContainer().addEventListener("click", function (e) {
    if (e.target.closest(".leaflet-control")) { return; }
    if (downAt && Math.abs(e.clientX - downAt[0]) + Math.abs(e.clientY - downAt[1]) > 6) {
      return;  // the end of a drag, not a click
    }
    if (e._stopped) { return; }  // the click opened a feature
    var ll = map.mouseEventToLatLng(e);
    getJSON(url(cfg.urls.at, { lat: ll.lat.toFixed(6), lon: ll.lng.toFixed(6) }))
      .then(function (a) { openArea(a.slug); })
      .catch(function () { closeDetail(); });
  });

  // ---- table equivalent ----------------------------------------------------------------
  function loadTable() {
    var ind = byCode[sel.indicator.value];
    var view = $("table-view");
    view.setAttribute("aria-busy", "true");
    return getJSON(url(cfg.urls.table)).then(function (data) {
      view.innerHTML = "";
      var table = el("table", { "class": "data" });
      table.appendChild(el("caption", { id: "table-caption" }, tpl(S.tableCaption, {
        indicator: ind.name + (ind.unit ? " [" + ind.unit + "]" : ""),
        areas: data.areas_title, period: data.period })));
      var head = el("tr");
      [S.rank, S.area, S.value].forEach(function (h, i) {
        head.appendChild(el("th", { scope: "col", "class": i !== 1 ? "num" : "" }, h));
      });
      var thead = el("thead"); thead.appendChild(head); table.appendChild(thead);
      var tbody = el("tbody");
      data.rows.forEach(function (r) {
        var tr = el("tr");
        tr.appendChild(el("td", { "class": "num" }, r.rank ? String(r.rank) : "–"));
        // The area's name opens its panel: the keyboard way to what a click on the map does.
        var th = el("th", { scope: "row" });
        th.appendChild(el("button", { type: "button", "class": "link", "data-slug": r.slug },
          r.name));
        if (r.detail) { th.appendChild(el("span", { "class": "muted block" }, r.detail)); }
        tr.appendChild(th);
        var td = el("td", { "class": r.value === null ? "num nodata" : "num" },
          withUnit(r.value, ind));
        // Open the area for each source's figure and the explanation.
        if (r.discrepancies && r.discrepancies.length) {
          td.appendChild(el("span", { "class": "muted block disputed" }, S.discrepancy));
        }
        tr.appendChild(td);
        tbody.appendChild(tr);
      });
      table.appendChild(tbody);
      view.appendChild(table);
      view.removeAttribute("aria-busy");
    }).catch(function () { view.textContent = S.error; });
  }
  $("table-view").addEventListener("click", function (e) {
    var slug = e.target && e.target.getAttribute && e.target.getAttribute("data-slug");
    if (slug) { openArea(slug); }
  });
  $("table-toggle").addEventListener("click", function () {
    var view = $("table-view"), btn = $("table-toggle");
    var show = view.hidden;
    view.hidden = !show;
    btn.setAttribute("aria-expanded", String(show));
    btn.textContent = show ? S.showMap : S.showTable;
    if (show) { loadTable().then(function () { view.focus(); }); } else { map.invalidateSize(); }
  });

  // ---- address -------------------------------------------------------------------------
  function saveState() {
    var c = map.getCenter();
    var q = new URLSearchParams();
    q.set("indicator", sel.indicator.value);
    q.set("areas", sel.areas.value);
    q.set("period", sel.period.value);
    if (state.area) { q.set("area", state.area); }
    var layers = checkedOverlays();
    if (layers.length) { q.set("layers", layers.join(",")); }
    var address = "?" + q.toString() + "#" + map.getZoom() + "/" + c.lat.toFixed(5) + "/" +
      c.lng.toFixed(5);
    history.replaceState(null, "", address);
    // The language switch returns to this very view.
    Array.prototype.forEach.call(document.querySelectorAll(".lang a"), function (a) {
      var url = new URL(a.href);
      url.searchParams.set("next", window.location.pathname + address);
      a.href = url.toString();
    });
  }

  sel.indicator.value = state.indicator;
  syncChoices(state.areas, state.period);
  sel.indicator.addEventListener("change", function () {
    syncChoices(sel.areas.value);
    draw();
  });
  sel.areas.addEventListener("change", function () {
    if (areaData && areaData.layer !== sel.areas.value) { closeDetail(); }
    draw();
  });
  sel.period.addEventListener("change", draw);
  (state.layers || []).forEach(function (s) {
    var box = document.querySelector('#overlays input[value="' + s + '"]');
    if (box) { box.checked = true; }
  });
  Array.prototype.forEach.call(document.querySelectorAll("#overlays input"), function (box) {
    box.addEventListener("change", updateOverlays);
  });
  // Each layer's colour, set through the style object (the page has no style attributes: CSP).
  Array.prototype.forEach.call(document.querySelectorAll("#overlays .dot[data-colour]"),
    function (dot) { dot.style.background = dot.dataset.colour; });
  map.on("moveend", saveState);
  if (state.layers && state.layers.length) { updateOverlays(); }
  draw().then(function () { if (state.area) { openArea(state.area); } });
}());
