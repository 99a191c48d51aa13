// Wattgate dashboard: reads /v1/reports, /v1/budgets and /v1/whatif with the stored key.
"use strict";
(() => {
  const KEY = "wattgate-key";
  const $ = (id) => document.getElementById(id);
  const fmt = Charts.fmt;

  // A login link may carry the key in the fragment (never sent to the server).
  const frag = new URLSearchParams(location.hash.slice(1));
  if (frag.get("key")) {
    sessionStorage.setItem(KEY, frag.get("key"));
    history.replaceState(null, "", location.pathname + location.search);
  }
  const now = new Date();
  $("month").value = new URLSearchParams(location.search).get("month") ||
    `${now.getUTCFullYear()}-${String(now.getUTCMonth() + 1).padStart(2, "0")}`;

  async function api(path, params) {
    const url = path + "?" + new URLSearchParams(params);
    const res = await fetch(url, {headers: {Authorization: "Bearer " + sessionStorage.getItem(KEY)}});
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

  function table(target, rows, cols) {
    const t = document.createElement("table");
    t.innerHTML = "<tr>" + cols.map((c) => `<th>${c[0]}</th>`).join("") + "</tr>";
    rows.forEach((r) => {
      const tr = document.createElement("tr");
      cols.forEach(([, key, f]) => {
        const td = document.createElement("td");
        td.textContent = f ? f(r[key]) : (r[key] ?? "–");
        tr.appendChild(td);
      });
      t.appendChild(tr);
    });
    target.replaceChildren(t);
  }

  async function load() {
    const month = $("month").value;
    $("error").textContent = "";
    let byTeam;
    try {
      byTeam = await api("/v1/reports", {by: "day,team", month, savings: 0});
    } catch (e) {
      if (e.status === 401 || e.status === 403) return showLogin(e.message);
      $("error").textContent = e.message;
      return;
    }
    $("login").hidden = true;
    $("app").hidden = false;
    $("logout").hidden = false;
    const [byModel, byProvider, models, budgets, whatif] = await Promise.all([
      api("/v1/reports", {by: "day,model", month, savings: 0}),
      api("/v1/reports", {by: "provider,model", month, savings: 0}),
      api("/v1/reports", {by: "model", month, savings: 0}),
      api("/v1/budgets", {}),
      api("/v1/whatif", {month}),
    ]);
    const t = byTeam.total;
    const teams = [...new Set(byTeam.rows.map((r) => r.team))];
    $("who").textContent = teams.length === 1 ? `team ${teams[0]}` : `${teams.length} teams`;
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

    const pts = (rows, series, key, scale = 1) =>
      rows.map((r) => ({x: r.day, series: r[series] ?? "none", value: r[key] * scale}));
    Charts.stacked($("chart-energy-team"), pts(byTeam.rows, "team", "energy_kwh", 1000));
    Charts.stacked($("chart-emissions-team"), pts(byTeam.rows, "team", "emissions_location_gco2e"));
    Charts.stacked($("chart-energy-model"), pts(byModel.rows, "model", "energy_kwh", 1000));
    Charts.stacked($("chart-emissions-model"), pts(byModel.rows, "model", "emissions_location_gco2e"));
    Charts.bars($("chart-provider"), byProvider.rows.map((r) => ({
      label: `${r.provider ?? "none"} / ${r.model}`, value: r.emissions_location_gco2e})), {unit: " g"});
    Charts.bars($("chart-intensity"), models.rows.filter((r) => r.wh_per_1k_tokens !== null)
      .map((r) => ({label: r.model, value: r.wh_per_1k_tokens})), {unit: " Wh"});
    Charts.bars($("chart-budgets"), budgets.data.filter((b) => b.hard_gco2e !== null || b.soft_gco2e !== null)
      .map((b) => ({label: b.team, value: b.used_gco2e,
                    color: b.soft_exceeded ? "#dc2626" : "#2563eb",
                    marks: [b.soft_gco2e !== null && {value: b.soft_gco2e, color: "#f59e0b"},
                            b.hard_gco2e !== null && {value: b.hard_gco2e, color: "#111"}].filter(Boolean)})),
      {unit: " g", legend: Charts.legend(["used", "soft limit (mark)", "hard limit (mark)"])});
    Charts.bars($("chart-whatif"), whatif.rows.map((r) => ({
      label: `${r.team}: ${r.model} → ${r.alternative}`, value: r.emissions_gco2e_now, color: "#2563eb",
      value2: r.emissions_gco2e_alternative})),
      {unit: " g", legend: Charts.legend(["now", "on the smaller model"])});
    table($("table-models"), byProvider.rows, [
      ["provider", "provider"], ["model", "model"], ["requests", "requests"],
      ["tokens", "total_tokens"], ["Wh", "energy_kwh", (v) => fmt(v * 1000)],
      ["gCO2e (location)", "emissions_location_gco2e", fmt],
      ["gCO2e (market)", "emissions_market_gco2e", fmt],
      ["Wh / 1k tokens", "wh_per_1k_tokens", fmt], ["gCO2e / request", "gco2e_per_request", fmt],
      ["upstream usage", "upstream_usage_share", (v) => v === null ? "–" : (v * 100).toFixed(0) + "%"],
      ["quality", "quality_tiers"]]);
    table($("table-whatif"), whatif.rows, [
      ["team", "team"], ["model", "model"], ["alternative", "alternative"],
      ["requests", "requests"], ["gCO2e now", "emissions_gco2e_now", fmt],
      ["gCO2e alternative", "emissions_gco2e_alternative", fmt],
      ["saved gCO2e", "emissions_gco2e_saved", fmt], ["saved Wh", "energy_wh_saved", fmt],
      ["saving", "saving_share", (v) => v === null ? "–" : (v * 100).toFixed(0) + "%"]]);
    document.body.dataset.loaded = "true";
  }

  function showLogin(message) {
    $("app").hidden = true;
    $("login").hidden = false;
    $("logout").hidden = true;
    $("login-error").textContent = message || "";
  }

  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(KEY, $("key").value.trim());
    load();
  });
  $("logout").addEventListener("click", () => { sessionStorage.removeItem(KEY); showLogin(); });
  $("month").addEventListener("change", load);
  if (sessionStorage.getItem(KEY)) load(); else showLogin();
})();
