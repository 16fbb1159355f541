// A box that scrolls its own content (the case column, a long response, a wide table,
// the instructions) takes keyboard focus only while it does scroll, so it can be
// scrolled without a mouse and adds no stop to the Tab order when everything fits.
(() => {
  const SCROLLERS = ".case-column, .response-text, .table-scroll, .instructions-panel";
  const update = () => document.querySelectorAll(SCROLLERS).forEach((box) => {
    const scrolls = box.scrollHeight > box.clientHeight + 1 || box.scrollWidth > box.clientWidth + 1;
    if (scrolls && !box.hasAttribute("tabindex")) box.tabIndex = 0;
    if (!scrolls && box.getAttribute("tabindex") === "0") box.removeAttribute("tabindex");
  });
  let pending = null;
  const later = () => {
    if (pending) cancelAnimationFrame(pending);
    pending = requestAnimationFrame(() => { pending = null; update(); });
  };
  update();
  window.addEventListener("resize", later);
  window.addEventListener("load", later);
  document.addEventListener("toggle", later, true);  // <details> opened or closed
})();
