// Sizes progress bars from their data-width attribute (no inline styles, so the CSP
// holds), on load and after every htmx swap.
(() => {
  const size = (root) => root.querySelectorAll(".progress .bar[data-width]").forEach((bar) => {
    bar.style.width = Math.max(0, Math.min(100, parseFloat(bar.dataset.width) || 0)) + "%";
  });
  size(document);
  document.body.addEventListener("htmx:afterSwap", (event) => size(event.target));
})();
