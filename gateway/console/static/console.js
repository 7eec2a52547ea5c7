// Measures how long the clerk spends on each field typed by hand, so the notebook counts
// re-entry in real minutes: time in the field, counted only when its value changed.
(function () {
  const form = document.querySelector("form[data-measure-typing]");
  if (!form) return;
  const spent = {};
  let field = null, since = 0, changed = false;
  const stop = () => {
    if (field && changed) spent[field] = (spent[field] || 0) + (performance.now() - since) / 1000;
    field = null; changed = false;
  };
  form.querySelectorAll("[data-measure]").forEach((input) => {
    const name = input.name.replace(/^f\./, "");
    const begin = () => { if (field !== name) { stop(); field = name; since = performance.now(); } };
    input.addEventListener("focus", begin);
    ["input", "change"].forEach((type) => input.addEventListener(type, () => { begin(); changed = true; }));
    input.addEventListener("blur", stop);
  });
  form.addEventListener("submit", () => {
    stop();
    const rounded = {};
    for (const [k, v] of Object.entries(spent)) rounded[k] = Math.min(3599, Math.max(0.1, Math.round(v * 10) / 10));
    form.querySelector("input[name=typed_seconds]").value = JSON.stringify(rounded);
  });
})();

// A refused form's error summary takes the focus, so a screen reader says it first and
// the keyboard is one Tab from the first link to the field at fault.
(function () {
  const summary = document.getElementById("error-summary");
  if (!summary) return;
  summary.focus();
  // A link of the summary puts the caret in its field, not only the field in view.
  summary.querySelectorAll("a[href^='#']").forEach((link) => {
    link.addEventListener("click", (event) => {
      const field = document.getElementById(link.getAttribute("href").slice(1));
      if (!field) return;
      event.preventDefault();
      field.scrollIntoView({ block: "center" });
      field.focus();
    });
  });
})();
