// The live view's loop: long-poll /api/snapshot, draw what changed, and after a lost
// connection keep asking until the server answers (each answer is the whole state, so the
// page catches up at once).
//
// A browser opens at most 6 connections to one server (HTTP/1.1), and every page's long
// poll holds one: a seventh page of the same view used to wait for another page's poll to
// end (up to 20 s). So the pages of one server in one browser share a single long poll:
// the page holding the Web Lock "mtj-hil-live-poll" polls and hands every answer to the
// others over a BroadcastChannel; when it closes, the lock passes to another page. Where
// either API is missing (plain http to another host is no secure context, so no Web
// Locks) each page polls for itself.
"use strict";

let snap = null, seq = null, lastOk = 0;

function dur(s) {
  if (s === null || s === undefined || !isFinite(s)) return "-";
  s = Math.max(0, Math.round(s));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return h ? `${h} h ${m} min` : m ? `${m} min ${r} s` : `${r} s`;
}

function renderHeader(d) {
  const state = d.state || "?";
  const badge = $("state");
  badge.textContent = state; badge.className = "badge " + state;
  $("title").textContent = d.title || "mtj-hil live view";
  document.title = `${state} - ${d.title || "mtj-hil"}`;
  $("message").textContent = d.message || "";
  const h = d.header;
  if (!h) {  // no run to show (gone, not yet made, unreadable): nothing of an earlier one stays
    for (const id of ["kind", "die", "station", "provenance"]) $(id).textContent = "";
    $("plan").replaceChildren();
    return;
  }
  $("kind").textContent = h.kind;
  $("die").textContent = h.die_id;
  $("station").textContent = "on " + h.station;
  const parts = [h.run_id && "run " + h.run_id, h.started && "started " + h.started, h.ended && "ended " + h.ended,
    h.operator && `operator ${h.operator} on ${h.host}`, h.status_reason];
  $("provenance").textContent = parts.filter(Boolean).join(" · ");
  const plan = Object.entries(h.plan).map(([k, v]) => [k, Array.isArray(v) && v.length > 8 ? `${v.length} values: ${v.slice(0, 3).join(", ")} ... ${v[v.length - 1]}` : JSON.stringify(v)]);
  table($("plan"), plan);
}

function renderProgress(d) {
  const p = d.progress;
  if (!p) {  // nothing to count yet (or any more)
    $("arrays-done").textContent = "0"; $("arrays-total").textContent = "?";
    $("bar-fill").style.width = "0%";
    return;
  }
  $("progress-label").textContent = d.source === "campaign" ? "tasks" : "arrays";
  $("arrays-done").textContent = p.done;
  $("arrays-total").textContent = p.total;
  $("bar-fill").style.width = (p.total ? (100 * p.done) / p.total : 0) + "%";
  const running = d.state === "running";
  const elapsed = running ? p.elapsed_s + (Date.now() / 1000 - d.received) : p.elapsed_s;
  $("elapsed").textContent = dur(elapsed);
  $("remaining").textContent = running ? dur(p.remaining_s) : p.done >= p.total ? "none" : "stopped";
  $("lab-times").textContent = p.lab_elapsed_s !== null
    ? ` · modelled lab time ${dur(p.lab_elapsed_s)}` + (running ? `, ~${dur(p.lab_remaining_s)} to go` : "")
    : "";
}

function render(d) {
  renderHeader(d);
  renderProgress(d);
  for (const [id, key] of [["char-panel", "characterization"], ["sw-panel", "switching"], ["campaign-panel", "campaign"]]) {
    if (!d[key]) $(id).hidden = true;  // shown again by its renderer when data comes
  }
  const layout = (d.header && d.header.layout) || {};
  if (d.characterization) renderChar(d.characterization, layout);
  if (d.switching) renderSwitching(d.switching, layout);
  if (d.campaign) renderCampaign(d.campaign);
  renderWarnings(d.warnings || []);
}

const channel = "BroadcastChannel" in window ? new BroadcastChannel("mtj-hil-live") : null;
const shared = channel !== null && !!(navigator.locks && navigator.locks.request);

function showConnection(ok, text) {
  $("conn").textContent = text;
  $("conn").className = ok ? "" : "down";
}

function accept(d) {
  lastOk = Date.now();
  if (d.seq !== seq) { seq = d.seq; snap = d; render(d); }
}

function tell(message) {
  if (shared) channel.postMessage(message);
}

async function fetchSnapshot(q) {
  const r = await fetch("/api/snapshot" + q, { cache: "no-store" });
  if (!r.ok) throw new Error(`HTTP ${r.status}`);
  const d = await r.json();
  d.received = Date.now() / 1000;
  return d;
}

async function poll() {
  for (;;) {
    try {
      const d = await fetchSnapshot(seq === null ? "" : `?seq=${seq}&wait=20`);
      const text = "connected · updated " + new Date().toLocaleTimeString();
      showConnection(true, text);
      accept(d);
      tell({ snapshot: d, ok: true, text });
    } catch (e) {
      const text = "connection lost (" + e.message + "); retrying...";
      showConnection(false, text);
      tell({ ok: false, text });
      seq = null; // ask for the whole state when the server answers again
      await new Promise((ok) => setTimeout(ok, 1000));
    }
  }
}

if (shared) {
  channel.onmessage = (e) => {
    const m = e.data;
    showConnection(m.ok, m.text);
    if (m.snapshot) accept(m.snapshot);
    else seq = null;
  };
  // one snapshot at once (no wait: it never holds a connection), then the shared poll
  fetchSnapshot("").then((d) => { showConnection(true, "connected"); accept(d); }, () => {});
  navigator.locks.request("mtj-hil-live-poll", () => poll());
} else {
  poll();
}

setInterval(() => { if (snap && snap.state === "running") renderProgress(snap); }, 1000);
