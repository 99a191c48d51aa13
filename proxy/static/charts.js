// Small SVG charts, no dependencies: stacked bars over time and horizontal bars.
"use strict";
const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const PALETTE = ["#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2",
                   "#db2777", "#65a30d", "#ea580c", "#475569"];
  const color = (i) => PALETTE[i % PALETTE.length];
  const el = (name, attrs, parent) => {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  };
  const fmt = (v) => (v === null || v === undefined) ? "–" :
    Math.abs(v) >= 1000 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3);
  const svg = (w, h) => el("svg", {viewBox: `0 0 ${w} ${h}`, width: "100%", role: "img"});
  function legend(names) {
    const div = document.createElement("div");
    div.className = "legend";
    names.forEach((n, i) => {
      const span = document.createElement("span");
      span.innerHTML = `<i style="background:${color(i)}"></i>`;
      span.appendChild(document.createTextNode(n));
      div.appendChild(span);
    });
    return div;
  }
  function empty(target) { target.textContent = "No data for this period."; }

  // points: [{x: label, series: name, value}], stacked per x.
  function stacked(target, points) {
    target.replaceChildren();
    if (!points.length) return empty(target);
    const xs = [...new Set(points.map((p) => p.x))].sort();
    const series = [...new Set(points.map((p) => p.series))].sort();
    const totals = {};
    points.forEach((p) => { totals[p.x] = (totals[p.x] || 0) + p.value; });
    const max = Math.max(...Object.values(totals)) || 1;
    const W = 560, H = 220, L = 48, B = 22, T = 8;
    const s = svg(W, H);
    const bw = (W - L - 4) / xs.length;
    for (let k = 0; k <= 4; k++) {
      const y = T + (H - T - B) * (1 - k / 4);
      el("line", {x1: L, x2: W, y1: y, y2: y, stroke: "#e5e7eb"}, s);
      el("text", {x: L - 4, y: y + 4, "text-anchor": "end"}, s).textContent = fmt(max * k / 4);
    }
    xs.forEach((x, i) => {
      let base = 0;
      series.forEach((name, j) => {
        const p = points.find((q) => q.x === x && q.series === name);
        if (!p || !p.value) return;
        const h = (H - T - B) * p.value / max;
        const y = H - B - (H - T - B) * base / max - h;
        const r = el("rect", {x: L + i * bw + 1, y, width: Math.max(bw - 2, 1), height: h,
                              fill: color(j)}, s);
        el("title", {}, r).textContent = `${x} ${name}: ${fmt(p.value)}`;
        base += p.value;
      });
      if (xs.length <= 16 || i % Math.ceil(xs.length / 12) === 0) {
        el("text", {x: L + i * bw + bw / 2, y: H - 6, "text-anchor": "middle"}, s)
          .textContent = x.length > 7 ? x.slice(5) : x;
      }
    });
    target.appendChild(s);
    target.appendChild(legend(series));
  }

  // bars: [{label, value, extra: [{value, label}]}] horizontal; extra values are marks.
  function bars(target, items, opts = {}) {
    target.replaceChildren();
    if (!items.length) return empty(target);
    const max = Math.max(...items.flatMap((b) => [b.value, ...(b.marks || []).map((m) => m.value),
                                                  b.value2 || 0])) || 1;
    const W = 560, row = 24, L = 190, H = items.length * row + 8;
    const s = svg(W, H);
    items.forEach((b, i) => {
      const y = 4 + i * row;
      el("text", {x: L - 6, y: y + 15, "text-anchor": "end"}, s).textContent =
        b.label.length > 30 ? "…" + b.label.slice(-29) : b.label;
      const w = (W - L - 70) * b.value / max;
      el("rect", {x: L, y: y + 3, width: Math.max(w, 1), height: b.value2 === undefined ? 16 : 8,
                  fill: b.color || color(i)}, s);
      if (b.value2 !== undefined) {
        el("rect", {x: L, y: y + 12, width: Math.max((W - L - 70) * b.value2 / max, 1),
                    height: 8, fill: "#16a34a"}, s);
      }
      (b.marks || []).forEach((m) => {
        const x = L + (W - L - 70) * m.value / max;
        el("line", {x1: x, x2: x, y1: y, y2: y + row - 2, stroke: m.color, "stroke-width": 2}, s);
      });
      el("text", {x: L + w + 4, y: y + 15}, s).textContent = fmt(b.value) + (opts.unit || "");
    });
    target.appendChild(s);
    if (opts.legend) target.appendChild(opts.legend);
  }
  return {stacked, bars, legend, fmt, color};
})();
