// dripfleet results: the campaign funnel follows the campaign's progress by itself (app.js
// polls the same endpoint for the progress bar; this keeps the funnel's counts and rates current)
"use strict";

dripfleet.live["#campaign-funnel"] = (section) => {
  const done = ["completed", "cancelled", "failed"];
  const rate = (value) => (value === null || value === undefined ? "—" : `${Math.round(value * 100)} %`);
  dripfleet.poll(3000, async () => {
    const p = await dripfleet.getJSON(section.dataset.url);
    if (!p) return true;
    const sent = p.sent || 0;
    for (const stage of ["sent", "delivered", "read", "replied"]) {
      const step = section.querySelector(`[data-stage="${stage}"]`);
      const count = p[stage] || 0;
      dripfleet.text(step.querySelector("[data-count]"), count);
      dripfleet.text(step.querySelector("[data-rate]"),
                     stage === "sent" ? (sent ? "100 %" : "—") : rate(p[`${stage}_rate`]));
      step.querySelector(".funnel-bar span").style.width =
        `${sent ? Math.min(100, Math.round((100 * count) / sent)) : 0}%`;
    }
    dripfleet.text(section.querySelector('[data-count="opted_out"]'), p.opted_out || 0);
    dripfleet.text(section.querySelector('[data-rate="opted_out"]'), rate(p.opted_out_rate));
    return !done.includes(p.status);
  });
};
