// probe.js: the layout check must see an overflow when there is one. Puts a long unbreakable
// line into the narrowest card, checks again, and removes it.
(function () {
  var card = document.getElementById("status-card");
  var d = document.createElement("div");
  d.id = "overflow-probe";
  d.style.whiteSpace = "nowrap";
  d.textContent = "overflow-probe-" + new Array(200).join("x");
  card.appendChild(d);
  var r = window.__rsLayoutCheck();
  card.removeChild(d);
  return r;
})()
