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

  // ---- sending ---------------------------------------------------------------------------
  // The form is sent without leaving the page, so that after a refusal (a missing place, too
  // many reports in an hour...) everything stays as it was, the chosen photos included: a
  // browser empties file inputs on every page load. The server's answer is the same page as
  // without this script; its error summary and the errors next to the fields are taken over.
  var sendStatus = document.getElementById("send-status");
  var button = form.querySelector("button[type=submit].primary");
  var sending = false;

  function focusSummary() {
    var summary = document.getElementById("error-summary");
    if (summary) { summary.scrollIntoView({ block: "start" }); summary.focus(); }
  }

  function takeOver(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var next = doc.getElementById("error-summary");
    var main = form.parentNode;
    ["error-summary", "dups-section"].forEach(function (id) {
      var old = document.getElementById(id);
      if (old) { old.remove(); }
    });
    if (!next) {
      // Not the form again (e.g. "the photos are too large"): show the page's message.
      next = el("div", { id: "error-summary", "class": "rp-errors", role: "alert", tabindex: "-1" });
      var found = doc.querySelector("main [role=alert], main h1");
      next.textContent = found ? found.textContent.trim() : cfg.strings.sendFailed;
    }
    var dups = doc.getElementById("dups-section");
    if (dups) { main.insertBefore(document.importNode(dups, true), form); }
    next = document.importNode(next, true);
    var kept = next.querySelector("#photos-again");
    if (kept) { kept.remove(); }  // the photos are still chosen: nothing to do again
    main.insertBefore(next, document.getElementById("dups-section") || form);
    // Errors next to the fields, and the fields' invalid state.
    form.querySelectorAll(".errorlist").forEach(function (ul) { ul.remove(); });
    var sent = doc.getElementById("report-form");
    if (sent) {
      sent.querySelectorAll(".errorlist[id]").forEach(function (ul) {
        var id = ul.id, copy = document.importNode(ul, true);
        if (id === "place-errors") {
          var pick = document.getElementById("pick-map");
          pick.parentNode.insertBefore(copy, pick);
        } else {
          var target = document.getElementById(id.replace(/_error$/, ""));
          if (target) { target.insertAdjacentElement("afterend", copy); }
        }
      });
      form.querySelectorAll("input[id], select[id], textarea[id], #pick-map").forEach(function (f) {
        var twin = sent.querySelector("#" + CSS.escape(f.id));
        ["aria-invalid", "aria-describedby"].forEach(function (a) {
          if (twin && twin.hasAttribute(a)) { f.setAttribute(a, twin.getAttribute(a)); }
          else if (a === "aria-invalid") { f.removeAttribute(a); }
        });
      });
      var seenNext = sent.querySelector("input[name=duplicates_seen]");
      if (seenNext) { seen.value = seenNext.value; }
      var details = form.querySelector("details");
      if (details && sent.querySelector("details[open]")) { details.open = true; }
    }
    focusSummary();
  }

  form.addEventListener("submit", function (e) {
    if (photos.files.length > cfg.maxPhotos) { e.preventDefault(); photos.reportValidity(); return; }
    if (!window.fetch || !window.FormData || !window.DOMParser) { return; }  // a plain send
    e.preventDefault();
    if (sending) { return; }
    sending = true;
    button.disabled = true;
    sendStatus.textContent = cfg.strings.sending;
    fetch(form.action || window.location.href, { method: "POST", body: new FormData(form),
      credentials: "same-origin" })
      .then(function (r) {
        if (r.redirected) { window.location.assign(r.url); return null; }
        return r.text().then(takeOver);
      })
      .catch(function () { sendStatus.textContent = cfg.strings.sendFailed; })
      .then(function () {
        sending = false;
        button.disabled = false;
        if (sendStatus.textContent === cfg.strings.sending) { sendStatus.textContent = ""; }
      });
  });

  // After a send refused without this script (the page came back from the server).
  focusSummary();
})();
