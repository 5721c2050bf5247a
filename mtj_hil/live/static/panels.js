// The live view's panels: characterisation (die map, yields, resistance), switching
// (S-curves, WER, Vc/Delta maps) and campaign (tasks, lot map, failures).
"use strict";

const CLASSES = [
  ["GOOD", "#5aa469"], ["SHORT", "#d62728"], ["OPEN", "#333333"],
  ["STUCK_P", "#1f77b4"], ["STUCK_AP", "#ff7f0e"], ["UNCERTAIN", "#d61bd6"],
];
const $ = (id) => document.getElementById(id);
const pct = (v) => (v === null || v === undefined ? "-" : (100 * v).toFixed(2) + " %");

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function table(node, rows, head) {
  node.replaceChildren();
  if (head) { const tr = el("tr"); head.forEach((h) => tr.append(el("th", h))); node.append(tr); }
  for (const r of rows) { const tr = el("tr"); r.forEach((c) => tr.append(el("td", String(c)))); node.append(tr); }
}

function yieldRange(arrays) {
  const ys = arrays.filter((a) => a.yield !== null).map((a) => 100 * a.yield);
  const lo = ys.length ? Math.min(...ys) : 90;
  return [Math.max(0, lo - Math.max(0.1, 0.1 * (100 - lo))), 100];
}

function renderChar(d, layout) {
  $("char-panel").hidden = false;
  const n = layout.n_arrays || d.arrays.length, rows = layout.rows || 25, cols = layout.cols || 25;
  const tiles = {};
  for (const a of d.arrays) {
    const codes = a.codes;
    tiles[a.array] = {
      label: `${a.array}: ${a.yield === null ? "?" : (100 * a.yield).toFixed(1) + "%"}${a.uncertain ? " " + a.uncertain + "?" : ""}`,
      color: codes ? (r, c) => CLASSES[+codes[r * cols + c]][1] : () => "#a0a7b0",
    };
  }
  Plot.tiles($("diemap"), { n, rows, cols, tiles, perRow: n >= 16 ? 8 : Math.min(n, 4) });
  $("map-note").textContent = d.final
    ? "final: die-wide classification from the run file"
    : "provisional: each array classified on its own as it lands; the die-wide classification replaces it at the end";
  const y = $("yield");
  y.textContent = pct(d.yield);
  y.dataset.good = d.good; y.dataset.devices = d.devices; y.dataset.final = d.final;
  table($("counts"), Object.entries(d.counts).map(([k, v]) => [k, v]));
  const legend = $("legend");
  if (!legend.childElementCount) for (const [name, color] of CLASSES) {
    const s = el("span", name); const i = el("i"); i.style.background = color; s.prepend(i); legend.append(s);
  }
  const xs = d.arrays.map((a) => a.array);
  Plot.chart($("yield-chart"), {
    series: [{ x: xs, y: d.arrays.map((a) => (a.yield === null ? null : 100 * a.yield)), color: "#2b8a4b", marker: true, line: false }],
    xlabel: "array", ylabel: "yield (%)", xrange: [-0.5, Math.max(n - 0.5, 0.5)],
    yrange: yieldRange(d.arrays),
  });
  const hst = d.histogram;
  Plot.chart($("hist"), {
    series: [
      { x: hst.edges, y: hst.p, color: "#1f77b4", bars: true, label: "after P writes" },
      { x: hst.edges, y: hst.ap, color: "#ff7f0e", bars: true, label: "after AP writes" },
    ],
    xlog: true, xlabel: "resistance (ohm)", ylabel: "devices",
    yrange: [0, Math.max(1, ...hst.p, ...hst.ap) * 1.05],
  });
}

const WIDTH_COLORS = ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf"];
const DIR_DASH = { AP: false, P: true };

