/* Redaction: drag a rectangle over a photo; its coordinates in the image's own pixels fill the
   form (which can also be filled by hand). */
"use strict";
(function () {
  document.querySelectorAll(".redact-wrap").forEach(function (wrap) {
    var img = wrap.querySelector("img");
    var form = document.getElementById(wrap.getAttribute("data-form"));
    var natural = { w: +wrap.getAttribute("data-width"), h: +wrap.getAttribute("data-height") };
    var box = document.createElement("div");
    box.className = "redact-box";
    box.hidden = true;
    wrap.appendChild(box);
    var start = null;

    function local(e) {
      var r = img.getBoundingClientRect();
      return { x: Math.min(Math.max(e.clientX - r.left, 0), r.width),
               y: Math.min(Math.max(e.clientY - r.top, 0), r.height), r: r };
    }
    function update(a, b) {
      var x = Math.min(a.x, b.x), y = Math.min(a.y, b.y);
      var w = Math.abs(a.x - b.x), h = Math.abs(a.y - b.y);
      Object.assign(box.style, { left: x + "px", top: y + "px", width: w + "px", height: h + "px" });
      box.hidden = false;
      var sx = natural.w / b.r.width, sy = natural.h / b.r.height;
      var px = Math.floor(x * sx), py = Math.floor(y * sy);
      form.x.value = px;
      form.y.value = py;
      form.width.value = Math.max(1, Math.min(natural.w - px, Math.ceil(w * sx)));
      form.height.value = Math.max(1, Math.min(natural.h - py, Math.ceil(h * sy)));
    }
    wrap.addEventListener("pointerdown", function (e) {
      start = local(e);
      wrap.setPointerCapture(e.pointerId);
      e.preventDefault();
    });
    wrap.addEventListener("pointermove", function (e) { if (start) { update(start, local(e)); } });
    wrap.addEventListener("pointerup", function (e) { if (start) { update(start, local(e)); start = null; } });
  });
})();
