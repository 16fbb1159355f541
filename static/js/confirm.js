// A form with data-confirm="..." asks before it posts: the browser's confirm() with that
// text, and the form is sent only on OK. "{name}" in the text stands for what the form's
// field of that name holds when it is sent (a closing reason, say). No inline script, so
// the CSP holds; loaded twice, it still asks once.
(() => {
  if (document.documentElement.dataset.confirmForms) return;
  document.documentElement.dataset.confirmForms = "on";
  const question = (form) => form.dataset.confirm.replace(/\{([\w-]+)\}/g, (whole, name) => {
    const field = form.elements.namedItem(name);
    return field && "value" in field ? field.value.trim() : whole;
  });
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.confirm) return;
    if (!window.confirm(question(form))) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);
})();
