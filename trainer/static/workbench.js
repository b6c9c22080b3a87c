// The workbench's forms without page reloads: progress while the server works, errors
// and warnings next to the form (what was typed stays), and retrain progress by polling.
"use strict";

const SHOW_PROGRESS_AFTER_MS = 500;

function say(box, text, kind) {
  box.className = "notice " + kind;
  box.textContent = text;
}

function statusBox(form) {
  // The form's own, or its inbox card's (shared by the card's Label and Dismiss forms).
  const card = form.closest("[data-item]");
  return form.querySelector("[data-status]") || card.querySelector("[data-status]");
}

// "Working… 3 s" after half a second, updated every second until stop() is called.
function progress(box, label) {
  const started = Date.now();
  const tick = () => say(box, `${label} ${Math.round((Date.now() - started) / 1000)} s`, "progress");
  const first = setTimeout(() => { tick(); timer = setInterval(tick, 1000); }, SHOW_PROGRESS_AFTER_MS);
  let timer = null;
  return () => { clearTimeout(first); clearInterval(timer); };
}

function showWarnings(form, box, warnings) {
  box.className = "notice warning";
  box.textContent = "";
  const title = document.createElement("p");
  title.textContent = "Please check before you go on:";
  const list = document.createElement("ul");
  for (const warning of warnings) {
    const item = document.createElement("li");
    item.textContent = warning;
    list.append(item);
  }
  const confirm = document.createElement("button");
  confirm.type = "button";
  confirm.textContent = "Label it anyway";
  confirm.addEventListener("click", () => {
    form.querySelector("input[name=confirm]").value = "1";
    form.requestSubmit();
  });
  box.append(title, list, confirm);
  confirm.focus();
}

// The retrain measured the model again: show its new test results without a reload.
async function refreshReport() {
  const report = document.getElementById("last-report");
  if (!report) return;
  const response = await fetch("/model");
  if (!response.ok) return;
  const fresh = new DOMParser()
    .parseFromString(await response.text(), "text/html")
    .getElementById("last-report");
  if (fresh) report.replaceChildren(...fresh.childNodes);
}

async function pollRetrain(box, result) {
  for (;;) {
    const response = await fetch("/api/retrain", { headers: { Accept: "application/json" } });
    const status = await response.json();
    if (status.running) {
      say(box, status.message, "progress");
    } else {
      const failed = status.error || (status.result && !status.result.promoted);
      say(box, status.error || "Finished.", failed ? "error" : "ok");
      if (status.html) {
        result.innerHTML = status.html; // rendered and escaped by the server
        result.focus();
      }
      await refreshReport();
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

async function submit(event) {
  const form = event.target;
  if (!form.matches("form[data-async]")) return;
  event.preventDefault();
  const box = statusBox(form);
  const button = form.querySelector("button[type=submit], button:not([type])");
  if (button) button.disabled = true;
  const stop = progress(box, form.dataset.working || "Working…");
  try {
    const response = await fetch(form.action, {
      method: "POST",
      headers: { Accept: "application/json" },
      body: new URLSearchParams(new FormData(form)),
    });
    const data = await response.json();
    stop();
    const confirm = form.querySelector("input[name=confirm]");
    if (confirm) confirm.value = "";
    if (data.warnings && data.warnings.length) return showWarnings(form, box, data.warnings);
    if (!response.ok && response.status !== 202) return say(box, data.error || "That did not work.", "error");
    say(box, data.message || "Done.", "ok");
    const done = form.dataset.done;
    if (done === "remove") {
      const card = form.closest("[data-item]");
      card.replaceChildren(box);
    } else if (done === "clear") {
      form.querySelector("input[name=text]").value = "";
    } else if (done === "undone") {
      form.replaceWith(document.createTextNode("Undone"));
    } else if (done === "poll") {
      await pollRetrain(box, document.getElementById("result"));
    }
  } catch (error) {
    stop();
    say(box, "The workbench did not answer. Check your connection and try again.", "error");
  } finally {
    if (button && document.contains(button)) button.disabled = false;
  }
}

function showIntentHelp(select) {
  const guide = JSON.parse(document.getElementById("intent-guide").textContent);
  const help = document.getElementById(select.getAttribute("aria-describedby"));
  const entry = guide[select.value];
  help.textContent = entry
    ? `${entry.description} For example: “${entry.examples.join("”, “")}”.`
    : "Pick the intent that says what the person wanted.";
}

document.addEventListener("submit", submit);
document.addEventListener("change", (event) => {
  if (event.target.matches("select[data-intent]")) showIntentHelp(event.target);
});
const running = document.querySelector("[data-running]");
if (running) pollRetrain(running, document.getElementById("result"));
