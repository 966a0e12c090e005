// Meridian console: live updates. The server announces every new snapshot
// version on /events; the page then fetches itself and swaps the parts
// marked data-live. Every 10 s it refreshes too, for heartbeat numbers.
(function () {
  "use strict";
  var live = document.getElementById("live");
  var parts = document.querySelectorAll("[data-live]");
  var shown = Number(document.body.dataset.version || 0);
  var busy = false, again = false;

  function status(text, off) {
    if (!live) return;
    live.textContent = text;
    live.classList.toggle("off", !!off);
  }

  function refresh() {
    if (parts.length === 0) return;
    if (busy) { again = true; return; }
    busy = true;
    fetch(location.href, { headers: { "X-Console-Live": "1" }, credentials: "same-origin", cache: "no-store" })
      .then(function (res) {
        if (res.status === 401) { location.assign("/login"); throw new Error("logged out"); }
        if (!res.ok) throw new Error("HTTP " + res.status);
        return res.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var focused = document.activeElement && document.activeElement.id;
        // Keep what the reader opened or closed.
        var opened = {};
        document.querySelectorAll("[data-live] details[id]").forEach(function (d) { opened[d.id] = d.open; });
        parts.forEach(function (el) {
          var fresh = el.id && doc.getElementById(el.id);
          if (fresh) el.replaceChildren.apply(el, Array.from(fresh.childNodes).map(function (n) { return document.adoptNode(n); }));
        });
        Object.keys(opened).forEach(function (id) {
          var d = document.getElementById(id);
          if (d) d.open = opened[id];
        });
        if (focused && document.activeElement === document.body) {
          var f = document.getElementById(focused);
          if (f) f.focus();
        }
        var v = Number(doc.body.dataset.version || 0);
        if (v) { shown = v; status("snapshot " + v); }
        document.body.dataset.version = String(shown);
      })
      .catch(function () {})
      .finally(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  if (window.EventSource) {
    var es = new EventSource("/events");
    es.addEventListener("version", function (e) {
      var v = Number(e.data);
      status("snapshot " + v);
      if (v !== shown) refresh();
    });
    es.onerror = function () {
      if (es.readyState === EventSource.CLOSED) {
        status("not live", true);
        // The stream is refused when the session ended: then go to the
        // login form.
        fetch(location.href, { headers: { "X-Console-Live": "1" }, credentials: "same-origin", cache: "no-store" })
          .then(function (res) { if (res.status === 401) location.assign("/login"); })
          .catch(function () {});
      } else {
        status("reconnecting…", true);
      }
    };
  }
  setInterval(function () { if (!document.hidden) refresh(); }, 10000);
})();
