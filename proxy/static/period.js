// Report periods for the dashboard: presets, the slots (days or months) charts draw, and
// the granularity. Dates are UTC "YYYY-MM-DD"; `to` is included whole, as in the report API.
"use strict";
const Period = (() => {
  const iso = (d) => d.toISOString().slice(0, 10);
  const utc = (y, m, d) => new Date(Date.UTC(y, m, d));
  const today = () => { const n = new Date(); return utc(n.getUTCFullYear(), n.getUTCMonth(), n.getUTCDate()); };
  const addDays = (d, n) => new Date(d.getTime() + n * 86400000);

  function preset(name, now = today()) {
    const y = now.getUTCFullYear(), m = now.getUTCMonth();
    switch (name) {
      case "last-month": return {from: iso(utc(y, m - 1, 1)), to: iso(utc(y, m, 0))};
      case "last-7": return {from: iso(addDays(now, -6)), to: iso(now)};
      case "last-30": return {from: iso(addDays(now, -29)), to: iso(now)};
      case "this-quarter": {
        const q = m - (m % 3);
        return {from: iso(utc(y, q, 1)), to: iso(utc(y, q + 3, 0))};
      }
      case "this-year": return {from: iso(utc(y, 0, 1)), to: iso(utc(y, 11, 31))};
      default: return {from: iso(utc(y, m, 1)), to: iso(utc(y, m + 1, 0))};  // this month
    }
  }
  // Which preset a range is, or "custom".
  function presetOf(range) {
    const names = ["this-month", "last-month", "last-7", "last-30", "this-quarter", "this-year"];
    return names.find((n) => { const p = preset(n); return p.from === range.from && p.to === range.to; })
      || "custom";
  }
  const parse = (s) => /^\d{4}-\d{2}-\d{2}$/.test(s || "") ? new Date(s + "T00:00:00Z") : null;
  function valid(range) {
    const a = parse(range.from), b = parse(range.to);
    return a !== null && b !== null && a <= b;
  }
  // Days up to 92, months beyond: the unit of the time charts.
  function granularity(range) {
    return (parse(range.to) - parse(range.from)) / 86400000 + 1 > 92 ? "month" : "day";
  }
  // Every day (or month) of the range, up to today: charts draw one slot per entry, data
  // or not, and leave out the future.
  function slots(range) {
    const end = new Date(Math.min(parse(range.to), today()));
    const out = [];
    if (granularity(range) === "day") {
      for (let d = parse(range.from); d <= end; d = addDays(d, 1)) out.push(iso(d));
    } else {
      for (let d = parse(range.from); d <= end; d = utc(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)) {
        out.push(iso(d).slice(0, 7));
      }
    }
    return out.length ? out : [range.from];
  }
  return {preset, presetOf, valid, granularity, slots};
})();
