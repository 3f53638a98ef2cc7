// dripfleet pages: small progressive enhancements. Live parts poll the JSON API with fetch().
"use strict";

const dripfleet = {
  // the session's CSRF token (base.html's meta tag): the API refuses a write made with the
  // session cookie unless it carries this token in the X-CSRFToken header
  csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  },

  // call the JSON API with the session cookie; writes carry the CSRF token, an object body is
  // sent as JSON and a FormData body as multipart
  api(url, { method = "GET", body } = {}) {
    const headers = { Accept: "application/json" };
    if (!["GET", "HEAD"].includes(method)) headers["X-CSRFToken"] = dripfleet.csrfToken();
    if (body !== undefined && !(body instanceof FormData)) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(body);
    }
    return fetch(url, { method, body, headers, credentials: "same-origin" });
  },

  // GET a JSON document of the API with the session cookie; null when it is not there (yet)
  async getJSON(url) {
    const response = await dripfleet.api(url);
    if (!response.ok) return null;
    return response.json();
  },

  // call fn now and every `ms` milliseconds until it returns false
  poll(ms, fn) {
    let timer = null;
    const run = async () => {
      let again = true;
      try { again = (await fn()) !== false; } catch (error) { again = true; }
      if (again) timer = setTimeout(run, ms);
    };
    run();
    return () => clearTimeout(timer);
  },

  text(element, value) {
    if (element && element.textContent !== String(value)) element.textContent = String(value);
  },

  localTime(iso) {
    if (!iso) return "—";
    // the signed-in user's zone (base.html), so a refreshed cell matches the server-rendered ones
    const zone = document.body.dataset.zone || undefined;
    try {
      return new Date(iso).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit",
                                                         second: "2-digit", hourCycle: "h23",
                                                         timeZone: zone });
    } catch (error) {
      // an unknown zone name: the browser's own rather than no time at all
      return new Date(iso).toLocaleTimeString("en-GB", { hourCycle: "h23" });
    }
  },

  badgeClass(status) {
    const classes = { online: "ok", active: "ok", sent: "ok", completed: "ok", running: "ok",
                      pairing: "busy", queued: "busy", sending: "busy", scheduled: "busy",
                      held: "warn", paused: "warn", offline: "warn", logged_out: "bad",
                      banned: "bad", disabled: "bad", failed: "bad", expired: "bad" };
    return "badge " + (classes[status] || "muted");
  },
};

// forms that ask before doing something that cannot be undone
document.addEventListener("submit", (event) => {
  const question = event.target.getAttribute("data-confirm");
  if (question && !window.confirm(question)) event.preventDefault();
});

document.addEventListener("DOMContentLoaded", () => {
  for (const [selector, start] of Object.entries(dripfleet.live || {})) {
    const element = document.querySelector(selector);
    if (element) start(element);
  }
});

dripfleet.live = {};

// queue monitor: per device counts and next send
dripfleet.live["#queue-devices"] = (tbody) => {
  dripfleet.poll(3000, async () => {
    const body = await dripfleet.getJSON(tbody.dataset.url);
    if (!body) return true;
    for (const row of body.devices || body.items || []) {
      const tr = tbody.querySelector(`tr[data-device="${row.device_id}"]`);
      if (!tr) continue;
      for (const cell of tr.querySelectorAll("[data-field]")) {
        const name = cell.dataset.field;
        if (name === "next_send_at") dripfleet.text(cell, dripfleet.localTime(row[name]));
        else dripfleet.text(cell, row[name]);
        if (name === "status") cell.className = dripfleet.badgeClass(row[name]);
      }
    }
    return true;
  });
};

// leads: upload with a progress bar, then show the page the server answers (report or error)
dripfleet.live["#import-form"] = (form) => {
  const box = document.getElementById("import-progress");
  const bar = box.querySelector("progress");
  const text = document.getElementById("import-progress-text");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("X-CSRFToken", form.querySelector("[name=csrf_token]").value);
    box.hidden = false;
    form.querySelector("button[type=submit]").disabled = true;
    request.upload.onprogress = (e) => {
      if (!e.lengthComputable) return;
      bar.value = Math.round((100 * e.loaded) / e.total);
      text.textContent = `Uploading… ${bar.value} %`;
    };
    request.upload.onload = () => {
      bar.removeAttribute("value");  // indeterminate while the server imports
      text.textContent = "Importing…";
    };
    request.onload = () => {
      const html = new DOMParser().parseFromString(request.responseText, "text/html");
      const main = html.querySelector("main");
      if (main) document.querySelector("main").replaceWith(main);
      history.replaceState(null, "", request.responseURL.endsWith("/leads/import")
        ? "/leads" : request.responseURL);
      const fresh = document.querySelector("#import-form");
      if (fresh) dripfleet.live["#import-form"](fresh);
    };
    request.onerror = () => { text.textContent = "The upload failed: check the connection."; };
    request.send(new FormData(form));
  });
};

