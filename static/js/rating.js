// The rating page: digit keys set the focused rating, Ctrl+Enter submits, drafts save as
// the rater goes, and active time is counted while the page is visible and in use.
// What the rater enters is also kept in this browser (localStorage, per assignment) on
// every change, until the case is submitted: an ended session, a lost connection or a
// case gone back to the pool never loses what was typed.
(() => {
  const KEPT_PREFIX = "evalportal:rating:";
  const KEPT_DAYS = 30;
  const storage = (() => { try { return window.localStorage; } catch (err) { return null; } })();
  const readKept = (id) => {
    try { return storage && JSON.parse(storage.getItem(KEPT_PREFIX + id)); } catch (err) { return null; }
  };
  const writeKept = (id, entry) => {
    try { if (storage) storage.setItem(KEPT_PREFIX + id, JSON.stringify(entry)); } catch (err) { /* full or refused: the page still holds it */ }
  };
  // A case marked as being submitted, seen from the page of another case or the done page,
  // was stored: the server moves on from a case only once its submission is.
  const pruneKept = (currentId) => {
    if (!storage) return;
    for (let i = storage.length - 1; i >= 0; i -= 1) {
      const key = storage.key(i);
      if (!key || !key.startsWith(KEPT_PREFIX)) continue;
      const id = key.slice(KEPT_PREFIX.length);
      const entry = readKept(id);
      const stale = !entry || Date.now() - (entry.at || 0) > KEPT_DAYS * 86400000;
      if (stale || (entry.submitting && id !== currentId)) storage.removeItem(key);
    }
  };
  const textLabel = (name) => {
    const slot = /^r([0-9]+)_/.exec(name);
    return slot ? "Response " + String.fromCharCode(65 + parseInt(slot[1], 10)) + ": reason for the flag" : "Comment";
  };

  // A page saying the case cannot be stored here shows what was posted; opened without a
  // post (after logging in again), it shows what this browser kept for the case.
  const typedBox = document.getElementById("typed-text");
  if (typedBox && !typedBox.dataset.posted) {
    const kept = readKept(typedBox.dataset.assignmentId);
    const texts = Object.entries((kept && kept.values) || {})
      .filter(([name, value]) => (name === "comment" || /_reason$/.test(name)) && String(value).trim());
    const list = typedBox.querySelector(".typed-list");
    texts.forEach(([name, value]) => {
      const heading = document.createElement("h3");
      const area = document.createElement("textarea");
      heading.textContent = textLabel(name);
      area.readOnly = true;
      area.rows = 4;
      area.className = "typed";
      area.setAttribute("aria-label", heading.textContent);
      area.value = value;
      list.append(heading, area);
    });
    if (texts.length) typedBox.hidden = false;
  }

  const form = document.getElementById("rating-form");
  if (!form) {
    if (document.getElementById("all-done")) pruneKept(null);
    return;
  }
  const assignmentId = form.dataset.assignmentId || "";  // practice cases keep nothing
  const status = document.getElementById("draft-status");
  const activeField = document.getElementById("active-seconds");
  const csrfField = form.querySelector("input[name=csrfmiddlewaretoken]");
  const errorSummary = document.getElementById("error-summary");
  const IDLE_AFTER_MS = 60000;
  let lastActivity = performance.now();
  let lastTick = performance.now();
  let activeMs = 0;
  let saveTimer = null;
  let submitting = false;

  // Logging in again (in another tab too) gives the browser a new CSRF token; the one the
  // page was served with would then be refused.
  const csrfToken = () => {
    const cookie = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
    if (cookie) csrfField.value = decodeURIComponent(cookie.slice("csrftoken=".length));
    return csrfField.value;
  };

  // "better" (two responses: A, a tie or B) is read from and written to the two rank fields.
  const NOT_ANSWERS = new Set(["csrfmiddlewaretoken", "active_seconds", "idempotency_key", "shown", "better"]);
  const answers = () => {
    const values = {};
    new FormData(form).forEach((value, name) => { if (!NOT_ANSWERS.has(name)) values[name] = String(value); });
    return values;
  };
  const sameAnswers = (a, b) => {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => b[k] === a[k]);
  };
  const keep = (fields) => {
    if (assignmentId) writeKept(assignmentId, Object.assign({ values: answers(), at: Date.now(), synced: false }, fields));
  };

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

  // The chosen point's anchor in full ("4: Like a competent colleague"), or "Cannot judge".
  const showAnchor = (input) => {
    const fieldset = input.closest("fieldset");
    const anchor = fieldset && fieldset.querySelector(".anchor");
    if (!anchor) return;
    if (input.dataset.shown !== undefined) anchor.textContent = input.dataset.shown;
    else if (input.dataset.anchor !== undefined) anchor.textContent = input.value + ": " + input.dataset.anchor;
  };

  const showError = (text) => {
    status.textContent = text;
    status.dataset.state = "error";
  };
  // Logged out (the session ended or was ended elsewhere): say so, with a way to log in
  // that keeps this page and what it holds.
  const showLoggedOut = () => {
    if (status.querySelector("#log-in-again")) return;  // already said, and its link may be in use
    showError("Not saved: log in again. ");
    const link = document.createElement("a");
    link.href = form.dataset.loginUrl;
    link.target = "_blank";
    link.rel = "noopener";
    link.id = "log-in-again";
    link.textContent = "Log in (opens a new tab)";
    status.appendChild(link);
    status.appendChild(document.createTextNode(", then come back here. What you typed is kept in this browser."));
  };

  const saveDraft = async () => {
    saveTimer = null;
    if (submitting || !form.dataset.draftUrl) return;  // practice cases keep no draft
    const token = csrfToken();
    const body = new FormData(form);
    const sentAnswers = answers();
    const sent = takeActiveSeconds();
    body.set("active_seconds", sent);
    try {
      // A redirect (to the login page) is never followed: its 200 is not a save.
      const response = await fetch(form.dataset.draftUrl, {
        method: "POST", body, headers: { "X-CSRFToken": token }, credentials: "same-origin", redirect: "manual",
      });
      if (response.ok) {
        status.textContent = "Draft saved " + new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
        status.dataset.state = "saved";
        if (sameAnswers(sentAnswers, answers())) keep({ synced: true });
        return;
      }
      activeMs += parseFloat(sent) * 1000;
      if (response.type === "opaqueredirect") {  // to the login page: no session
        showLoggedOut();
        return;
      }
      let reason = "(" + response.status + ")";
      try { reason = (await response.json()).reason || reason; } catch (err) { /* not JSON */ }
      showError("Draft not saved: " + reason);
    } catch (err) {
      activeMs += parseFloat(sent) * 1000;
      showError("Draft not saved: offline? Your answers stay on this page and in this browser.");
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
    if (!form.dataset.draftUrl) return;  // practice cases and corrections keep no draft
    // Logged out, the message and its link stay until a save goes through (leaving the
    // comment box for the link is a change, and saves again).
    if (!status.querySelector("#log-in-again")) {
      status.textContent = "Saving…";
      status.dataset.state = "pending";
    }
    if (saveTimer) clearTimeout(saveTimer);
    saveTimer = setTimeout(saveDraft, delay);
  };
  // Back from logging in elsewhere, or online again: try what could not be saved.
  // The message stays up meanwhile, its link included.
  window.addEventListener("focus", () => {
    if (!submitting && !saveTimer && status.dataset.state === "error") saveTimer = setTimeout(saveDraft, 0);
  });

  // After a refused submit, each answer given takes its line off the list of what is
  // missing, so the list always says what is left.
  const countMissing = () => {
    if (!errorSummary) return;
    const left = errorSummary.querySelectorAll("li").length;
    errorSummary.querySelector("strong").textContent = left
      ? `Not submitted yet: ${left} answer${left === 1 ? "" : "s"} missing.`
      : "Every answer is given: submit when ready.";
    errorSummary.classList.toggle("resolved", left === 0);
  };
  const markAnswered = (field) => {
    if (!field) return;
    field.classList.remove("invalid");
    if (!errorSummary) return;
    const link = errorSummary.querySelector(`a[href="#${field.id}"], a[data-field="${field.id}"]`);
    if (link) link.closest("li").remove();
    countMissing();
  };

  form.addEventListener("change", (event) => {
    if (event.target.type === "radio") showAnchor(event.target);
    markAnswered(event.target.closest("fieldset.invalid"));
    // Un-flagging a response takes back the question of why it could harm.
    if (event.target.classList.contains("flag-box") && !event.target.checked) {
      markAnswered(event.target.closest(".flag.invalid"));
    }
    syncFlags();
    keep();
    scheduleSave(300);
  });
  form.addEventListener("input", (event) => {
    if (event.target.tagName !== "TEXTAREA") return;
    if (event.target.classList.contains("reason") && event.target.value.trim()) {
      markAnswered(event.target.closest(".flag.invalid"));
    }
    if (event.target.id === "id_reason" && event.target.value.trim()) {  // a correction's reason
      markAnswered(event.target.closest("#f-reason.invalid"));
    }
    keep();
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
    const cannotJudge = event.key === "0" ? group.find((input) => input.closest(".opt.na")) : null;
    const choice = byValue || cannotJudge || group[parseInt(event.key, 10) - 1];
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

  const restore = (values) => {
    Array.from(form.elements).forEach((field) => {
      if (!field.name || NOT_ANSWERS.has(field.name)) return;
      if (field.type === "radio" || field.type === "checkbox") field.checked = values[field.name] === field.value;
      else if (field.tagName === "TEXTAREA") field.value = values[field.name] || "";
    });
    form.querySelectorAll("input[type=radio]:checked").forEach(showAnchor);
    form.querySelectorAll("textarea[data-limit]").forEach(showCount);
    syncBetter();
  };

  // Two responses: "Which is better overall? A / Tie / B" in place of the two rank fields
  // (shown without a script), which it sets, so the form posts ranks as with any number.
  const better = form.querySelector("[data-better]");
  const RANKS_OF = { A: ["1", "2"], tie: ["1", "1"], B: ["2", "1"] };
  const rankOf = (slot) => {
    const checked = form.querySelector(`input[name=rank_${slot}]:checked`);
    return checked ? parseInt(checked.value, 10) : 0;
  };
  const syncBetter = () => {
    if (!better) return;
    const [a, b] = [rankOf(0), rankOf(1)];
    const chosen = a && b ? (a < b ? "A" : a === b ? "tie" : "B") : "";
    better.querySelectorAll("input[name=better]").forEach((input) => { input.checked = input.value === chosen; });
  };
  if (better) {
    better.hidden = false;
    form.querySelector("[data-rank-fields]").hidden = true;
    better.addEventListener("change", (event) => {
      const ranks = RANKS_OF[event.target.value];
      if (!ranks) return;
      ranks.forEach((rank, slot) => form.querySelectorAll(`input[name=rank_${slot}]`).forEach((input) => {
        input.checked = input.value === rank;
      }));
      better.classList.remove("invalid");
      [0, 1].forEach((slot) => markAnswered(document.getElementById(`f-rank_${slot}`)));
    });
    // A refused submission's missing ranks become one line that leads to the question.
    if (errorSummary) {
      const links = ["f-rank_0", "f-rank_1"].map((id) => errorSummary.querySelector(`a[href="#${id}"]`)).filter(Boolean);
      links.forEach((link, i) => {
        if (i > 0) { link.closest("li").remove(); return; }
        link.dataset.field = link.getAttribute("href").slice(1);
        link.href = "#f-better";
        link.textContent = better.dataset.missing;
        better.classList.add("invalid");
      });
      countMissing();
    }
  }

  // The header and the ranking stay on screen: what a link or Tab scrolls to is kept clear of them.
  const ranking = document.getElementById("ranking");
  const header = document.getElementById("rate-header");
  const measure = () => {
    const root = document.documentElement.style;
    if (header) root.setProperty("--rate-header-h", header.offsetHeight + "px");
    if (ranking) root.setProperty("--ranking-h", getComputedStyle(ranking).position === "sticky" ? ranking.offsetHeight + "px" : "0px");
  };
  measure();
  if (window.ResizeObserver) new ResizeObserver(measure).observe(document.body);

  // The instructions open over the page, which stays where it was; Escape, or a click
  // anywhere else, closes them.
  const instructions = document.getElementById("instructions");
  if (instructions) {
    instructions.addEventListener("keydown", (event) => {
      if (event.key !== "Escape" || !instructions.open) return;
      instructions.open = false;
      instructions.querySelector("summary").focus();
    });
    document.addEventListener("pointerdown", (event) => {
      if (instructions.open && !instructions.contains(event.target)) instructions.open = false;
    });
  }

  // What this browser kept comes back when the server lacks it: typed while the draft
  // could not be saved, or dropped when the case went back to the pool. A page showing a
  // refused submission already shows what was posted; a draft saved from elsewhere wins
  // over one this browser had saved too.
  if (assignmentId) {
    pruneKept(assignmentId);
    const kept = readKept(assignmentId);
    const serverHasDraft = form.dataset.hasDraft === "1";
    if (kept && kept.values && !errorSummary && (!kept.synced || !serverHasDraft)
        && !sameAnswers(kept.values, answers())) {
      restore(kept.values);
      keep();
      status.textContent = "Restored what you typed in this browser";
      status.dataset.state = "restored";
      saveTimer = setTimeout(saveDraft, 300);
    } else {
      keep({ synced: !errorSummary });
    }
  }
  syncFlags();

  form.addEventListener("submit", (event) => {
    if (submitting) { event.preventDefault(); return; }
    submitting = true;
    if (saveTimer) clearTimeout(saveTimer);
    csrfToken();
    keep({ submitting: true });
    activeField.value = takeActiveSeconds();
    const button = document.getElementById("submit-button");
    button.disabled = true;
    button.textContent = "Submitting…";
  });

  if (errorSummary) errorSummary.focus();
})();
