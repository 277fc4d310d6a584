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

// <button data-copy="id">: copies the value (or text) of the element with that id, e.g. a secret
// shown once; without a clipboard (plain HTTP) the text is selected for the user to copy.
document.addEventListener("click", (event) => {
  const button = event.target instanceof Element ? event.target.closest("[data-copy]") : null;
  const source = button && document.getElementById(button.dataset.copy);
  if (!source) return;
  const text = "value" in source ? source.value : source.textContent;
  if ("select" in source) source.select();
  if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).catch(() => {});
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

// The Menu button of the header (base.html): on a phone the links are folded away until it is
// pressed (app.css); it says whether the menu is open to screen readers, and Escape closes it.
document.addEventListener("click", (event) => {
  const toggle = event.target instanceof Element ? event.target.closest("[data-menu-toggle]") : null;
  if (toggle) setMenu(toggle, toggle.getAttribute("aria-expanded") !== "true");
});
document.addEventListener("keydown", (event) => {
  const toggle = document.querySelector("[data-menu-toggle][aria-expanded='true']");
  if (event.key === "Escape" && toggle) {
    setMenu(toggle, false);
    toggle.focus();
  }
});
// The menu's link to the page on screen says so (aria-current), for screen readers and the eye.
document.addEventListener("DOMContentLoaded", () => {
  for (const link of document.querySelectorAll("#site-menu a[href]")) {
    if (link.getAttribute("href") === window.location.pathname) link.setAttribute("aria-current", "page");
  }
});
function setMenu(toggle, open) {
  const menu = document.getElementById(toggle.getAttribute("aria-controls"));
  if (!menu) return;
  toggle.setAttribute("aria-expanded", String(open));
  menu.classList.toggle("open", open);
}

// The API docs (/schema, web/app.py's SwaggerPage): Swagger UI, vendored, on the element that
// names the OpenAPI document; no inline script, so the page keeps the strict policy.
document.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("swagger-ui");
  if (!root || !window.SwaggerUIBundle) return;
  window.SwaggerUIBundle({
    url: root.dataset.openapi,
    domNode: root,
    deepLinking: true,
    validatorUrl: null, // no badge fetched from swagger.io: the docs work offline
    presets: [window.SwaggerUIBundle.presets.apis],
  });
});

// A table wider than the screen scrolls inside its .table-wrap box: make that box reachable with
// the keyboard, so that its hidden columns can be scrolled to.
function focusableScrollBoxes(root) {
  const boxes = root.matches && root.matches(".table-wrap") ? [root] : [];
  for (const box of [...boxes, ...root.querySelectorAll(".table-wrap")]) {
    if (box.scrollWidth > box.clientWidth && !box.hasAttribute("tabindex")) box.setAttribute("tabindex", "0");
  }
}
document.addEventListener("DOMContentLoaded", () => focusableScrollBoxes(document));
document.addEventListener("htmx:load", (event) => focusableScrollBoxes(event.detail.elt));
window.addEventListener("resize", () => focusableScrollBoxes(document));
