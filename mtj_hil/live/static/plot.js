// Small canvas plotting for the live view: axes with linear or log scales, lines, markers,
// bars, and tiled maps. No library, no network.
"use strict";

const Plot = (() => {
  function setup(canvas) {
    const ratio = window.devicePixelRatio || 1;
    const w = canvas.width / (canvas._ratio || 1), h = canvas.height / (canvas._ratio || 1);
    if (canvas._ratio !== ratio) {
      canvas.style.width = w + "px"; canvas.style.height = h + "px";
      canvas.width = w * ratio; canvas.height = h * ratio; canvas._ratio = ratio;
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, w, h);
    ctx.font = "11px system-ui, sans-serif";
    return { ctx, w, h };
  }

  function niceTicks(lo, hi, n) {
    const span = hi - lo || 1, raw = span / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => span / s <= n) || 10 * mag;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * span; v += step) out.push(+v.toPrecision(12));
    return out;
  }

  function fmt(v) {
    if (v === 0) return "0";
    const a = Math.abs(v);
    if (a >= 1e4 || a < 1e-3) return v.toExponential(0).replace("e+", "e");
    return String(+v.toPrecision(3));
  }

  function extent(series, key, log) {
    let lo = Infinity, hi = -Infinity;
    for (const s of series) for (const v of s[key]) {
      if (v === null || !isFinite(v) || (log && v <= 0)) continue;
      lo = Math.min(lo, v); hi = Math.max(hi, v);
    }
    if (lo === Infinity) return log ? [1, 10] : [0, 1];
    if (lo === hi) return log ? [lo / 2, hi * 2] : [lo - 0.5, hi + 0.5];
    return [lo, hi];
  }

  // chart(canvas, {series:[{x,y,color,label,dash,marker,line}], xlog, ylog, xlabel, ylabel, xrange, yrange, bars})
  function chart(canvas, opt) {
    const { ctx, w, h } = setup(canvas);
    const m = { l: 52, r: 10, t: 10, b: 34 };
    const series = opt.series.filter((s) => s.x.length);
    if (!series.length) { ctx.fillStyle = "#8a94a0"; ctx.fillText(opt.empty || "no data yet", m.l, h / 2); return; }
    const [x0, x1] = opt.xrange || extent(series, "x", opt.xlog);
    const [y0, y1] = opt.yrange || extent(series, "y", opt.ylog);
    const tx = opt.xlog ? Math.log10 : (v) => v, ty = opt.ylog ? Math.log10 : (v) => v;
    const X = (v) => m.l + ((tx(v) - tx(x0)) / (tx(x1) - tx(x0) || 1)) * (w - m.l - m.r);
    const Y = (v) => h - m.b - ((ty(v) - ty(y0)) / (ty(y1) - ty(y0) || 1)) * (h - m.t - m.b);
    ctx.strokeStyle = "#c8cfd8"; ctx.fillStyle = "#4a5561"; ctx.lineWidth = 1;
    const ticks = (lo, hi, log) => {
      if (!log || hi / lo < 30) return niceTicks(lo, hi, log ? 4 : 6);
      return niceTicks(Math.floor(Math.log10(lo)), Math.ceil(Math.log10(hi)), 6)
        .filter(Number.isInteger).map((e) => Math.pow(10, e)).filter((v) => v >= lo * 0.999 && v <= hi * 1.001);
    };
    ctx.textAlign = "center";
    for (const v of ticks(x0, x1, opt.xlog)) {
      const px = X(v); ctx.beginPath(); ctx.moveTo(px, m.t); ctx.lineTo(px, h - m.b); ctx.stroke();
      ctx.fillText(fmt(v), px, h - m.b + 13);
    }
    ctx.textAlign = "right";
    for (const v of ticks(y0, y1, opt.ylog)) {
      const py = Y(v); ctx.beginPath(); ctx.moveTo(m.l, py); ctx.lineTo(w - m.r, py); ctx.stroke();
      ctx.fillText(fmt(v), m.l - 4, py + 4);
    }
    ctx.textAlign = "center"; ctx.fillText(opt.xlabel || "", (m.l + w - m.r) / 2, h - 4);
    ctx.save(); ctx.translate(11, (m.t + h - m.b) / 2); ctx.rotate(-Math.PI / 2); ctx.fillText(opt.ylabel || "", 0, 0); ctx.restore();
    ctx.save(); ctx.beginPath(); ctx.rect(m.l, m.t, w - m.l - m.r, h - m.t - m.b); ctx.clip();
    for (const s of series) {
      ctx.strokeStyle = ctx.fillStyle = s.color || "#2b5fad"; ctx.lineWidth = s.width || 1.6;
      ctx.setLineDash(s.dash ? [5, 4] : []);
      const ok = (i) => s.x[i] !== null && s.y[i] !== null && isFinite(s.y[i]) && (!opt.ylog || s.y[i] > 0) && (!opt.xlog || s.x[i] > 0);
      if (s.bars) {
        ctx.globalAlpha = s.alpha || 0.55;
        for (let i = 0; i + 1 < s.x.length; i++) {
          if (!s.y[i]) continue;
          const xa = X(s.x[i]), xb = X(s.x[i + 1]);
          ctx.fillRect(xa, Y(s.y[i]), Math.max(xb - xa - 0.5, 1), Y(y0) - Y(s.y[i]));
        }
        ctx.globalAlpha = 1; continue;
      }
      if (s.line !== false) {
        ctx.beginPath(); let pen = false;
        s.x.forEach((_, i) => { if (!ok(i)) { pen = false; return; } pen ? ctx.lineTo(X(s.x[i]), Y(s.y[i])) : ctx.moveTo(X(s.x[i]), Y(s.y[i])); pen = true; });
        ctx.stroke();
      }
      if (s.marker) s.x.forEach((_, i) => { if (ok(i)) { ctx.beginPath(); ctx.arc(X(s.x[i]), Y(s.y[i]), 2.5, 0, 7); ctx.fill(); } });
    }
    ctx.restore(); ctx.setLineDash([]);
    legend(ctx, series.filter((s) => s.label), w - m.r - 4, m.t + 4);
  }

  function legend(ctx, series, right, top) {
    ctx.textAlign = "right";
    series.forEach((s, i) => {
      const y = top + 12 * i + 8;
      ctx.fillStyle = s.color || "#2b5fad"; ctx.fillRect(right - 8, y - 7, 8, 8);
      ctx.fillStyle = "#1d232b"; ctx.fillText(s.label, right - 12, y);
    });
  }

  // tiles(canvas, {n, rows, cols, tiles:{index: {label, color(r,c) or null}}, perRow})
  function tiles(canvas, opt) {
    const { ctx, w, h } = setup(canvas);
    const perRow = opt.perRow || Math.ceil(Math.sqrt(opt.n * 2));
    const nRows = Math.ceil(opt.n / perRow), gap = 6, head = 13;
    const cell = Math.max(1, Math.floor(Math.min((w - gap * perRow) / (perRow * opt.cols), (h - (gap + head) * nRows) / (nRows * opt.rows))));
    const tw = cell * opt.cols, th = cell * opt.rows;
    ctx.textAlign = "left";
    for (let k = 0; k < opt.n; k++) {
      const x = (k % perRow) * (tw + gap), y = Math.floor(k / perRow) * (th + gap + head);
      const t = opt.tiles[k];
      ctx.fillStyle = "#4a5561"; ctx.fillText(t ? t.label : String(k), x, y + 10);
      if (!t || !t.color) { ctx.fillStyle = "#e6e9ed"; ctx.fillRect(x, y + head, tw, th); continue; }
      for (let r = 0; r < opt.rows; r++) for (let c = 0; c < opt.cols; c++) {
        ctx.fillStyle = t.color(r, c); ctx.fillRect(x + c * cell, y + head + r * cell, cell, cell);
      }
    }
  }

  const STOPS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  function ramp(t) {
    if (t === null || !isFinite(t)) return "#d9dde2";
    t = Math.min(1, Math.max(0, t)) * (STOPS.length - 1);
    const i = Math.min(Math.floor(t), STOPS.length - 2), f = t - i;
    const c = STOPS[i].map((v, k) => Math.round(v + f * (STOPS[i + 1][k] - v)));
    return `rgb(${c[0]},${c[1]},${c[2]})`;
  }

  function colorbar(canvas, lo, hi, label) {
    const { ctx, w, h } = setup(canvas);
    for (let i = 0; i < w - 80; i++) { ctx.fillStyle = ramp(i / (w - 81)); ctx.fillRect(40 + i, 2, 1, 10); }
    ctx.fillStyle = "#4a5561"; ctx.textAlign = "right"; ctx.fillText(fmt(lo), 38, 11);
    ctx.textAlign = "left"; ctx.fillText(fmt(hi) + " " + (label || ""), w - 38, 11);
  }

  return { chart, tiles, ramp, colorbar, fmt };
})();