function renderSwitching(d, layout) {
  $("sw-panel").hidden = false;
  const widths = [...new Set(d.curves.map((c) => c.width))].sort((a, b) => a - b);
  const color = (w) => WIDTH_COLORS[widths.indexOf(w) % WIDTH_COLORS.length];
  const label = (c) => `to ${c.direction}, ${Plot.fmt(c.width)} s`;
  Plot.chart($("scurve"), {
    series: [
      ...d.curves.map((c) => ({ x: c.amplitudes, y: c.p, color: color(c.width), marker: true, label: label(c), dash: c.direction === "P" })),
      ...d.latest.map((c) => ({ x: c.amplitudes, y: c.p, color: color(c.width), dash: true, width: 0.8 })),
    ],
    xlabel: "pulse amplitude (V)", ylabel: "P(switch)", yrange: [0, 1],
  });
  const fitted = [];
  if (d.fit) for (const [dir, w] of Object.entries(d.fit.wer)) w.widths.forEach((width, i) => {
    fitted.push({ x: w.amplitudes, y: w.median[i], color: WIDTH_COLORS[i % WIDTH_COLORS.length], dash: DIR_DASH[dir], width: 1 });
  });
  Plot.chart($("wer"), {
    series: [
      ...d.curves.map((c) => ({ x: c.amplitudes, y: c.wer, color: color(c.width), marker: true, line: false, label: label(c) })),
      ...fitted,
    ],
    ylog: true, xlabel: "pulse amplitude (V)", ylabel: "write-error rate",
  });
  $("sw-note").textContent = d.fit
    ? "fitted: Vc0 and Delta per device from the run file"
    : `measuring: latest array ${d.latest_array ?? "-"}; maps show where each device's P(switch) crosses 1/2 at the longest width`;
  const box = $("sw-maps");
  const names = d.fit ? ["vc_AP", "vc_P", "delta_AP", "delta_P"] : ["vc_AP", "vc_P"];
  if (box.dataset.names !== names.join()) {
    box.replaceChildren();
    for (const name of names) {
      const f = el("figure"); const c = el("canvas"); c.width = 360; c.height = 200; c.id = "map-" + name;
      const bar = el("canvas"); bar.width = 360; bar.height = 14; bar.id = "bar-" + name;
      f.append(c, bar, el("figcaption", mapCaption(name, d.fit))); box.append(f);
    }
    box.dataset.names = names.join();
  }
  const rows = layout.rows || 25, cols = layout.cols || 25;
  for (const name of names) {
    const vals = d.maps.flatMap((m) => m[name] || []).filter((v) => v !== null);
    const lo = vals.length ? Math.min(...vals) : 0, hi = vals.length ? Math.max(...vals) : 1;
    const tiles = {};
    d.maps.forEach((m, k) => {
      const v = m[name];
      tiles[k] = { label: `array ${m.array}`, color: v ? (r, c) => Plot.ramp((v[r * cols + c] - lo) / (hi - lo || 1)) : null };
    });
    Plot.tiles($("map-" + name), { n: Math.max(d.maps.length, 1), rows, cols, tiles, perRow: Math.min(Math.max(d.maps.length, 1), 4) });
    Plot.colorbar($("bar-" + name), lo, hi, name.startsWith("vc") ? "V" : "");
  }
}

function mapCaption(name, fit) {
  const dir = name.endsWith("_AP") ? "to AP" : "to P";
  if (name.startsWith("delta")) return `thermal stability Delta, ${dir}`;
  return fit ? `critical voltage Vc0 (V), ${dir}` : `provisional Vc at P = 1/2 (V), ${dir}`;
}

const TASK_STATES = ["pending", "running", "completed", "failed"];

function renderCampaign(d) {
  $("campaign-panel").hidden = false;
  table($("tasks"), Object.entries(d.by_kind).map(([k, s]) => [k, ...TASK_STATES.map((st) => s[st] || 0)]), ["kind", ...TASK_STATES]);
  const ul = $("failures"); ul.replaceChildren();
  for (const f of d.failures) { const li = el("li"); li.append(el("b", f.id + ": "), el("span", f.error || "(no error recorded)")); ul.append(li); }
  $("failure-count").textContent = d.failures.length;
  table($("task-list"), d.tasks.map((t) => [t.id, t.kind, t.status, t.progress || "", t.worker || "", t.started || "", t.ended || ""]),
    ["task", "kind", "status", "progress", "worker", "started", "ended"]);
  const dies = d.lot;
  const n = dies.length, perRow = Math.ceil(Math.sqrt(n || 1));
  const tiles = {};
  dies.forEach((die, k) => {
    const v = die.yield;
    const col = die.status === "failed" ? "#b3261e" : die.status === "running" ? "#f2c14e" : die.status === "completed" ? Plot.ramp(v === null ? null : (v - d.lot_range[0]) / ((d.lot_range[1] - d.lot_range[0]) || 1)) : "#e6e9ed";
    tiles[k] = { label: `${die.label} ${die.status === "completed" && v !== null ? (100 * v).toFixed(1) + "%" : die.status === "running" ? die.progress || "" : ""}`, color: () => col };
  });
  Plot.tiles($("lotmap"), { n: Math.max(n, 1), rows: 4, cols: 6, tiles, perRow });
}

function renderWarnings(list) {
  const ul = $("warnings");
  $("warning-count").textContent = list.length;
  ul.replaceChildren();
  for (const w of list.slice(-200).reverse()) {
    const li = el("li");
    const when = w.t ? new Date(w.t * 1000).toLocaleTimeString() + " " : "";
    li.append(el("span", when + w.source + ": ", "src"), el("span", w.text));
    ul.append(li);
  }
}
