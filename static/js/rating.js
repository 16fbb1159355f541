// The rating page: digit keys set the focused rating, Ctrl+Enter submits, drafts save as
// the rater goes, and active time is counted while the page is visible and in use.
(() => {
  const form = document.getElementById("rating-form");
  if (!form) return;
  const status = document.getElementById("draft-status");
  const activeField = document.getElementById("active-seconds");
  const csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  const IDLE_AFTER_MS = 60000;
  let lastActivity = performance.now();
  let lastTick = performance.now();
  let activeMs = 0;
  let saveTimer = null;
  let submitting = false;

  // Time counts while the page is visible and the rater did something in the last minute.
  const tick = () => {
    const now = performance.now();
    if (document.visibilityState === "visible" && now - lastActivity < IDLE_AFTER_MS) activeMs += now - lastTick;
    lastTick = now;
  };
  const takeActiveSeconds = () => {
    tick();
    const seconds = activeMs / 1000;
    activeMs = 0;
    return seconds.toFixed(3);
  };
  const markActive = () => { tick(); lastActivity = performance.now(); };
  ["keydown", "pointerdown", "pointermove", "scroll", "input"].forEach((type) =>
    document.addEventListener(type, markActive, { passive: true }));
  setInterval(tick, 1000);

  const showAnchor = (input) => {
    const fieldset = input.closest("fieldset");
    const anchor = fieldset && fieldset.querySelector(".anchor");
    if (anchor && input.dataset.anchor !== undefined) anchor.textContent = input.value + ": " + input.dataset.anchor;
  };

  const saveDraft = async () => {
    saveTimer = null;
    if (submitting || !form.dataset.draftUrl) return;  // practice cases keep no draft
    const body = new FormData(form);
    const sent = takeActiveSeconds();
    body.set("active_seconds", sent);
    try {
      const response = await fetch(form.dataset.draftUrl, {
        method: "POST", body, headers: { "X-CSRFToken": csrf }, credentials: "same-origin",
      });
      if (response.ok) {
        status.textContent = "Draft saved " + new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
        status.dataset.state = "saved";
      } else {
        activeMs += parseFloat(sent) * 1000;
        let reason = "(" + response.status + ")";
        try { reason = (await response.json()).reason || reason; } catch (err) { /* not JSON */ }
        status.textContent = "Draft not saved: " + reason;
        status.dataset.state = "error";
      }
    } catch (err) {
      activeMs += parseFloat(sent) * 1000;
      status.textContent = "Draft not saved: offline? Your answers stay on this page.";
      status.dataset.state = "error";
    }
  };
  // A text's length against its limit, shown as the rater nears it: over the limit the
  // draft and the submission are refused with a message, never cut.
  const showCount = (area) => {
    const limit = parseInt(area.dataset.limit, 10);
    const count = area.parentElement.querySelector(".text-count");
    if (!limit || !count) return;
    const length = area.value.length;
    count.textContent = length > limit * 0.8 ? length + " of " + limit + " characters" : "";
    count.classList.toggle("error", length > limit);
  };
  form.querySelectorAll("textarea[data-limit]").forEach((area) => {
    showCount(area);
    area.addEventListener("input", () => showCount(area));
  });

  const scheduleSave = (delay) => {
    status.textContent = "Saving…";
    status.dataset.state = "pending";
    if (saveTimer) clearTimeout(saveTimer);
    saveTimer = setTimeout(saveDraft, delay);
  };

  // After a refused submit, each answer given takes its line off the list of what is
  // missing, so the list always says what is left.
  const errorSummary = document.getElementById("error-summary");
  const markAnswered = (field) => {
    if (!field) return;
    field.classList.remove("invalid");
    if (!errorSummary) return;
    const link = errorSummary.querySelector(`a[href="#${field.id}"]`);
    if (link) link.closest("li").remove();
    const left = errorSummary.querySelectorAll("li").length;
    errorSummary.querySelector("strong").textContent = left
      ? `Not submitted yet: ${left} answer${left === 1 ? "" : "s"} missing.`
      : "Every answer is given: submit when ready.";
    errorSummary.classList.toggle("resolved", left === 0);
  };

  form.addEventListener("change", (event) => {
    if (event.target.type === "radio") showAnchor(event.target);
    markAnswered(event.target.closest("fieldset.invalid"));
    // Un-flagging a response takes back the question of why it could harm.
    if (event.target.classList.contains("flag-box") && !event.target.checked) {
      markAnswered(event.target.closest(".flag.invalid"));
    }
    syncFlags();
    scheduleSave(300);
  });
  form.addEventListener("input", (event) => {
    if (event.target.tagName !== "TEXTAREA") return;
    if (event.target.classList.contains("reason") && event.target.value.trim()) {
      markAnswered(event.target.closest(".flag.invalid"));
    }
    scheduleSave(800);
  });
  form.addEventListener("focusin", (event) => {
    if (event.target.type === "radio") showAnchor(event.target);
  });

  // Digits pick an option of the radio group that has focus.
  form.addEventListener("keydown", (event) => {
    const target = event.target;
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
      event.preventDefault();
      form.requestSubmit();
      return;
    }
    if (target.type !== "radio" || event.ctrlKey || event.metaKey || event.altKey) return;
    if (!/^[0-9]$/.test(event.key)) return;
    const group = Array.from(form.querySelectorAll("input[type=radio]"))
      .filter((input) => input.name === target.name);
    const byValue = group.find((input) => input.value === event.key);
    const choice = byValue || group[parseInt(event.key, 10) - 1];
    if (!choice) return;
    event.preventDefault();
    choice.checked = true;
    choice.focus();
    choice.dispatchEvent(new Event("change", { bubbles: true }));
  });

  // The reason box appears only for a flagged response.
  const syncFlags = () => {
    form.querySelectorAll(".flag").forEach((box) => {
      const checked = box.querySelector(".flag-box").checked;
      box.classList.toggle("flagged", checked);
      box.querySelector(".reason").required = checked;
    });
  };
  syncFlags();

  form.addEventListener("submit", (event) => {
    if (submitting) { event.preventDefault(); return; }
    submitting = true;
    if (saveTimer) clearTimeout(saveTimer);
    activeField.value = takeActiveSeconds();
    const button = document.getElementById("submit-button");
    button.disabled = true;
    button.textContent = "Submitting…";
  });

  if (errorSummary) errorSummary.focus();
})();
