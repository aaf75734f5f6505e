// extract.js: what the status page shows, as data (page_check.py --eval).
(function () {
  function txt(el) { return el ? (el.textContent || "").trim().replace(/\s+/g, " ") : null; }
  function cells(tr) { return Array.prototype.map.call(tr.cells, function (c) { return {text: txt(c), cls: c.className, title: c.title || null}; }); }
  var out = {regions: {}, instances: {}, publishers: {}, timeline: {versions: [], rows: {}},
             errors: txt(document.getElementById("errors")), refreshes: document.body.getAttribute("data-refreshes"),
             subtitle: txt(document.getElementById("subtitle"))};
  document.querySelectorAll("#regions tbody tr[data-region]").forEach(function (tr) {
    out.regions[tr.getAttribute("data-region")] = {cells: cells(tr), cls: tr.className};
  });
  document.querySelectorAll("#regions tbody tr[data-instance]").forEach(function (tr) {
    out.instances[tr.getAttribute("data-instance")] = {cells: cells(tr), cls: tr.className};
  });
  document.querySelectorAll("#publishers tbody tr[data-publisher]").forEach(function (tr) {
    out.publishers[tr.getAttribute("data-publisher")] = {cells: cells(tr)};
  });
  document.querySelectorAll("#timeline thead th[data-version]").forEach(function (th) {
    out.timeline.versions.push(Number(th.getAttribute("data-version")));
  });
  document.querySelectorAll("#timeline tbody tr[data-instance]").forEach(function (tr) {
    var row = {};
    tr.querySelectorAll("td[data-version]").forEach(function (td) {
      row[td.getAttribute("data-version")] = {text: txt(td), cls: td.className, title: td.title || null};
    });
    out.timeline.rows[tr.getAttribute("data-instance")] = row;
  });
  return out;
})()
