// course serve: live checklist (server-sent events), the hint button without a reload, copy buttons.
// The pages work without this script, except for live updates.
"use strict";

function live() {
  const box = document.getElementById("checklist");
  if (!box || !window.EventSource) return;
  const source = new EventSource(box.dataset.events);
  source.addEventListener("checklist", (event) => {
    const focused = document.activeElement && box.contains(document.activeElement);
    box.innerHTML = event.data;
    box.dataset.version = event.lastEventId;
    announce(box);
    if (focused) {
      const button = box.querySelector(".hint-form button");
      (button || box.querySelector("h2")).focus?.();
    }
  });
}

// One live region outside the replaced checklist, so screen readers hear each new result once.
function announce(box) {
  const region = document.getElementById("announce");
  const graded = box.querySelector(".graded");
  const summary = box.querySelector(".summary");
  if (!region || !graded || graded.querySelector(".busy")) return;
  const said = summary ? [...summary.childNodes].filter((node) => !(node.classList && node.classList.contains("bar")))
    .map((node) => node.textContent).join("").trim() : "";
  region.textContent = graded.innerText.trim() + " " + said;
}

function formsWithoutReload() {
  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!form.classList) return;
    if (form.classList.contains("regrade") && window.EventSource) {
      event.preventDefault();  // the new grade arrives by the event stream
      fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin", redirect: "manual" });
      return;
    }
    if (!form.classList.contains("hint-form")) return;
    event.preventDefault();
    const answer = await fetch(form.action, {
      method: "POST", body: new FormData(form), headers: { "X-Course-Fragment": "1" },
      credentials: "same-origin",
    });
    if (!answer.ok) { form.submit(); return; }
    const box = document.getElementById("checklist");
    box.innerHTML = await answer.text();
    const hints = box.querySelector("#hints");
    if (hints) {
      hints.setAttribute("tabindex", "-1");
      hints.focus();
    }
  });
}

function copyButtons() {
  for (const block of document.querySelectorAll(".lesson .code")) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "copy";
    button.textContent = "Copy";
    button.setAttribute("aria-label", "Copy this code");
    button.addEventListener("click", async () => {
      const code = block.querySelector("pre").innerText;
      try {
        await navigator.clipboard.writeText(code);
        button.textContent = "Copied";
      } catch (_error) {
        const range = document.createRange();
        range.selectNodeContents(block.querySelector("pre"));
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        button.textContent = "Selected: Ctrl-C";
      }
      setTimeout(() => { button.textContent = "Copy"; }, 2000);
    });
    block.prepend(button);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  live();
  formsWithoutReload();
  copyButtons();
});
