/* The report form: pick a point (tap or the phone's location), category questions, duplicate
   suggestions with "me too", photo count check. Works as a plain form without JavaScript. */
"use strict";
(function () {
  var cfg = ReportsMap.config();
  var el = ReportsMap.el;
  var form = document.getElementById("report-form");
  var lat = document.getElementById("id_lat");
  var lon = document.getElementById("id_lon");
  var category = document.getElementById("id_category");
  var status = document.getElementById("point-status");
  var nearby = document.getElementById("nearby");
  var seen = form.querySelector("input[name=duplicates_seen]");
  var photos = document.getElementById("id_photos");
  var categories = {};
  cfg.categories.forEach(function (c) { categories[c.slug] = c; });

  var map = ReportsMap.create("pick-map", cfg);
  var marker = null;

  function fmt(x) { return Number(x).toFixed(6); }

  function setPoint(latlng, zoom) {
    lat.value = fmt(latlng.lat);
    lon.value = fmt(latlng.lng);
    if (marker) { marker.setLatLng(latlng); } else {
      marker = L.marker(latlng, { draggable: true }).addTo(map);
      marker.on("dragend", function () { setPoint(marker.getLatLng()); });
    }
    if (zoom) { map.setView(latlng, zoom); }
    status.textContent = cfg.strings.pointChosen.replace("%(lat)s", lat.value).replace("%(lon)s", lon.value);
    checkNearby();
  }

  map.on("click", function (e) { setPoint(e.latlng); });
  if (lat.value && lon.value) { setPoint(L.latLng(+lat.value, +lon.value), 16); }
  [lat, lon].forEach(function (input) {
    input.addEventListener("change", function () {
      if (lat.value && lon.value) { setPoint(L.latLng(+lat.value, +lon.value), 16); }
    });
  });

  document.getElementById("locate").addEventListener("click", function () {
    if (!navigator.geolocation) { status.textContent = cfg.strings.noGeolocation; return; }
    navigator.geolocation.getCurrentPosition(function (pos) {
      setPoint(L.latLng(pos.coords.latitude, pos.coords.longitude), 17);
      status.textContent = cfg.strings.located + " " + status.textContent;
    }, function () { status.textContent = cfg.strings.geolocationDenied; },
    { enableHighAccuracy: true, timeout: 15000 });
  });

  function showCategory() {
    var slug = category.value;
    document.querySelectorAll("fieldset.questions").forEach(function (fs) {
      var on = fs.getAttribute("data-category") === slug;
      fs.hidden = !on;
      fs.disabled = !on;
    });
    var c = categories[slug];
    document.getElementById("category-help").textContent = c ? c.description : "";
    document.getElementById("photo-required").hidden = !(c && c.photoRequired);
    checkNearby();
  }
  category.addEventListener("change", showCategory);
  showCategory();

  var pending = 0;
  function checkNearby() {
    if (!category.value || !lat.value || !lon.value) { nearby.hidden = true; return; }
    var ticket = ++pending;
    var url = cfg.nearbyUrl + "?" + new URLSearchParams({ category: category.value, lat: lat.value, lon: lon.value });
    fetch(url).then(function (r) { return r.ok ? r.json() : null; }).then(function (data) {
      if (ticket !== pending || !data) { return; }
      nearby.replaceChildren();
      seen.value = "on";  // the resident has been shown what is nearby
      nearby.hidden = false;
      if (!data.reports.length) {
        nearby.appendChild(el("p", { "class": "meta" }, cfg.strings.noSimilar));
        return;
      }
      nearby.appendChild(el("h2", null, cfg.strings.similar));
      var list = el("ul");
      data.reports.forEach(function (r) {
        var li = el("li");
        li.appendChild(el("a", { href: r.url, target: "_blank", rel: "noopener" }, r.title));
        li.appendChild(document.createTextNode(" · " + r.status_label + " · " + r.distance_m + " m "));
        var support = el("form", { method: "post", action: r.support_url });
        var token = form.querySelector("input[name=csrfmiddlewaretoken]").cloneNode();
        var email = el("input", { type: "hidden", name: "email" });
        support.appendChild(token);
        support.appendChild(email);
        var button = el("button", { type: "submit", "class": "secondary" }, cfg.strings.meToo);
        support.appendChild(button);
        support.addEventListener("submit", function () {
          email.value = document.getElementById("id_email").value;
        });
        li.appendChild(support);
        list.appendChild(li);
      });
      nearby.appendChild(list);
    });
  }

  photos.addEventListener("change", function () {
    photos.setCustomValidity(photos.files.length > cfg.maxPhotos ? cfg.strings.tooManyPhotos : "");
    photos.reportValidity();
  });
  form.addEventListener("submit", function (e) {
    if (photos.files.length > cfg.maxPhotos) { e.preventDefault(); photos.reportValidity(); }
  });
})();
