// voipagency: the little behaviour the pages need, kept out of the markup so that the
// Content-Security-Policy can forbid inline scripts, event handlers and style attributes.
"use strict";

// <button data-print> prints the page; <a data-back> goes back in the history.
document.addEventListener("click", (event) => {
  const target = event.target instanceof Element ? event.target.closest("[data-print], [data-back]") : null;
  if (!target) return;
  event.preventDefault();
  if (target.hasAttribute("data-print")) window.print();
  else window.history.back();
});

// <span class="bar" data-share="87.5">: the bar's filled share, set through the CSSOM (which a
// CSP without 'unsafe-inline' allows, unlike a style attribute), on the page and on htmx swaps.
function applyShares(root) {
  const bars = root.matches && root.matches("[data-share]") ? [root] : [];
  for (const bar of [...bars, ...root.querySelectorAll("[data-share]")]) {
    const share = Number.parseFloat(bar.dataset.share);
    if (Number.isFinite(share)) bar.style.setProperty("--share", `${Math.min(100, Math.max(0, share))}%`);
  }
}
document.addEventListener("DOMContentLoaded", () => applyShares(document));
document.addEventListener("htmx:load", (event) => applyShares(event.detail.elt));
