// dripfleet webhooks: copy the secret shown once; "All events" greys out the types it covers
"use strict";

document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  try {
    await navigator.clipboard.writeText(source.textContent.trim());
    button.textContent = "Copied";
  } catch (error) {
    // no clipboard (plain http on another host): select it for Ctrl+C instead
    window.getSelection().selectAllChildren(source);
    button.textContent = "Press Ctrl+C";
  }
});

function syncEventBoxes(fieldset) {
  const all = fieldset.querySelector('input[value="*"]');
  for (const box of fieldset.querySelectorAll('input[data-default="yes"]')) {
    // covered by "*": shown as taken, and not sent twice
    box.disabled = all.checked;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  // the secret came as the answer to a POST: give the page its own address, so that reloading
  // it shows the endpoint (without the secret) instead of posting again
  const panel = document.querySelector("#secret-panel[data-page]");
  if (panel) window.history.replaceState(null, "", panel.dataset.page);
  for (const fieldset of document.querySelectorAll("fieldset.webhook-events")) {
    syncEventBoxes(fieldset);
    fieldset.addEventListener("change", () => syncEventBoxes(fieldset));
  }
});