// campaign: the progress bar follows the sends until every message has an outcome
dripfleet.live["#campaign-progress"] = (section) => {
  const done = ["completed", "cancelled", "failed"];
  dripfleet.poll(1500, async () => {
    const p = await dripfleet.getJSON(section.dataset.url);
    if (!p) return true;
    const total = p.audience_size || 0;
    const sent = p.sent || 0;
    const failed = p.failed || 0;
    const pct = (n) => (total ? Math.min(100, Math.round((100 * n) / total)) : 0);
    document.getElementById("bar-sent").style.width = `${pct(sent)}%`;
    document.getElementById("bar-failed").style.width = `${pct(failed)}%`;
    dripfleet.text(document.getElementById("progress-percent"), `${pct(sent + failed)} %`);
    dripfleet.text(document.getElementById("count-sent"), sent);
    dripfleet.text(document.getElementById("count-failed"), failed);
    dripfleet.text(document.getElementById("count-pending"), p.pending || 0);
    dripfleet.text(document.getElementById("count-delivered"), p.delivered || 0);
    dripfleet.text(document.getElementById("count-read"), p.read || 0);
    dripfleet.text(document.getElementById("count-total"), total);
    const badge = document.getElementById("campaign-status");
    if (p.status) { dripfleet.text(badge, p.status); badge.className = dripfleet.badgeClass(p.status); }
    return !done.includes(p.status);
  });
};

// device: the QR code renews itself while pairing; the page turns to "online" once paired
dripfleet.live["#pairing"] = (section) => {
  const qr = document.getElementById("pairing-qr");
  const code = document.getElementById("pairing-code");
  const expiry = document.getElementById("pairing-expiry");
  const badge = document.getElementById("device-status");
  let lastQr = null;
  dripfleet.poll(1000, async () => {
    const p = await dripfleet.getJSON(section.dataset.url);
    if (!p) return true;
    dripfleet.text(badge, p.status);
    badge.className = dripfleet.badgeClass(p.status);
    document.getElementById("pairing-live").hidden = p.status !== "pairing";
    document.getElementById("pairing-online").hidden = p.status !== "online";
    if (p.status === "online") {
      if (section.dataset.status !== "online") window.location.reload();
      return false;
    }
    const svg = p.qr_svg || p.svg || null;
    if (svg && p.qr !== lastQr) {
      lastQr = p.qr;
      const img = new Image();
      img.alt = "WhatsApp pairing QR code";
      img.src = svg.startsWith("data:") ? svg
        : `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
      qr.replaceChildren(img);
    }
    dripfleet.text(code, p.code || "");
    dripfleet.text(expiry, p.expires_at ? `renews at ${dripfleet.localTime(p.expires_at)}` : "");
    return p.status === "pairing" || section.dataset.status === "pairing";
  });
};

// queue monitor: the broadcast jobs' totals and bars
dripfleet.live["#queue-jobs"] = (tbody) => {
  dripfleet.poll(3000, async () => {
    const body = await dripfleet.getJSON(tbody.dataset.url);
    if (!body) return true;
    for (const job of body.items || []) {
      const tr = tbody.querySelector(`tr[data-job="${job.id}"]`);
      if (!tr) continue;  // a new batch: it shows on the next visit
      for (const cell of tr.querySelectorAll("[data-field]")) {
        dripfleet.text(cell, job[cell.dataset.field]);
      }
      const pct = (n) => (job.total_count ? Math.min(100, Math.round((100 * n) / job.total_count)) : 0);
      tr.querySelector(".bar .sent").style.width = `${pct(job.sent_count)}%`;
      tr.querySelector(".bar .failed").style.width = `${pct(job.failed_count)}%`;
    }
    return true;
  });
};

// sequence steps: "Edit" copies a step into the form (saving the same day replaces it)
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-edit-step]");
  const form = document.getElementById("step-form");
  if (!button || !form) return;
  const step = JSON.parse(button.dataset.editStep);
  for (const [name, value] of Object.entries(step)) {
    const field = form.elements.namedItem(name);
    if (field) field.value = value;
  }
  form.scrollIntoView({ behavior: "smooth", block: "start" });
  form.elements.namedItem("body").focus();
});

// a lead's conversation: newest at the bottom, so open it scrolled there; Ctrl/⌘+Enter sends
dripfleet.live["#conversation"] = (list) => {
  list.scrollTop = list.scrollHeight;
  const box = document.querySelector("#reply textarea");
  if (!box) return;
  box.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      box.form.requestSubmit();
    }
  });
};
