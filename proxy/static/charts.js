// Small SVG charts, no dependencies: stacked bars over time, lines, horizontal bars and a
// budget gauge. Every coloured mark carries data-kind / data-series (what it stands for),
// so one colour map per kind (model, team) keeps a model's colour the same in every chart.
"use strict";
const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  // Models: Tableau 10 (colour-blind friendly); teams: ColorBrewer Dark2, so a team and a
  // model never look alike. Further names get golden-angle hues.
  const PALETTES = {
    model: ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
            "#ff9da7", "#9c755f", "#bab0ac"],
    team: ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d",
           "#666666"],
  };
  const el = (name, attrs, parent) => {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  };
  const tip = (node, text) => { el("title", {}, node).textContent = text; return node; };
  const fmt = (v) => (v === null || v === undefined) ? "–" :
    Math.abs(v) >= 1000 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3);
  // Two significant digits below 100, whole numbers above, never "0.00".
  const sig2 = (v) => v === 0 ? "0" : Math.abs(v) >= 100 ? v.toFixed(0) :
    String(Number(v.toPrecision(2)));
  const clip = (text, n) => text.length > n ? text.slice(0, n - 1) + "…" : text;
  // A right-aligned row label, cut at its end (so it keeps its start) with the whole text
  // as a tooltip.
  const label = (s, x, y, text, n, title) => {
    const node = el("text", {x, y, "text-anchor": "end"}, s);
    node.textContent = clip(text, n);
    return tip(node, title || text);
  };
  const svg = (w, h) => el("svg", {viewBox: `0 0 ${w} ${h}`, width: "100%", role: "img"});

  // One colour per name of a kind ("model" or "team"), the same wherever the name appears
  // on the page. A name's colour comes from a hash of the name, so it also stays the same
  // across periods and drill-downs; two names on one page never share one (the later name,
  // in sorted order, takes the next free colour).
  function hash(text) {
    let h = 2166136261;
    for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
    return h >>> 0;
  }
  function colours(kind, names) {
    const palette = PALETTES[kind];
    const map = new Map();
    const taken = new Set();
    [...new Set(names)].filter((n) => n !== undefined && n !== null).sort().forEach((name, i) => {
      const start = hash(name) % palette.length;
      const free = palette.map((_, k) => (start + k) % palette.length).find((k) => !taken.has(k));
      if (free === undefined) {
        map.set(name, `hsl(${Math.round((i * 137.508) % 360)}, 55%, ${kind === "team" ? 35 : 55}%)`);
      } else {
        taken.add(free);
        map.set(name, palette[free]);
      }
    });
    return map;
  }

  // entries: [{name, color, kind?, series?, line?}] (line: the entry is a mark, drawn thin)
  function legend(entries) {
    const div = document.createElement("div");
    div.className = "legend";
    entries.forEach((e) => {
      const span = document.createElement("span");
      const swatch = document.createElement("i");
      swatch.style.background = e.color;
      if (e.line) swatch.className = "line";
      if (e.kind) { swatch.dataset.kind = e.kind; swatch.dataset.series = e.series ?? e.name; }
      if (e.legend) swatch.dataset.legend = e.legend;
      span.appendChild(swatch);
      span.appendChild(document.createTextNode(e.name));
      div.appendChild(span);
    });
    return div;
  }
  function empty(target, text) {
    const p = document.createElement("p");
    p.className = "empty";
    p.textContent = text || "No data for this period.";
    target.replaceChildren(p);
  }
  function yAxis(s, max, {W, H, L, T, B}) {
    for (let k = 0; k <= 4; k++) {
      const y = T + (H - T - B) * (1 - k / 4);
      el("line", {x1: L, x2: W, y1: y, y2: y, stroke: "#e5e7eb"}, s);
      el("text", {x: L - 4, y: y + 4, "text-anchor": "end"}, s).textContent = fmt(max * k / 4);
    }
  }
  function xLabels(s, slots, slotW, {H, L}) {
    const every = Math.max(1, Math.ceil(slots.length / 12));
    slots.forEach((x, i) => {
      if (i % every) return;
      el("text", {x: L + i * slotW + slotW / 2, y: H - 6, "text-anchor": "middle"}, s)
        .textContent = x.length === 10 ? x.slice(5) : x;
    });
  }

  // Stacked bars: one slot per day (or month) of the period, whether it has data or not,
  // so one day of data is one narrow bar, not the whole width.
  // opts: {slots, points: [{x, series, value}], color: Map, kind}
  function stacked(target, {slots, points, color, kind}) {
    if (!points.some((p) => p.value > 0)) return empty(target);
    const series = [...new Set(points.map((p) => p.series))].sort();
    const totals = {};
    points.forEach((p) => { totals[p.x] = (totals[p.x] || 0) + p.value; });
    const max = Math.max(...Object.values(totals)) || 1;
    const box = {W: 560, H: 220, L: 52, B: 22, T: 8};
    const s = svg(box.W, box.H);
    s.dataset.slots = String(slots.length);
    yAxis(s, max, box);
    const slotW = (box.W - box.L - 4) / slots.length;
    const barW = Math.max(Math.min(slotW - 2, 36), 1);
    const plotH = box.H - box.T - box.B;
    slots.forEach((x, i) => {
      let base = 0;
      series.forEach((name) => {
        const p = points.find((q) => q.x === x && q.series === name);
        if (!p || !(p.value > 0)) return;
        const h = plotH * p.value / max;
        const y = box.H - box.B - plotH * base / max - h;
        tip(el("rect", {x: box.L + i * slotW + (slotW - barW) / 2, y, width: barW, height: h,
                        fill: color.get(name), "data-kind": kind, "data-series": name}, s),
            `${x} ${name}: ${fmt(p.value)}`);
        base += p.value;
      });
    });
    xLabels(s, slots, slotW, box);
    target.replaceChildren(s, legend(series.map((n) => ({name: n, color: color.get(n), kind}))));
  }

  // Lines over the period's slots. series: [{name, values (one per slot, null = none),
  // color, width, dash}]
  function lines(target, {slots, series, unit}) {
    const all = series.flatMap((l) => l.values.filter((v) => v !== null));
    if (!all.some((v) => v > 0)) return empty(target);
    const max = Math.max(...all) || 1;
    const box = {W: 560, H: 220, L: 52, B: 22, T: 8};
    const s = svg(box.W, box.H);
    yAxis(s, max, box);
    const slotW = (box.W - box.L - 4) / slots.length;
    const plotH = box.H - box.T - box.B;
    series.forEach((l) => {
      const pts = l.values.map((v, i) => v === null ? null :
        [box.L + i * slotW + slotW / 2, box.H - box.B - plotH * v / max]);
      const d = pts.filter(Boolean).map((p, i) => `${i ? "L" : "M"}${p[0]},${p[1]}`).join("");
      el("path", {d, fill: "none", stroke: l.color, "stroke-width": l.width || 1.5,
                  "stroke-dasharray": l.dash || "none"}, s);
      pts.forEach((p, i) => {
        if (p && slots.length <= 62) {
          tip(el("circle", {cx: p[0], cy: p[1], r: 2, fill: l.color}, s),
              `${slots[i]} ${l.name}: ${fmt(l.values[i])}${unit || ""}`);
        }
      });
    });
    xLabels(s, slots, slotW, box);
    target.replaceChildren(s, legend(series.map((l) => ({name: l.name, color: l.color}))));
  }

  // Horizontal bars. items: [{label, title, value, color, kind, series,
  //                           value2?, color2?, series2?}] (value2: a second, thinner bar)
  function bars(target, items, opts = {}) {
    if (!items.length) return empty(target);
    const max = Math.max(...items.flatMap((b) => [b.value, b.value2 || 0])) || 1;
    const W = 560, row = 26, L = 220, R = 80, H = items.length * row + 8;
    const s = svg(W, H);
    const x = (v) => (W - L - R) * v / max;
    items.forEach((b, i) => {
      const y = 4 + i * row;
      label(s, L - 6, y + 16, b.label, 34, b.title);
      const two = b.value2 !== undefined;
      tip(el("rect", {x: L, y: y + 3, width: Math.max(x(b.value), 1), height: two ? 9 : 18,
                      fill: b.color, "data-kind": b.kind || "", "data-series": b.series || ""}, s),
          `${b.title || b.label}: ${fmt(b.value)}${opts.unit || ""}`);
      if (two) {
        tip(el("rect", {x: L, y: y + 13, width: Math.max(x(b.value2), 1), height: 9,
                        fill: b.color2, "data-kind": b.kind || "",
                        "data-series": b.series2 || ""}, s),
            `${b.series2}: ${fmt(b.value2)}${opts.unit || ""}`);
      }
      el("text", {x: L + x(Math.max(b.value, b.value2 || 0)) + 4, y: y + 16}, s)
        .textContent = fmt(b.value) + (opts.unit || "");
    });
    target.replaceChildren(s);
    if (opts.legend) target.appendChild(opts.legend);
  }

  // Budgets: each row on its own scale, 0 to 125 % of its limit (hard, else soft), so a
  // small team's budget is as readable as a large one's. Usage beyond the scale is clipped
  // at the edge with an arrow; over the hard limit the row says "over budget".
  // rows: [{label, used, soft, hard, unit}]; colours: {used, soft_over, hard_over, soft, hard}
  function budget(target, rows, colours) {
    if (!rows.length) return empty(target, "No budgets set.");
    const W = 560, row = 30, L = 150, R = 150, H = rows.length * row + 22;
    const s = svg(W, H);
    const span = W - L - R;
    [0, 50, 100, 125].forEach((pct) => {
      const x = L + span * pct / 125;
      el("line", {x1: x, x2: x, y1: 2, y2: H - 16, stroke: "#e5e7eb"}, s);
      el("text", {x, y: H - 4, "text-anchor": "middle"}, s).textContent = pct + "%";
    });
    rows.forEach((b, i) => {
      const y = 4 + i * row;
      const limit = b.hard ?? b.soft;
      const scale = limit * 1.25;
      const x = (v) => L + span * Math.min(v, scale) / scale;
      const overHard = b.hard !== null && b.used > b.hard;
      const overSoft = b.soft !== null && b.used > b.soft;
      const fill = overHard ? colours.hard_over : overSoft ? colours.soft_over : colours.used;
      label(s, L - 6, y + 17, b.label, 24);
      const width = b.used > 0 ? Math.max(x(b.used) - L, 2) : 0;
      tip(el("rect", {x: L, y: y + 6, width, height: 16, fill, "data-budget": b.label}, s),
          `${b.label}: ${fmt(b.used)} ${b.unit} used` +
          (b.soft !== null ? `, soft ${fmt(b.soft)}` : "") +
          (b.hard !== null ? `, hard ${fmt(b.hard)}` : ""));
      if (b.used > scale) {  // clipped: an arrow at the edge
        const e = L + span;
        el("path", {d: `M${e - 2},${y + 3}L${e + 8},${y + 14}L${e - 2},${y + 25}Z`, fill}, s);
      }
      [["soft", b.soft], ["hard", b.hard]].forEach(([kind, v]) => {
        if (v === null) return;
        el("line", {x1: x(v), x2: x(v), y1: y + 1, y2: y + 27, stroke: colours[kind],
                    "stroke-width": 2.5, "data-mark": kind}, s);
      });
      const pct = 100 * b.used / limit;
      const text = el("text", {x: L + span + 14, y: y + 17}, s);
      if (overHard) {
        text.setAttribute("class", "over-budget");
        text.textContent = `over budget ×${sig2(b.used / b.hard)}`;
      } else {
        text.textContent = `${sig2(pct)}% of ${b.hard !== null ? "hard" : "soft"}`;
      }
    });
    target.replaceChildren(s, legend([
      {name: "used", color: colours.used, legend: "used"},
      {name: "used, over the soft limit", color: colours.soft_over, legend: "soft_over"},
      {name: "used, over the hard limit", color: colours.hard_over, legend: "hard_over"},
      {name: "soft limit", color: colours.soft, line: true, legend: "soft"},
      {name: "hard limit", color: colours.hard, line: true, legend: "hard"},
    ]));
  }

  // Words for equivalents, at the unit that suits their size.
  function duration(minutes) {
    if (minutes < 1) return sig2(minutes * 60) + " s";
    if (minutes < 60) return sig2(minutes) + " min";
    if (minutes < 48 * 60) return sig2(minutes / 60) + " h";
    return sig2(minutes / 1440) + " days";
  }
  function distance(km) {
    if (km < 0.001) return sig2(km * 1e5) + " cm";
    if (km < 1) return sig2(km * 1000) + " m";
    return sig2(km) + " km";
  }
  return {stacked, lines, bars, budget, legend, colours, fmt, sig2, clip, duration, distance};
})();
