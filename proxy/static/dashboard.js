// Wattgate dashboard: reads /v1/reports, /v1/budgets and /v1/whatif for a date range, for
// all teams or one (drill-down). The key comes from the login form or a `#key=` link and
// stays in this tab's session storage; in open mode there is no key to ask for.
"use strict";
(() => {
  const KEY = "wattgate-key";
  const $ = (id) => document.getElementById(id);
  const {fmt, sig2} = Charts;
  const BUDGET_COLOURS = {used: "#4e79a7", soft_over: "#f28e2b", hard_over: "#e15759",
                          soft: "#b8860b", hard: "#111827"};
  let openMode = false;

  // A login link may carry the key in the fragment (never sent to the server).
  const frag = new URLSearchParams(location.hash.slice(1));
  if (frag.get("key")) {
    sessionStorage.setItem(KEY, frag.get("key"));
    history.replaceState(null, "", location.pathname + location.search);
  }
  const query = new URLSearchParams(location.search);
  const state = {range: {from: query.get("from"), to: query.get("to")},
                 team: query.get("team") || null};
  if (!Period.valid(state.range)) state.range = Period.preset("this-month");

  function remember() {
    const q = new URLSearchParams({from: state.range.from, to: state.range.to});
    if (state.team) q.set("team", state.team);
    history.replaceState(null, "", location.pathname + "?" + q);
  }

  async function api(path, params) {
    const headers = {};
    const key = sessionStorage.getItem(KEY);
    if (!openMode && key) headers.Authorization = "Bearer " + key;
    const res = await fetch(path + "?" + new URLSearchParams(params), {headers});
    const body = await res.json();
    if (!res.ok) {
      const err = new Error(body.error ? body.error.message : res.statusText);
      err.status = res.status;
      throw err;
    }
    return body;
  }

  function setValue(id, value, text) {
    const node = $(id);
    node.dataset.value = value === null ? "" : String(value);
    node.textContent = text;
  }

  // cols: [[heading, key, format?]]; link: optional (row) => team to drill into
  function table(target, rows, cols, link) {
    const t = document.createElement("table");
    t.innerHTML = "<tr>" + cols.map((c) => `<th>${c[0]}</th>`).join("") + "</tr>";
    rows.forEach((r) => {
      const tr = document.createElement("tr");
      cols.forEach(([, key, f], i) => {
        const td = document.createElement("td");
        const text = f ? f(r[key]) : (r[key] ?? "–");
        if (i === 0 && link) {
          const a = document.createElement("a");
          a.href = "?team=" + encodeURIComponent(r[key]);
          a.textContent = text;
          a.dataset.team = r[key];
          a.addEventListener("click", (ev) => { ev.preventDefault(); drill(r[key]); });
          td.appendChild(a);
        } else {
          td.textContent = text;
        }
        tr.appendChild(td);
      });
      t.appendChild(tr);
    });
    target.replaceChildren(t);
  }

  const shortModel = (m) => (m || "none").split("/").pop();
  const pct = (v) => v === null ? "–" : (v * 100).toFixed(0) + "%";

  function equivalents(eq) {
    const charge = eq.smartphone_charges;
    const items = [
      ["smartphone_charges", "Smartphone charges",
       charge < 1 ? `${sig2(charge * 100)}% of one` : sig2(charge), "US EPA: 12 Wh per full charge"],
      ["led_bulb_minutes", "LED bulb", Charts.duration(eq.led_bulb_minutes),
       "US DOE: a 10 W LED (60 W incandescent light)"],
      ["car_km", "By car", Charts.distance(eq.car_km),
       "US EPA: 251 g CO2 per km, typical passenger vehicle"],
      ["water_intake_days", "Water an adult takes in",
       Charts.duration(eq.water_intake_days * 1440), "EFSA: 2.0 L per day"],
    ];
    $("equivalents").replaceChildren(...items.map(([name, title, text, source]) => {
      const div = document.createElement("div");
      div.className = "card";
      div.title = source;
      div.innerHTML = `<h3></h3><b></b><small></small>`;
      div.querySelector("h3").textContent = "≈ " + title;
      div.querySelector("b").textContent = text;
      div.querySelector("b").id = "eq-" + name;
      div.querySelector("b").dataset.value = String(eq[name]);
      div.querySelector("small").textContent = source;
      return div;
    }));
  }

  function totals(t) {
    setValue("total-requests", t.requests, String(t.requests));
    setValue("total-energy", t.energy_kwh, fmt(t.energy_kwh * 1000) + " Wh");
    $("total-energy-range").textContent =
      `range ${fmt(t.energy_kwh_min * 1000)}–${fmt(t.energy_kwh_max * 1000)} Wh`;
    setValue("total-emissions", t.emissions_location_gco2e, fmt(t.emissions_location_gco2e) + " gCO2e");
    $("total-emissions-range").textContent =
      `range ${fmt(t.emissions_location_gco2e_min)}–${fmt(t.emissions_location_gco2e_max)} g`;
    setValue("total-market", t.emissions_market_gco2e,
             t.emissions_market_gco2e === null ? "not configured" : fmt(t.emissions_market_gco2e) + " gCO2e");
    setValue("total-water", t.water_l, fmt(t.water_l) + " L");
  }

  // Per-slot sums of a report grouped by (unit, ...), for the trend lines.
  function perSlot(rows, unit, slots, key) {
    const sums = Object.fromEntries(slots.map((s) => [s, 0]));
    rows.forEach((r) => { if (r[unit] in sums) sums[r[unit]] += r[key]; });
    return slots.map((s) => sums[s]);
  }
  function rolling(values, n) {
    return values.map((_, i) => {
      const window = values.slice(Math.max(0, i - n + 1), i + 1);
      return window.reduce((a, b) => a + b, 0) / window.length;
    });
  }

  function trends(byModel, unit, slots) {
    const grams = perSlot(byModel.rows, unit, slots, "emissions_location_gco2e");
    const series = [{name: `gCO2e per ${unit}`, values: grams, color: "#64748b"}];
    if (unit === "day" && slots.length >= 14) {
      series.push({name: "7-day average", values: rolling(grams, 7), color: "#14532d", width: 3});
    }
    Charts.lines($("chart-trend"), {slots, series, unit: " g"});
    const wh = perSlot(byModel.rows, unit, slots, "energy_kwh");
    const tokens = perSlot(byModel.rows, unit, slots, "total_tokens");
    Charts.lines($("chart-intensity-trend"), {slots, unit: " Wh", series: [{
      name: "Wh per 1k tokens", color: "#14532d",
      values: slots.map((_, i) => tokens[i] ? wh[i] * 1e6 / tokens[i] : null)}]});
  }

  function budgets(data) {
    const rows = [];
    data.forEach((b) => {
      if (b.soft_gco2e !== null || b.hard_gco2e !== null) {
        rows.push({label: `${b.team} (gCO2e)`, used: b.used_gco2e, soft: b.soft_gco2e,
                   hard: b.hard_gco2e, unit: "g"});
      }
      if (b.soft_wh !== null || b.hard_wh !== null) {
        rows.push({label: `${b.team} (Wh)`, used: b.used_wh, soft: b.soft_wh, hard: b.hard_wh,
                   unit: "Wh"});
      }
    });
    Charts.budget($("chart-budgets"), rows, BUDGET_COLOURS);
  }

  async function load() {
    const range = state.range;
    const unit = Period.granularity(range);
    const slots = Period.slots(range);
    const base = {from: range.from, to: range.to, savings: 0};
    if (state.team) base.team = state.team;
    $("error").textContent = "";
    let byTeam;
    try {
      byTeam = await api("/v1/reports", {...base, by: `${unit},team`});
    } catch (e) {
      if (!openMode && (e.status === 401 || e.status === 403)) return showLogin(e.message);
      $("error").textContent = e.message;
      return;
    }
    $("login").hidden = true;
    $("app").hidden = false;
    $("logout").hidden = openMode;
    const whatifParams = {from: range.from, until: range.to};
    if (state.team) whatifParams.team = state.team;
    const [byModel, byProvider, models, teamTotals, budgetList, whatif] = await Promise.all([
      api("/v1/reports", {...base, by: `${unit},model`}),
      api("/v1/reports", {...base, by: "provider,model"}),
      api("/v1/reports", {...base, by: "model"}),
      api("/v1/reports", {...base, by: "team"}),
      api("/v1/budgets", {}),
      api("/v1/whatif", whatifParams),
    ]);
    const teams = teamTotals.rows.map((r) => r.team);
    const single = state.team !== null || teams.length === 1;
    $("who").textContent = state.team ? `team ${state.team}` :
      teams.length === 1 ? `team ${teams[0]}` : `${teams.length} teams`;
    $("crumbs").hidden = state.team === null;
    $("crumb-team").textContent = state.team || "";
    totals(byTeam.total);
    equivalents(byTeam.equivalents);

    // One colour per model and per team, shared by every chart.
    const modelColour = Charts.colours("model", [
      ...byModel.rows.map((r) => r.model), ...byProvider.rows.map((r) => r.model),
      ...whatif.rows.flatMap((r) => [r.model, r.alternative])]);
    const teamColour = Charts.colours("team", [...teams, ...budgetList.data.map((b) => b.team)]);
    const per = unit === "day" ? "per day" : "per month";
    $("cap-energy-team").textContent = `Energy ${per} by team (Wh)`;
    $("cap-emissions-team").textContent = `Emissions ${per} by team (gCO2e, location-based)`;
    $("cap-energy-model").textContent = `Energy ${per} by model (Wh)`;
    $("cap-emissions-model").textContent = `Emissions ${per} by model (gCO2e)`;
    const pts = (rows, series, key, scale = 1) =>
      rows.map((r) => ({x: r[unit], series: r[series] ?? "none", value: r[key] * scale}));
    trends(byModel, unit, slots);
    Charts.stacked($("chart-energy-team"), {slots, kind: "team", color: teamColour,
                                            points: pts(byTeam.rows, "team", "energy_kwh", 1000)});
    Charts.stacked($("chart-emissions-team"), {slots, kind: "team", color: teamColour,
                                               points: pts(byTeam.rows, "team", "emissions_location_gco2e")});
    Charts.stacked($("chart-energy-model"), {slots, kind: "model", color: modelColour,
                                             points: pts(byModel.rows, "model", "energy_kwh", 1000)});
    Charts.stacked($("chart-emissions-model"), {slots, kind: "model", color: modelColour,
                                                points: pts(byModel.rows, "model", "emissions_location_gco2e")});
    Charts.bars($("chart-provider"), byProvider.rows.map((r) => ({
      label: `${r.provider ?? "none"} / ${shortModel(r.model)}`, title: `${r.provider} / ${r.model}`,
      value: r.emissions_location_gco2e, color: modelColour.get(r.model), kind: "model",
      series: r.model})), {unit: " g"});
    Charts.bars($("chart-intensity"), models.rows.filter((r) => r.wh_per_1k_tokens !== null)
      .map((r) => ({label: shortModel(r.model), title: r.model, value: r.wh_per_1k_tokens,
                    color: modelColour.get(r.model), kind: "model", series: r.model})),
      {unit: " Wh"});
    budgets(budgetList.data.filter((b) => !state.team || b.team === state.team));
    const whatifModels = [...new Set(whatif.rows.flatMap((r) => [r.model, r.alternative]))].sort();
    Charts.bars($("chart-whatif"), whatif.rows.map((r) => ({
      label: `${r.team} · ${shortModel(r.model)} → ${shortModel(r.alternative)}`,
      title: `${r.team}: ${r.model} → ${r.alternative}`,
      value: r.emissions_gco2e_now, color: modelColour.get(r.model), series: r.model,
      value2: r.emissions_gco2e_alternative, color2: modelColour.get(r.alternative),
      series2: r.alternative, kind: "model"})),
      {unit: " g", legend: Charts.legend(whatifModels.map((m) => (
        {name: m, color: modelColour.get(m), kind: "model"})))});

    $("teams-section").hidden = single;
    if (!single) {
      table($("table-teams"), teamTotals.rows, [
        ["team", "team"], ["requests", "requests"], ["Wh", "energy_kwh", (v) => fmt(v * 1000)],
        ["gCO2e (location)", "emissions_location_gco2e", fmt], ["water L", "water_l", fmt],
        ["gCO2e / request", "gco2e_per_request", fmt]], true);
    }
    $("drill").hidden = !single;
    if (single) {
      const [users, keys] = await Promise.all([
        api("/v1/reports", {...base, by: "user"}), api("/v1/reports", {...base, by: "key"})]);
      const top = users.rows.sort((a, b) => b.emissions_location_gco2e - a.emissions_location_gco2e)
        .slice(0, 20);
      const cols = (name, key) => [[name, key, (v) => v ?? "(none)"], ["requests", "requests"],
        ["Wh", "energy_kwh", (v) => fmt(v * 1000)], ["gCO2e", "emissions_location_gco2e", fmt],
        ["water L", "water_l", fmt]];
      table($("table-users"), top, cols("end user", "user"));
      table($("table-keys"), keys.rows, cols("key", "key"));
    }
    table($("table-models"), byProvider.rows, [
      ["provider", "provider"], ["model", "model"], ["requests", "requests"],
      ["tokens", "total_tokens"], ["Wh", "energy_kwh", (v) => fmt(v * 1000)],
      ["gCO2e (location)", "emissions_location_gco2e", fmt],
      ["gCO2e (market)", "emissions_market_gco2e", fmt],
      ["Wh / 1k tokens", "wh_per_1k_tokens", fmt], ["gCO2e / request", "gco2e_per_request", fmt],
      ["upstream usage", "upstream_usage_share", pct], ["quality", "quality_tiers"]]);
    table($("table-whatif"), whatif.rows, [
      ["team", "team"], ["model", "model"], ["alternative", "alternative"],
      ["requests", "requests"], ["gCO2e now", "emissions_gco2e_now", fmt],
      ["gCO2e alternative", "emissions_gco2e_alternative", fmt],
      ["saved gCO2e", "emissions_gco2e_saved", fmt], ["saved Wh", "energy_wh_saved", fmt],
      ["saving", "saving_share", pct]]);
    document.body.dataset.loaded = "true";
  }

  function drill(team) {
    state.team = team;
    remember();
    load();
  }

  function showLogin(message) {
    $("app").hidden = true;
    $("login").hidden = false;
    $("logout").hidden = true;
    $("login-error").textContent = message || "";
  }

  function showRange() {
    $("from").value = state.range.from;
    $("to").value = state.range.to;
    $("preset").value = Period.presetOf(state.range);
  }

  $("preset").addEventListener("change", () => {
    if ($("preset").value === "custom") return;
    state.range = Period.preset($("preset").value);
    showRange();
    remember();
    load();
  });
  ["from", "to"].forEach((id) => $(id).addEventListener("change", () => {
    const range = {from: $("from").value, to: $("to").value};
    if (!Period.valid(range)) {
      $("error").textContent = "The period's start must be a date on or before its end.";
      return;
    }
    state.range = range;
    $("preset").value = Period.presetOf(range);
    remember();
    load();
  }));
  $("all-teams").addEventListener("click", (ev) => { ev.preventDefault(); drill(null); });
  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(KEY, $("key").value.trim());
    load();
  });
  $("logout").addEventListener("click", () => { sessionStorage.removeItem(KEY); showLogin(); });

  async function start() {
    showRange();
    remember();
    try {
      openMode = (await (await fetch("/dashboard/session")).json()).open_mode === true;
    } catch (e) {
      openMode = false;
    }
    if (openMode) {
      $("mode").hidden = false;
      $("mode").textContent = "open mode: no keys";
      $("mode").title = "No master key is set: the page needs no key. Clients on the " +
        "gateway's machine see every team; others see their own (x-wattgate-team).";
      load();
    } else if (sessionStorage.getItem(KEY)) {
      load();
    } else {
      showLogin();
    }
  }
  start();
})();
