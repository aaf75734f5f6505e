// layout.js: geometry check of the status page in a real browser (page_check.py --eval).
// Defines window.__rsLayoutCheck and returns its result:
//   {problems: [...], scrolling: [...], cards: N, elements: N, viewport: [w, h]}
// problems: the page scrolls sideways; a card is outside <main> or the viewport; an element of a
// card reaches outside its card (elements inside a scroll container are checked through the
// container); content wider than its own box with visible overflow (text spilling out).
// scrolling: scroll containers whose content is wider than they are (contained, not a problem).
(window.__rsLayoutCheck = function () {
  var tol = 0.5;
  var problems = [], scrolling = [], checked = 0;
  function describe(el) {
    var s = el.tagName.toLowerCase();
    if (el.id) s += "#" + el.id;
    ["data-region", "data-instance", "data-publisher", "data-version"].forEach(function (a) {
      if (el.hasAttribute && el.hasAttribute(a)) s += "[" + a + "=" + el.getAttribute(a) + "]";
    });
    if (typeof el.className === "string" && el.className) s += "." + el.className.trim().split(/\s+/).join(".");
    var t = (el.textContent || "").trim().replace(/\s+/g, " ");
    return s + (t ? ' "' + t.slice(0, 40) + '"' : "");
  }
  function rect(r) { return [Math.round(r.left), Math.round(r.top), Math.round(r.right), Math.round(r.bottom)]; }
  function clips(el) {
    var cs = getComputedStyle(el);
    return cs.overflowX !== "visible" || cs.overflowY !== "visible";
  }
  var de = document.documentElement, vw = de.clientWidth;
  if (de.scrollWidth > vw + tol)
    problems.push({what: "the page scrolls sideways", scrollWidth: de.scrollWidth, clientWidth: vw});
  var main = document.querySelector("main");
  var mr = main.getBoundingClientRect();
  var header = document.querySelector("header");
  if (header && header.getBoundingClientRect().right > vw + tol)
    problems.push({what: "the header is wider than the viewport", element: describe(header)});
  var cards = Array.prototype.slice.call(document.querySelectorAll("main > section, main > .banner"));
  cards.forEach(function (card) {
    if (!card.getClientRects().length) return; /* not displayed */
    var cr = card.getBoundingClientRect();
    if (cr.left < mr.left - tol || cr.right > mr.right + tol || cr.right > vw + tol)
      problems.push({what: "a card is outside the page", element: describe(card), card: rect(cr), main: rect(mr), viewport: vw});
    var all = card.querySelectorAll("*");
    for (var i = 0; i < all.length; i++) {
      var el = all[i];
      if (!el.getClientRects().length) continue;
      /* below a clipping ancestor (inside this card) the ancestor is what must fit */
      var p = el.parentElement, inside = false;
      while (p && p !== card) {
        if (clips(p)) { inside = true; break; }
        p = p.parentElement;
      }
      if (inside) continue;
      checked++;
      var er = el.getBoundingClientRect();
      if (er.left < cr.left - tol || er.right > cr.right + tol || er.top < cr.top - tol || er.bottom > cr.bottom + tol)
        problems.push({what: "an element reaches outside its card", element: describe(el), box: rect(er), card: rect(cr)});
      var cs = getComputedStyle(el);
      if (clips(el)) {
        if (el.scrollWidth > el.clientWidth + 1)
          scrolling.push({element: describe(el), scrollWidth: el.scrollWidth, clientWidth: el.clientWidth});
      } else if (cs.display !== "inline" && el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1) {
        problems.push({what: "content is wider than its box", element: describe(el), scrollWidth: el.scrollWidth, clientWidth: el.clientWidth});
      }
    }
  });
  return {problems: problems, scrolling: scrolling, cards: cards.length, elements: checked, viewport: [vw, de.clientHeight]};
})()
