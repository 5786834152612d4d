// mle3 site: search over ids and titles, and the matrix filter. No network, no eval.
(function () {
  "use strict";
  function ready(fn) { if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); } }
  ready(function () {
    var root = document.body.getAttribute("data-root") || "";
    var box = document.getElementById("search");
    var list = document.getElementById("search-results");
    var index = window.MLE3_INDEX || [];
    if (box && list) {
      box.addEventListener("input", function () {
        var q = box.value.trim().toLowerCase();
        while (list.firstChild) { list.removeChild(list.firstChild); }
        if (!q) { list.hidden = true; return; }
        var hits = index.filter(function (e) { return e.id.toLowerCase().indexOf(q) >= 0 || e.title.toLowerCase().indexOf(q) >= 0; }).slice(0, 50);
        hits.forEach(function (e) {
          var li = document.createElement("li");
          var a = document.createElement("a");
          a.href = root + e.url;
          a.textContent = e.id + (e.title ? " — " + e.title : "") + " (" + e.kind + ")";
          li.appendChild(a);
          list.appendChild(li);
        });
        list.hidden = hits.length === 0;
      });
    }
    var filter = document.getElementById("matrix-filter");
    var gaps = document.getElementById("only-gaps");
    var table = document.getElementById("matrix");
    var count = document.getElementById("matrix-count");
    function apply() {
      var q = filter.value.trim().toLowerCase();
      var shown = 0;
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        var ok = (!q || row.getAttribute("data-text").indexOf(q) >= 0) && (!gaps.checked || row.getAttribute("data-gaps") === "1");
        row.hidden = !ok;
        if (ok) { shown += 1; }
      });
      count.textContent = shown + " of " + table.tBodies[0].rows.length + " requirements shown";
    }
    if (filter && gaps && table) {
      filter.addEventListener("input", apply);
      gaps.addEventListener("change", apply);
      apply();
    }
  });
})();
