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
  Array.prototype.forEach.call(document.querySelectorAll("#overlays .dot[data-colour]"),
    function (dot) { dot.style.background = dot.getAttribute("data-colour"); });

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
  else if (window.matchMedia("(max-width: 700px)").matches) { map.setZoom(cfg.zoom - 1); }

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
  // A class holds the values above the previous class's upper bound up to its own (the
  // first: from the smallest value). Labels say so ("> 0 – 0,79" after "0"), so that no
  // value seems to belong to two classes. One-value classes show the value alone.
  function classLabel(c, i, data, ind) {
    if (c.from === c.to) { return fmt(c.to, ind.decimals); }
    var from = fmt(c.from, ind.decimals), to = fmt(c.to, ind.decimals);
    return i > 0 && data.method !== "unique values" ? tpl(S.classAbove, { from: from, to: to })
      : from + " – " + to;
  }

  function renderLegend(data, ind) {
    $("legend-title").textContent = ind.name + (ind.unit ? " [" + ind.unit + "]" : "") +
      ", " + data.period;
    var list = $("legend-items");
    list.innerHTML = "";
    data.classes.forEach(function (c, i) {
      var li = el("li");
      var sw = el("span", { "class": "swatch", "aria-hidden": "true" });
      sw.style.background = c.colour;
      li.appendChild(sw);
      li.appendChild(el("span", { "class": "range" }, classLabel(c, i, data, ind)));
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
        showFeature(e.layer.properties, layerOf.get(e.layer.properties), e.latlng);
      }).addTo(map);
    }
    saveState();
  }

  // A value as its field's display type says (layers/schema.py): identifiers (RSPO numbers,
  // postcodes) as written, never as formatted numbers; links only for web addresses.
  function displayValue(v, display) {
    if (typeof v === "boolean") { return document.createTextNode(v ? S.yes : S.no); }
    var text = String(v);
    if (display === "url" && /^(https?:\/\/|\/[^\/])/i.test(text)) {
      return el("a", { href: text, rel: "noopener nofollow" }, text);
    }
    if (display === "email" && /^[^@\s]+@[^@\s]+$/.test(text)) {
      return el("a", { href: "mailto:" + text }, text);
    }
    if (display === "number" && typeof v === "number") {
      return document.createTextNode(v.toLocaleString(LANG));
    }
    if (display === "date" && /^\d{4}-\d{2}-\d{2}$/.test(text)) {
      var d = text.split("-").map(Number);
      return document.createTextNode(new Date(d[0], d[1] - 1, d[2]).toLocaleDateString(LANG));
    }
    return document.createTextNode(text);
  }

  function showFeature(props, layerName, latlng) {
    var o = overlayBySlug[layerName];
    var name = o && o.nameField && props[o.nameField];
    var body = el("div");
    body.appendChild(el("p", { "class": "muted" }, S.layer + ": " + (o ? o.title : "")));
    var where = el("p", { "class": "links", id: "feature-area" });
    body.appendChild(where);
    var dl = el("dl", { "class": "attributes" });
    var fields = (o && o.fields) || [];
    var known = {};
    fields.forEach(function (f) { known[f.name] = f; });
    var keys = fields.map(function (f) { return f.name; }).concat(
      Object.keys(props).filter(function (k) { return !known[k]; }));
    keys.forEach(function (k) {
      var v = props[k], f = known[k] || { label: k, display: "text" };
      if (v === null || v === undefined || v === "" || k === "id" ||
          (o && k === o.nameField)) { return; }
      dl.appendChild(el("dt", {}, f.label));
      var dd = el("dd");
      dd.appendChild(displayValue(v, f.display));
      dl.appendChild(dd);
    });
    body.appendChild(el("h3", {}, S.attributes));
    body.appendChild(dl);
    if (o && o.attribution) { body.appendChild(el("p", { "class": "note" }, o.attribution)); }
    openDetail(name ? String(name) : (o ? o.title : ""), body, "feature");
    // The area the feature lies in, with the indicator's value a click away.
    if (latlng) {
      getJSON(url(cfg.urls.at, { lat: latlng.lat.toFixed(6), lon: latlng.lng.toFixed(6) }))
        .then(function (a) {
          where.appendChild(document.createTextNode(S.inArea + " "));
          var b = el("button", { type: "button", "class": "link", "data-slug": a.slug }, a.name);
          b.addEventListener("click", function () {
            openArea(a.slug, true, [latlng.lat, latlng.lng]);
          });
          where.appendChild(b);
        }).catch(function () { /* outside every area: nothing to add */ });
    }
  }

  // ---- area panel ----------------------------------------------------------------------
  // On a phone the panel is a sheet over the bottom of the screen: the map stays visible
  // above it (portal.css), the page scrolls the map into view, and the view is fitted to the
  // part of the map the sheet leaves free.
  var phone = window.matchMedia("(max-width: 700px)");
  function freeOfSheet() {
    var d = $("detail"), m = map.getContainer().getBoundingClientRect();
    if (d.hidden) { return 0; }
    return Math.max(0, m.bottom - d.getBoundingClientRect().top);
  }
  function fitVisible(bounds, maxZoom) {
    map.fitBounds(bounds, { paddingTopLeft: [16, 16],
      paddingBottomRight: [16, 16 + freeOfSheet()], maxZoom: maxZoom || 15 });
  }
  function openDetail(title, body, kind) {
    var d = $("detail");
    if (d.hidden) { lastFocus = document.activeElement; }
    $("detail-title").textContent = title;
    var holder = $("detail-body");
    holder.innerHTML = "";
    holder.appendChild(body);
    d.dataset.kind = kind;
    d.hidden = false;
    d.scrollTop = 0;
    document.querySelector(".map-wrap").classList.add("detail-open");
    if (phone.matches && $("table-view").hidden) {
      map.getContainer().scrollIntoView({ block: "start" });
    }
    d.focus({ preventScroll: true });
  }
  function closeDetail() {
    var d = $("detail");
    if (d.hidden) { return; }
    d.hidden = true;
    document.querySelector(".map-wrap").classList.remove("detail-open");
    areaData = null;
    state.area = "";
    document.body.dataset.area = "";
    if (highlight) { map.removeLayer(highlight); highlight = null; }
    saveState();
    if (lastFocus && lastFocus.focus) { lastFocus.focus({ preventScroll: true }); }
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
      li.appendChild(el("span", { "class": "source" }, f.label || f.source));
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
    // The links first: on a phone's sheet they are in reach without scrolling inside it.
    var links = el("p", { "class": "links" });
    links.appendChild(el("a", { href: url(cfg.urls.profile, { slug: areaData.slug }),
      "class": "profile" }, S.profile));
    links.appendChild(el("a", { href: url(cfg.urls.compare, { slugs: areaData.slug }),
      "class": "compare" }, S.compare));
    links.appendChild(el("a", { href: cfg.urls.report + "?lat=" + encodeURIComponent(
      areaData.point[0]) + "&lon=" + encodeURIComponent(areaData.point[1]),
      "class": "report" }, S.reportHere));
    body.appendChild(links);
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
      add(S.rank, tpl(S.rankOf, { rank: p.rank, n: p.of }) + " · " + ind.rank_note, "rank");
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
      (p && p.source_label ? p.source_label : ind.source)));
    openDetail(areaData.name, body, "area");
  }

  // `fit`: bring the area into view (when it was found by search or location, and on
  // phones, where the sheet may cover the spot that was tapped).
  function openArea(slug, fit, at) {
    var d = $("detail");
    d.setAttribute("aria-busy", "true");
    return getJSON(url(cfg.urls.area, { slug: slug })).then(function (data) {
      areaData = data;
      areaData.point = at || areaData.point;
      state.area = slug;
      if (highlight) { map.removeLayer(highlight); }
      highlight = L.geoJSON(data.outline, { pane: "highlight", interactive: false,
        style: { color: "#000", weight: 3, fill: false, dashArray: "6 3" } }).addTo(map);
      renderArea();
      if (fit || phone.matches) { fitVisible(highlight.getBounds()); }
      saveState();
      document.body.dataset.area = slug;  // for tests and tools: which area's panel is open
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
      .then(function (a) { openArea(a.slug, false, [ll.lat, ll.lng]); })
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
    // The table lists every area's value: an open panel would only hide part of it.
    if (show) { closeDetail(); }
    view.hidden = !show;
    btn.setAttribute("aria-expanded", String(show));
    btn.textContent = show ? S.showMap : S.showTable;
    if (show) { loadTable().then(function () { view.focus(); }); } else { map.invalidateSize(); }
  });

  // ---- finding the way: my location and the search ------------------------------------
  var here = null;  // the marker of the visitor's position or of a place found
  function mark(lat, lon, label) {
    if (here) { map.removeLayer(here); }
    here = L.circleMarker([lat, lon], { pane: "features", radius: 8, color: "#fff", weight: 3,
      fillColor: "#d55e00", fillOpacity: 1, interactive: false }).addTo(map);
    if (label) { here.bindTooltip(label, { permanent: false }); }
  }
  function status(text) { $("map-status").textContent = text || ""; }

  // The area of the map's current areas layer at a point, opened with its value; or a
  // message when the point lies outside every area.
  function openAreaAt(lat, lon, outside) {
    return getJSON(url(cfg.urls.at, { lat: lat.toFixed(6), lon: lon.toFixed(6) }))
      .then(function (a) { return openArea(a.slug, true, [lat, lon]); })
      .catch(function () { map.setView([lat, lon], 14); status(outside); });
  }

  function locate() {
    if (!navigator.geolocation) { status(S.noGeolocation); return; }
    status(S.locating);
    navigator.geolocation.getCurrentPosition(function (pos) {
      var lat = pos.coords.latitude, lon = pos.coords.longitude;
      mark(lat, lon, S.youAreHere);
      status(S.located);
      openAreaAt(lat, lon, S.outsideAreas);
    }, function () { status(S.geolocationDenied); },
    { enableHighAccuracy: false, timeout: 15000, maximumAge: 60000 });
  }
  var LocateControl = L.Control.extend({
    options: { position: "topleft" },
    onAdd: function () {
      var box = L.DomUtil.create("div", "leaflet-bar leaflet-control locate-control");
      var b = L.DomUtil.create("button", "locate", box);
      b.type = "button";
      b.id = "locate";
      b.title = S.myLocation;
      b.setAttribute("aria-label", S.myLocation);
      // A crosshair, drawn (no image file, no inline markup from strings).
      var ns = "http://www.w3.org/2000/svg", svg = document.createElementNS(ns, "svg");
      svg.setAttribute("viewBox", "0 0 24 24");
      svg.setAttribute("aria-hidden", "true");
      [["circle", { cx: 12, cy: 12, r: 5 }], ["path", { d: "M12 1v5M12 18v5M1 12h5M18 12h5" }]]
        .forEach(function (shape) {
          var node = document.createElementNS(ns, shape[0]);
          Object.keys(shape[1]).forEach(function (k) { node.setAttribute(k, shape[1][k]); });
          svg.appendChild(node);
        });
      b.appendChild(svg);
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.on(b, "click", function (e) { L.DomEvent.preventDefault(e); locate(); });
      return box;
    }
  });
  new LocateControl().addTo(map);

  function showResults(data) {
    var box = $("search-results");
    box.replaceChildren();
    if (!data.results.length) { box.appendChild(el("p", { "class": "note" }, S.noResults)); return; }
    box.appendChild(el("p", { "class": "note" }, tpl(S.resultsFound, { n: data.results.length })));
    var ul = el("ul", { "class": "results" });
    data.results.forEach(function (r) {
      var li = el("li");
      var b = el("button", { type: "button", "class": "link result", "data-kind": r.kind,
        "data-layer": r.layer }, r.name);
      b.addEventListener("click", function () { choose(r); });
      li.appendChild(b);
      li.appendChild(el("span", { "class": "muted" }, " · " + (r.kind === "area" && r.detail
        ? r.detail + " · " : "") + r.layer_title));
      ul.appendChild(li);
    });
    box.appendChild(ul);
  }
  function choose(r) {
    status("");
    if (r.kind === "area") {
      if (r.layer !== sel.areas.value && byCode[sel.indicator.value].areas.indexOf(r.layer) >= 0) {
        sel.areas.value = r.layer;
        draw();
      }
      mark(r.lat, r.lon, r.name);
      openArea(r.slug, true, [r.lat, r.lon]);
      return;
    }
    var box = document.querySelector('#overlays input[value="' + CSS.escape(r.layer) + '"]');
    if (box && !box.checked) { box.checked = true; updateOverlays(); }
    mark(r.lat, r.lon, r.name);
    map.setView([r.lat, r.lon], Math.max(map.getZoom(), 15));
    showFeature(r.properties || {}, r.layer, L.latLng(r.lat, r.lon));
  }
  $("search").addEventListener("submit", function (e) {
    e.preventDefault();
    var q = $("search-q").value.trim();
    if (q.length < 2) { status(S.searchTooShort); return; }
    $("search-results").setAttribute("aria-busy", "true");
    getJSON(url(cfg.urls.search, { q: q })).then(showResults)
      .catch(function () { status(S.error); })
      .then(function () { $("search-results").removeAttribute("aria-busy"); });
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
