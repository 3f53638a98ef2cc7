// dripfleet campaigns: the campaign form (new and edit) shows how many leads its niche and
// audience reach, asked of GET /api/campaigns/audience-preview as they change (session cookie)
"use strict";

(() => {
  const start = (form) => {
    const out = form.querySelector("[data-audience-count]");
    const niche = form.querySelector('[name="niche"]');
    const target = form.querySelector('[name="target_status"]');
    if (!out || !niche || !target) return;
    let asked = 0;  // only the latest answer is shown: typing fires requests out of order
    let timer = null;
    const ask = async () => {
      const mine = ++asked;
      const params = new URLSearchParams({ target_status: target.value });
      if (niche.value.trim()) params.set("niche", niche.value.trim());
      let text;
      try {
        const response = await fetch(`${form.dataset.audienceUrl}?${params}`,
                                     { credentials: "same-origin", headers: { Accept: "application/json" } });
        const body = await response.json();
        if (response.ok) {
          const names = body.sample.map((lead) => lead.name || lead.phone).join(", ");
          text = `${body.audience_size} ${body.audience_size === 1 ? "lead matches" : "leads match"} now` +
                 (names ? ` (${names}${body.audience_size > body.sample.length ? ", …" : ""})` : "");
        } else {
          // the API's error shape: {error: {code, message, fields: {name: reason}}}
          const error = body.error || {};
          text = Object.entries(error.fields || {}).map(([name, why]) => `${name}: ${why}`)
            .join("; ") || error.message || "the audience cannot be counted";
        }
      } catch (error) {
        text = "the audience count is unavailable (offline?)";
      }
      if (mine !== asked) return;
      out.textContent = text;
      out.dataset.state = "ready";
    };
    const later = () => { clearTimeout(timer); timer = setTimeout(ask, 250); };
    niche.addEventListener("input", later);
    target.addEventListener("change", ask);
    ask();
  };
  const init = () => document.querySelectorAll("form[data-audience-url]").forEach(start);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
