// xmargin risk dashboard (docs/dashboard.md). Plain script, same origin only: it reads the API with the
// key the login form keeps in sessionStorage['xmargin.api_key'] (FORMATS.md "Service") and draws with
// plotly.js served by the service. Text from the API is always set as text, never parsed as HTML.
"use strict";

const KEY = "xmargin.api_key";
const state = { me: null, account: null, ws: null, wsRetry: 0, refreshTimer: null, view: null, trades: [] };

// -- small helpers ------------------------------------------------------------------------------------------
const $ = (sel) => document.querySelector(sel);
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
}
const nf0 = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const nf2 = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
function usd(x) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  const s = Math.abs(x) >= 1000 ? nf0.format(Math.abs(x)) : nf2.format(Math.abs(x));
  return (x < 0 ? "−$" : "$") + s;
}
function num(x, digits = 4) {
  if (x === null || x === undefined) return "–";
  return Number(x).toLocaleString("en-US", { maximumSignificantDigits: digits });
}
function pct(x, digits = 1) {
  if (x === null || x === undefined) return "–";
  return (x < 0 ? "−" : "") + Math.abs(100 * x).toFixed(digits) + "%";
}
function when(iso) { return iso ? iso.replace("T", " ").replace(/(\d\d:\d\d:\d\d)(\.\d+)?Z$/, "$1 UTC") : ""; }
function signedPct(x) { return (x > 0 ? "+" : "") + (x < 0 ? "−" : "") + Math.abs(100 * x).toFixed(0) + "%"; }
function compact(x) {
  const a = Math.abs(x);
  const s = a >= 1e6 ? (a / 1e6).toFixed(2) + "M" : a >= 1e3 ? (a / 1e3).toFixed(1) + "k" : a.toFixed(0);
  return (x < 0 ? "−" : "") + s;
}
function figure(label, value, raw, field) {
  return el("div", { class: "figure", "data-field": field, "data-value": raw },
    el("div", { class: "label", text: label }), el("div", { class: "value", text: value }));
}
function statusBadge(s) { return el("span", { class: "status " + s, "data-status": s, text: s.replace("_", " ") }); }
function table(head, rows, rowAttrs) {
  const t = el("table", {}, el("thead", {}, el("tr", {}, head.map((h) => el("th", { text: h })))));
  const body = el("tbody");
  rows.forEach((r, i) => body.append(el("tr", rowAttrs ? rowAttrs(i) : {}, r.map((c) =>
    c instanceof Node ? el("td", {}, c) : el("td", { text: c })))));
  t.append(body);
  return el("div", { class: "table-wrap" }, t);
}
function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
function plot(node, data, layout) {
  if (!window.Plotly) { node.append(el("p", { class: "muted", text: "plotly.js is not installed on the server (pip install plotly): charts are off." })); return; }
  const base = { margin: { l: 70, r: 20, t: 30, b: 50 }, font: { family: "system-ui, sans-serif", size: 12 },
    paper_bgcolor: "#fff", plot_bgcolor: "#fff" };
  window.Plotly.newPlot(node, data, Object.assign(base, layout), { displaylogo: false, responsive: true });
}

// -- the API --------------------------------------------------------------------------------------------------
class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.where ? `${status}: ${e.where}: expected ${e.expected}, found ${JSON.stringify(e.found)}` : `HTTP ${status}`);
    this.status = status;
  }
}
async function api(path, opts = {}) {
  const headers = { "X-API-Key": sessionStorage.getItem(KEY) || "" };
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, { method: opts.method || "GET", headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  const body = await r.json().catch(() => null);
  if (!r.ok) {
    if (r.status === 401 && state.me) logout("The key was refused (401): log in again.");
    throw new ApiError(r.status, body);
  }
  return body;
}

// -- login, navigation ----------------------------------------------------------------------------------------
async function login(key) {
  sessionStorage.setItem(KEY, key);
  try {
    state.me = await api("/v1/me");
  } catch (err) {
    sessionStorage.removeItem(KEY);
    state.me = null;
    $("#login-error").textContent = err.status === 401 ? "That key was refused (unknown, revoked or malformed)." : err.message;
    return;
  }
  const me = state.me;
  $("#login").hidden = true;
  $("#nav").hidden = false;
  $("#who").hidden = false;
  $("#who-key").textContent = me.scope === "admin" ? "admin key (venue)" : `${me.scope} key · ${me.account}`;
  $("#who-market").textContent = me.market ? `market ${when(me.market)} · model ${me.model}` : "no market loaded";
  document.querySelectorAll(".admin-only").forEach((n) => { n.hidden = me.scope !== "admin"; });
  connectStream();
  route();
}
function logout(message) {
  sessionStorage.removeItem(KEY);
  state.me = null;
  if (state.ws) { state.ws.onclose = null; state.ws.close(); state.ws = null; }
  document.querySelectorAll(".view").forEach((v) => { v.hidden = true; });
  $("#nav").hidden = true;
  $("#who").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = message || "";
  history.replaceState(null, "", "/");
}
function route() {
  if (!state.me) return;
  const [view, raw] = (location.hash.replace(/^#/, "") || "").split("/");
  let arg = raw;
  try { arg = raw === undefined ? raw : decodeURIComponent(raw); } catch (err) { arg = raw; }  // a malformed %xx stays as typed
  const admin = state.me.scope === "admin";
  const name = view || (admin ? "venue" : "account");
  if (!admin && !state.account) state.account = state.me.account;
  if (name === "account" || name === "whatif") {
    // the account in the address (even one typed in by hand) is asked for; the server answers 403 for
    // another's, and nothing of it is shown
    state.account = arg ? arg : (admin ? state.account : state.me.account);
  }
  document.querySelectorAll(".view").forEach((v) => { v.hidden = v.id !== "view-" + name; });
  document.querySelectorAll("nav a").forEach((a) => {
    a.classList.toggle("active", a.dataset.view === name);
    if ((a.dataset.view === "account" || a.dataset.view === "whatif") && state.account) {
      a.setAttribute("href", `#${a.dataset.view}/${encodeURIComponent(state.account)}`);
    }
  });
  state.view = name;
  if (name === "account") showAccount();
  else if (name === "whatif") showWhatif();
  else if (name === "venue") showVenue();
  else if (name === "replay") showReplay();
}

// -- account view ---------------------------------------------------------------------------------------------
function panels(view) { return Array.from(document.querySelectorAll(`#view-${view} .panel .body`)); }
async function pickAccount() {
  if (state.me.scope !== "admin") return;
  const pick = $("#account-pick");
  if (!pick.options.length) {
    try {
      const book = await api("/v1/venue/accounts");
      for (const a of book.accounts.map((x) => x.account).sort()) pick.append(el("option", { value: a, text: a }));
    } catch (err) { /* shown by the panels */ }
    pick.addEventListener("change", () => { location.hash = `#account/${encodeURIComponent(pick.value)}`; });
  }
  if (!state.account && pick.options.length) state.account = pick.options[0].value;
  if (state.account) pick.value = state.account;
}
async function showAccount() {
  await pickAccount();
  const a = state.account;
  $("#account-name").textContent = a || "";
  const [summary, matrix, greeks, holdings] = ["margin-summary", "risk-matrix", "greeks", "holdings"].map(
    (id) => clear(document.querySelector(`[data-testid="${id}"] .body`)));
  $("#account-error").textContent = "";
  if (!a) { summary.append(el("p", { class: "muted", text: "Pick an account." })); return; }
  const enc = encodeURIComponent(a);
  let margin, pf;
  try {
    [margin, pf] = await Promise.all([api(`/v1/accounts/${enc}/margin`), api(`/v1/accounts/${enc}`)]);
  } catch (err) {
    $("#account-error").textContent = err.status === 403 ? `This key may not read account ${a}. ${err.message}` : err.message;
    return;
  }
  renderSummary(summary, margin);
  renderGreeks(greeks, margin);
  renderHoldings(holdings, margin, pf);
  try {
    renderMatrix(matrix, await api(`/v1/accounts/${enc}/risk-matrix`));
  } catch (err) { matrix.append(el("p", { class: "error", text: err.message })); }
}
function renderSummary(node, m) {
  const util = m.maintenance_margin > 0 ? (m.margin_balance > 0 ? m.maintenance_margin / m.margin_balance : null) : 0;
  node.append(
    el("p", {}, statusBadge(m.status), " ", el("span", { class: "hint", text: `${m.model} · ${m.preset} · amounts in ${m.currency} · market ${when(m.valuation_time)}` })),
    el("div", { class: "figures" },
      figure("Equity", usd(m.equity), m.equity, "equity"),
      figure("Margin balance", usd(m.margin_balance), m.margin_balance, "margin_balance"),
      figure("Initial margin", usd(m.initial_margin), m.initial_margin, "initial_margin"),
      figure("Maintenance margin", usd(m.maintenance_margin), m.maintenance_margin, "maintenance_margin"),
      figure("Available", usd(m.available), m.available, "available"),
      figure("Utilisation (MM / balance)", util === null ? "∞" : pct(util), util === null ? "" : util, "utilisation")));
  if (m.warnings.length) node.append(el("ul", { class: "warnings" }, m.warnings.map((w) => el("li", { text: w }))));
}
function renderGreeks(node, m) {
  const bd = m.breakdown;
  const us = Array.from(new Set([...Object.keys(bd.greeks || {}), ...Object.keys(bd.liquidation_prices || {})])).sort();
  if (!us.length) { node.append(el("p", { class: "muted", text: "No risk positions." })); return; }
  node.append(table(
    ["underlying", "delta (coin)", "delta (USD)", "gamma (/USD)", "vega (USD/pt)", "theta (USD/day)"],
    us.map((u) => {
      const g = (bd.greeks || {})[u] || {};
      return [u, num(g.delta_coin), usd(g.delta_usd), num(g.gamma, 3), usd(g.vega), usd(g.theta)];
    })));
  node.append(el("h3", { text: "Liquidation prices (index, USD)" }));
  node.append(table(["underlying", "below", "above"], us.map((u) => {
    const lp = (bd.liquidation_prices || {})[u] || {};
    return [u, lp.below ? usd(lp.below) : "none", lp.above ? usd(lp.above) : "none"];
  })));
}
function renderHoldings(node, m, pf) {
  const pos = Object.entries(pf.positions || {});
  const left = el("div"), right = el("div");
  node.append(el("div", { class: "holdings" }, left, right));
  left.append(el("h3", { text: "Positions" }));
  left.append(pos.length ? table(["instrument", "size (coin)", "entry (USD)"], pos.map(([name, p]) => {
    const size = typeof p === "number" ? p : p.size;
    return [name, num(size, 6), typeof p === "number" || p.avg_price === null ? "–" : usd(p.avg_price)];
  })) : el("p", { class: "muted", text: "No positions." }));
  const col = Object.entries(m.breakdown.collateral || {});
  right.append(el("h3", { text: "Collateral (haircuts of the model)" }));
  right.append(col.length ? table(["asset", "balance", "index (USD)", "value (USD)", "haircut", "haircut (USD)", "basis"],
    col.map(([a, c]) => [a, num(c.balance, 8), usd(c.index_usd), usd(c.value_usd), pct(c.haircut, 2), usd(c.haircut_usd), c.basis]))
    : el("p", { class: "muted", text: "No collateral." }));
}

// the risk matrix: one heatmap per risk group; columns are the price moves (standard grid and extended
// moves), rows the vol shocks; each cell is one scenario of the model, weighted as the margin counts it
function matrixTrace(g, values) {
  const xs = Array.from(new Set([...g.price_moves, ...g.extended_moves])).sort((a, b) => a - b);
  const rows = g.vol_rows;
  const z = rows.map(() => xs.map(() => null));
  const text = rows.map(() => xs.map(() => ""));
  const hover = rows.map(() => xs.map(() => ""));
  g.cells.forEach((c, i) => {
    const r = rows.findIndex((v) => v.vol_shock === c.vol_shock);
    const k = xs.indexOf(c.price_move);
    z[r][k] = values[i];
    text[r][k] = compact(values[i]);
    hover[r][k] = `${c.kind} move ${signedPct(c.price_move)}, vol ${rows[r].label}: ${usd(values[i])}` +
      (c.weight !== 1 ? ` (P&L ${usd(c.pnl_usd)} × weight ${c.weight})` : "");
  });
  const ylabel = (v) => v.label === "flat" ? "vol flat" : v.relative_at_pivot === 0 ? `vol ${v.label}` :
    `vol ${v.label}<br>${v.vol_points_at_pivot === null ? "" : (v.vol_points_at_pivot > 0 ? "+" : "−") + Math.abs(v.vol_points_at_pivot).toFixed(1) + " pts "}(${signedPct(v.relative_at_pivot)})`;
  return { xs, rows, z, text, hover, x: xs.map(signedPct), y: rows.map(ylabel) };
}
function heatmap(node, g, values, title) {
  const t = matrixTrace(g, values);
  const finite = values.filter((v) => v !== null);
  const span = Math.max(1, ...finite.map(Math.abs));
  const shapes = [];
  const box = (i, line) => {
    const c = g.cells[i];
    const r = t.rows.findIndex((v) => v.vol_shock === c.vol_shock);
    const k = t.xs.indexOf(c.price_move);
    shapes.push({ type: "rect", xref: "x", yref: "y", x0: k - 0.5, x1: k + 0.5, y0: r - 0.5, y1: r + 0.5, line });
  };
  g.cells.forEach((c, i) => { if (c.kind === "extended") box(i, { color: "#555", width: 1, dash: "dot" }); });
  if (title.worst && g.worst >= 0) box(g.worst, { color: "#000", width: 3.5 });
  plot(node, [{
    type: "heatmap", x: t.x, y: t.y, z: t.z, text: t.text, texttemplate: "%{text}", customdata: t.hover,
    hovertemplate: "%{customdata}<extra></extra>", zmid: 0, zmin: -span, zmax: span, xgap: 1, ygap: 1,
    colorscale: [[0, "#b2182b"], [0.35, "#ef8a62"], [0.5, "#f7f7f7"], [0.65, "#91cf60"], [1, "#1a9850"]],
    colorbar: { title: { text: "USD" }, thickness: 12 }, hoverongaps: false,
  }], {
    height: 250, margin: { l: 135, r: 10, t: 10, b: 45 }, shapes,
    xaxis: { title: { text: "price move of the underlying (%)" }, type: "category" },
    yaxis: { title: { text: "" }, type: "category", autorange: "reversed" },
  });
}
function renderMatrix(node, rm) {
  if (!rm.groups.length) { node.append(el("p", { class: "muted", text: "No risk groups: the account holds no derivatives or coins with price scenarios." })); return; }
  node.dataset.cells = String(rm.groups.reduce((n, g) => n + g.cells.length, 0));
  node.append(el("p", { class: "hint", text: "Each cell is one scenario of the model: its P&L in USD (red: loss). Bold frame: the worst scenario, " +
    "the one the margin is built on. Dotted frames: the extended moves, at the vol-up shock, P&L times their weight. " +
    "Vol shocks are relative and shrink with expiry; points are of the at-the-money vol at the pivot expiry." }));
  for (const g of rm.groups) {
    const worst = g.cells[g.worst];
    const box = el("div", { class: "matrix-group", "data-underlying": g.underlying, "data-settlement": g.settlement,
      "data-cells": g.cells.length, "data-worst-move": worst ? worst.price_move : "", "data-worst-vol": worst ? worst.vol_shock : "",
      "data-worst-pnl": worst ? worst.weighted_pnl_usd : "" });
    box.append(el("div", { class: "caption", text:
      `${g.underlying} settled in ${g.settlement} · ${rm.model} (${rm.preset}) · requirement ${usd(g.requirement_usd)} · ` +
      (worst ? `worst loss ${usd(g.worst_loss_usd)} at ${signedPct(worst.price_move)}, vol ${worst.vol_shock > 0 ? "up" : worst.vol_shock < 0 ? "down" : "flat"} (${worst.kind})` : "worst scenario outside the grid") +
      ` · vol points of the ${g.atm_vol_at_pivot === null ? "–" : pct(g.atm_vol_at_pivot)} ATM vol at ${g.pivot_days} days` +
      (g.scenarios_not_shown ? ` · ${g.scenarios_not_shown} scenarios not shown` : "") }));
    const chart = el("div", { class: "chart heat" });
    box.append(el("div", { class: "scroll-x" }, chart));
    node.append(box);
    heatmap(chart, g, g.cells.map((c) => c.weighted_pnl_usd), { worst: true });
  }
  if (rm.warnings.length) node.append(el("ul", { class: "warnings" }, rm.warnings.map((w) => el("li", { text: w }))));
}

// -- what-if --------------------------------------------------------------------------------------------------
let searchTimer = null;
async function showWhatif() {
  if (state.me.scope === "admin" && !state.account) await pickAccount();
  $("#whatif-account").textContent = state.account || "";
  if (!$("#wi-q").dataset.bound) {
    $("#wi-q").dataset.bound = "1";
    const later = () => { clearTimeout(searchTimer); searchTimer = setTimeout(search, 200); };
    ["#wi-q", "#wi-strike"].forEach((s) => $(s).addEventListener("input", later));
    $("#wi-expiry").addEventListener("change", search);
    $("#wi-run").addEventListener("click", runWhatif);
    $("#wi-clear").addEventListener("click", () => { state.trades = []; renderTrades(); clear($("#wi-out")); });
  }
  renderTrades();
  search();
}
async function search() {
  const q = new URLSearchParams({ q: $("#wi-q").value, limit: "25" });
  if ($("#wi-expiry").value) q.set("expiry", $("#wi-expiry").value);
  if ($("#wi-strike").value) q.set("strike", $("#wi-strike").value);
  const out = clear($("#wi-results"));
  let res;
  try { res = await api("/v1/instruments?" + q); } catch (err) { $("#wi-error").textContent = err.message; return; }
  $("#wi-error").textContent = "";
  const ex = $("#wi-expiry");
  if (ex.options.length <= 1) {
    const all = await api("/v1/instruments?limit=500");
    for (const e of Array.from(new Set(all.instruments.map((i) => i.expiry).filter(Boolean))).sort()) ex.append(el("option", { value: e, text: e }));
  }
  out.append(el("thead", {}, el("tr", {}, ["instrument", "kind", "expiry", "strike", "mark", "IV", ""].map((h) => el("th", { text: h })))));
  const body = el("tbody");
  for (const i of res.instruments) {
    body.append(el("tr", {}, el("td", { text: i.name }), el("td", { text: i.kind }), el("td", { text: i.expiry || "–" }),
      el("td", { text: i.strike ? nf0.format(i.strike) : "–" }),
      el("td", { text: i.mark === null ? "–" : (i.kind === "option" ? num(i.mark, 4) + " " + i.settlement : usd(i.mark)) }),
      el("td", { text: i.iv ? pct(i.iv) : "–" }),
      el("td", {}, el("button", { class: "small", type: "button", "data-add": i.name, text: "add",
        onclick: () => { state.trades.push({ instrument: i.name, size: "1", price: "", mark: i.mark, settlement: i.settlement, kind: i.kind }); renderTrades(); } }))));
  }
  out.append(body);
  if (res.total > res.instruments.length) out.append(el("caption", { text: `${res.instruments.length} of ${res.total}: narrow the search` }));
}
function renderTrades() {
  const t = clear($("#wi-trades"));
  $("#wi-run").disabled = !state.trades.length;
  if (!state.trades.length) { t.append(el("tbody", {}, el("tr", {}, el("td", { class: "text muted", text: "Add instruments from the search above." })))); return; }
  t.append(el("thead", {}, el("tr", {}, ["instrument", "size (coin, − sells)", "price (blank: at mark)", ""].map((h) => el("th", { text: h })))));
  const body = el("tbody");
  state.trades.forEach((tr, i) => {
    body.append(el("tr", {}, el("td", { text: tr.instrument }),
      el("td", {}, el("input", { value: tr.size, "data-size": i, inputmode: "decimal", oninput: (e) => { tr.size = e.target.value; } })),
      el("td", {}, el("input", { value: tr.price, "data-price": i, inputmode: "decimal", placeholder: tr.mark === null ? "" : num(tr.mark, 5), oninput: (e) => { tr.price = e.target.value; } })),
      el("td", {}, el("button", { class: "small secondary", type: "button", text: "remove", onclick: () => { state.trades.splice(i, 1); renderTrades(); } }))));
  });
  t.append(body);
}
async function runWhatif() {
  const out = clear($("#wi-out"));
  $("#wi-error").textContent = "";
  const trades = state.trades.map((t) => (t.price.trim() ? { instrument: t.instrument, size: t.size.trim(), price: t.price.trim() } : { instrument: t.instrument, size: t.size.trim() }));
  let doc;
  try { doc = await api(`/v1/accounts/${encodeURIComponent(state.account)}/whatif`, { method: "POST", body: { trades } }); }
  catch (err) { $("#wi-error").textContent = err.message; return; }
  const b = doc.before;
  const passes = doc.available >= 0;
  out.append(el("p", { "data-testid": "whatif-check", "data-pass": String(passes) },
    "Pre-trade check (available ≥ 0 after the trades): ",
    el("span", { class: passes ? "pass" : "fail", text: passes ? "passes" : "would be refused" }),
    " · status after ", statusBadge(doc.status)));
  const rows = [["Equity", "equity"], ["Margin balance", "margin_balance"], ["Initial margin", "initial_margin"],
    ["Maintenance margin", "maintenance_margin"], ["Available", "available"]];
  out.append(table(["", "before", "after", "change"], rows.map(([label, f]) => {
    const raw = doc[f] - b[f];
    const d = Math.abs(raw) < 0.005 ? 0 : raw;  // float noise below a cent is no change
    const better = f.endsWith("_margin") ? -d : d;  // more margin required is worse; more balance is better
    return [label, el("span", { "data-before": f, "data-value": b[f], text: usd(b[f]) }), el("span", { "data-after": f, "data-value": doc[f], text: usd(doc[f]) }),
      el("span", { class: better > 0 ? "up" : better < 0 ? "down" : "", text: (d > 0 ? "+" : "") + usd(d) })];
  })));
  if (doc.warnings.length) out.append(el("ul", { class: "warnings" }, doc.warnings.map((w) => el("li", { text: w }))));
  // the change in the risk matrix: after − before, scenario by scenario, per risk group
  const after = doc.breakdown.groups, before = (b.breakdown.groups || []);
  if (!after) { out.append(el("p", { class: "muted", text: `The ${doc.model} model has no scenario grid.` })); return; }
  out.append(el("h3", { text: "Change in the risk matrix (P&L after − before, USD)" }));
  for (const g of after) {
    const prev = before.find((p) => p.underlying === g.underlying && p.settlement === g.settlement);
    const cells = gridCells(g.pnl_grid), old = prev ? gridCells(prev.pnl_grid) : null;
    const group = { price_moves: g.pnl_grid.price_moves, extended_moves: g.pnl_grid.extended.map((e) => e.price_move),
      vol_rows: g.pnl_grid.vol_shocks.map((v, i) => ({ vol_shock: v, label: g.pnl_grid.vol_shock_labels[i], relative_at_pivot: 0, vol_points_at_pivot: null })),
      cells, worst: -1 };
    const diff = cells.map((c, i) => c.weighted_pnl_usd - (old && old[i] ? old[i].weighted_pnl_usd : 0));
    if (diff.every((d) => Math.abs(d) < 0.005)) { out.append(el("div", { class: "caption", text: `${g.underlying} settled in ${g.settlement}: unchanged` })); continue; }
    const chart = el("div", { class: "chart heat", "data-underlying": g.underlying });
    out.append(el("div", { class: "caption", text: `${g.underlying} settled in ${g.settlement}: requirement ${usd(prev ? prev.requirement_usd : 0)} → ${usd(g.requirement_usd)}; worst loss ${usd(prev ? prev.worst_loss_usd : 0)} → ${usd(g.worst_loss_usd)}` }), el("div", { class: "scroll-x" }, chart));
    heatmap(chart, group, diff, { worst: false });
  }
}
function gridCells(grid) {
  const cells = [];
  grid.vol_shocks.forEach((v, r) => grid.price_moves.forEach((m, k) => cells.push({ price_move: m, vol_shock: v, kind: "standard", weight: 1, pnl_usd: grid.pnl_usd[r][k], weighted_pnl_usd: grid.pnl_usd[r][k] })));
  grid.extended.forEach((e) => cells.push({ price_move: e.price_move, vol_shock: 1, kind: "extended", weight: e.weight, pnl_usd: e.pnl_usd, weighted_pnl_usd: e.pnl_usd * e.weight < 0 ? -e.weighted_loss_usd : e.pnl_usd * e.weight }));
  return cells;
}

// -- venue view -----------------------------------------------------------------------------------------------
async function showVenue() {
  let book;
  $("#venue-error").textContent = "";
  try { book = await api("/v1/venue/accounts"); } catch (err) { $("#venue-error").textContent = err.message; return; }
  $("#venue-time").textContent = `market ${when(book.valuation_time)} · model ${book.model} · ${book.totals.accounts} accounts · amounts in USD`;
  const t = book.totals;
  const cards = clear(document.querySelector('[data-testid="book-totals"]'));
  cards.append(figure("Equity", usd(t.equity), t.equity, "equity"), figure("Margin balance", usd(t.margin_balance), t.margin_balance, "margin_balance"),
    figure("Initial margin", usd(t.initial_margin), t.initial_margin, "initial_margin"), figure("Maintenance margin", usd(t.maintenance_margin), t.maintenance_margin, "maintenance_margin"),
    figure("Insurance fund", usd(t.insurance_fund_usd), t.insurance_fund_usd, "insurance_fund_usd"),
    figure("ok / margin call / liquidatable", `${t.by_status.ok} / ${t.by_status.margin_call} / ${t.by_status.liquidatable}`, "", "by_status"));
  const util = clear(document.querySelector('[data-testid="utilisation"] .body'));
  const colors = ["#1a9850", "#91cf60", "#fdae61", "#f46d43", "#b2182b"];
  const chart = el("div", { class: "chart" });
  util.append(chart);
  plot(chart, [{ type: "bar", orientation: "h", y: book.bands.map((b) => b.label), x: book.bands.map((b) => b.accounts),
    marker: { color: colors }, text: book.bands.map((b) => String(b.accounts)), textposition: "auto",
    customdata: book.bands.map((b) => usd(b.maintenance_margin)), hovertemplate: "%{y}: %{x} accounts, MM %{customdata}<extra></extra>" }],
  { height: 240, margin: { l: 190, r: 10, t: 10, b: 40 }, xaxis: { title: { text: "accounts" }, tickformat: "d", rangemode: "tozero" }, yaxis: { autorange: "reversed" } });
  util.append(table(["band (margin balance / MM)", "utilisation", "accounts", "MM (USD)"], book.bands.map((b) => [b.label,
    b.hi === null ? `≥ ${pct(b.lo, 0)}` : `${pct(b.lo, 1)} – ${pct(b.hi, 1)}`, String(b.accounts), usd(b.maintenance_margin)])));
  const conc = clear(document.querySelector('[data-testid="concentration"] .body'));
  const cchart = el("div", { class: "chart" });
  conc.append(cchart);
  plot(cchart, [
    { type: "bar", name: "gross delta", x: book.concentration.map((c) => c.underlying), y: book.concentration.map((c) => c.gross_delta_usd), marker: { color: "#6b8fc9" } },
    { type: "bar", name: "net delta", x: book.concentration.map((c) => c.underlying), y: book.concentration.map((c) => c.net_delta_usd), marker: { color: "#243c66" } }],
  { height: 240, barmode: "group", yaxis: { title: { text: "delta (USD)" } }, legend: { orientation: "h", y: 1.15 } });
  conc.append(table(["underlying", "net delta (USD)", "gross delta (USD)", "share of gross", "accounts"],
    book.concentration.map((c) => [c.underlying, usd(c.net_delta_usd), usd(c.gross_delta_usd), pct(c.share), String(c.accounts)])));
  const queue = clear(document.querySelector('[data-testid="liquidation-queue"] .body'));
  queue.append(table(["account", "status", "distance", "utilisation", "liquidation prices (below / above the index)", "margin balance", "MM", "available"],
    book.accounts.map((a) => [a.account, statusBadge(a.status), a.distance === null ? "none" : pct(a.distance),
      a.utilisation === null ? "∞" : pct(a.utilisation),
      el("span", {}, a.liquidation.length ? a.liquidation.map((l, j) => [j ? el("br") : null,
        `${l.underlying} (index ${usd(l.index_usd)}): ${l.below ? usd(l.below) : "none"} / ${l.above ? usd(l.above) : "none"}`]).flat() : "none"),
      usd(a.margin_balance), usd(a.maintenance_margin), usd(a.available)]),
    (i) => ({ class: "clickable " + book.accounts[i].status, "data-account": book.accounts[i].account, title: "open the account",
      onclick: () => { location.hash = `#account/${encodeURIComponent(book.accounts[i].account)}`; } })));
  if (book.warnings.length) queue.append(el("details", {}, el("summary", { class: "hint", text: `${book.warnings.length} warnings` }),
    el("ul", { class: "warnings" }, book.warnings.map((w) => el("li", { text: w })))));
}

// -- live updates over WS /v1/stream ------------------------------------------------------------------------
function setLive(on, text) { const l = $("#live"); l.className = "live " + (on ? "on" : "off"); l.textContent = text; }
function connectStream() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/v1/stream?api_key=${encodeURIComponent(sessionStorage.getItem(KEY) || "")}`);
  state.ws = ws;
  ws.onopen = () => { state.wsRetry = 0; setLive(true, "live"); };
  ws.onmessage = (ev) => { let m; try { m = JSON.parse(ev.data); } catch (err) { return; } onMessage(m); };
  ws.onclose = (ev) => {
    state.ws = null;
    setLive(false, "live updates unavailable");
    if (!state.me || ev.code === 4401 || ev.code === 4403) return;
    state.wsRetry = Math.min(state.wsRetry + 1, 6);
    setTimeout(connectStream, 1000 * 2 ** state.wsRetry);
  };
}
function onMessage(m) {
  if (m.type === "alert" || m.type === "status" || m.type === "liquidation") addAlert(m);
  if (m.type === "hello") return;
  clearTimeout(state.refreshTimer);  // every message refreshes the view in sight (coalesced)
  state.refreshTimer = setTimeout(() => { if (state.view === "venue") showVenue(); else if (state.view === "account") showAccount(); }, 150);
}
function addAlert(m) {
  const level = m.level || (m.type === "liquidation" || m.status === "liquidatable" ? "critical" : m.status === "margin_call" ? "warning" : "info");
  const text = m.type === "alert" ? m.message
    : m.type === "status" ? `${m.account}: ${m.previous} → ${m.status} (margin balance ${usd(m.margin_balance)}, MM ${usd(m.maintenance_margin)})`
      : `${m.account} liquidated: ${m.fills} fills, bad debt ${usd(m.bad_debt_usd)}`;
  $("#alerts-empty").hidden = true;
  $("#alerts-list").prepend(el("li", { class: level, "data-account": m.account, "data-type": m.type }, el("time", { text: m.time || "" }), text));
}

// -- replay ---------------------------------------------------------------------------------------------------
async function showReplay() {
  if (state.me.scope === "admin" && !state.account) await pickAccount();
  $("#backtest-account").textContent = state.account ? `of ${state.account}` : "(pick an account in the account view)";
  if (!$("#backtest-form").dataset.bound) {
    $("#backtest-form").dataset.bound = "1";
    $("#backtest-form").addEventListener("submit", (e) => { e.preventDefault(); runBacktest(); });
  }
  const sel = $("#rp-scenario");
  if (!sel.options.length) {
    try {
      const list = await api("/v1/replays");
      for (const s of list.scenarios) sel.append(el("option", { value: s.name, text: `${s.name}: ${s.title}` }));
    } catch (err) { $("#rp-error").textContent = err.message; return; }
    $("#replay-form").addEventListener("submit", (e) => { e.preventDefault(); runReplay(); });
  }
}
async function runReplay() {
  const out = clear(document.querySelector('[data-testid="replay"] .body'));
  $("#rp-error").textContent = "";
  $("#rp-run").disabled = true;
  out.append(el("p", { class: "muted", text: "running the replay…" }));
  let r;
  try {
    const q = new URLSearchParams({ venue: $("#rp-venue").value, accounts: $("#rp-accounts").value });
    r = await api(`/v1/replays/${encodeURIComponent($("#rp-scenario").value)}?${q}`);
  } catch (err) { $("#rp-error").textContent = err.message; clear(out); return; }
  finally { $("#rp-run").disabled = false; }
  clear(out);
  out.dataset.scenario = r.scenario;
  out.dataset.venue = r.venue;
  out.append(el("div", { class: "figures" },
    figure("Liquidations", nf0.format(r.liquidations), r.liquidations, "liquidations"),
    figure("Accounts liquidated", `${nf0.format(r.accounts_liquidated)} of ${nf0.format(r.accounts)}`, r.accounts_liquidated, "accounts_liquidated"),
    figure("Bad debt", usd(r.bad_debt_usd), r.bad_debt_usd, "bad_debt_usd"),
    figure("Insurance fund used", usd(r.insurance_fund_used_usd), r.insurance_fund_used_usd, "insurance_fund_used_usd"),
    figure("ADL", usd(r.adl_usd), r.adl_usd, "adl_usd"),
    figure("Socialized loss", usd(r.socialized_loss_usd), r.socialized_loss_usd, "socialized_loss_usd")));
  const s = r.series;
  const all = Object.keys(s.price);
  const moves = (u) => Math.max(...s.price[u]) > Math.min(...s.price[u]);
  const us = all.filter(moves);
  const flat = all.filter((u) => !moves(u));
  const rows = us.length + 3;
  const gap = 0.06, h = (1 - gap * (rows - 1)) / rows;
  const dom = (i) => [1 - (i + 1) * h - i * gap, 1 - i * h - i * gap];
  const traces = [];
  const layout = { height: 170 * rows + 110, margin: { l: 80, r: 70, t: 20, b: 50 }, hovermode: "x unified",
    legend: { orientation: "h", yanchor: "bottom", y: 1.01, x: 0 },
    xaxis: { type: "date", anchor: "y" + (rows === 1 ? "" : rows), tickformat: "%Y-%m-%d\n%H:%M", hoverformat: "%Y-%m-%d %H:%M UTC", title: { text: "time (UTC)" } } };
  const ax = (i, title, extra) => { layout["yaxis" + (i ? i + 1 : "")] = Object.assign({ domain: dom(i), title: { text: title }, anchor: "x" }, extra || {}); return "y" + (i ? i + 1 : ""); };
  us.forEach((u, i) => {
    const y = ax(i, `${u} (USD)`);
    traces.push({ x: s.time, y: s.price[u], name: `${u} price (after liquidation impact)`, yaxis: y, line: { width: 1.5 } });
    traces.push({ x: s.time, y: s.oracle[u], name: `${u} oracle (${r.venue === "dex" ? "push oracle" : "mark"})`, yaxis: y, line: { width: 1, dash: "dot" } });
  });
  let y = ax(us.length, "margin (USD)", { rangemode: "tozero" });
  traces.push({ x: s.time, y: s.margin_balance_usd, name: "total margin balance", yaxis: y, line: { color: "#1f5fbf" } });
  traces.push({ x: s.time, y: s.maintenance_margin_usd, name: "total maintenance margin", yaxis: y, line: { color: "#b26a00" } });
  y = ax(us.length + 1, "liquidations per step", { rangemode: "tozero" });
  traces.push({ x: s.time, y: s.liquidations, name: "liquidations", type: "bar", yaxis: y, marker: { color: "#c0262d" } });
  y = ax(us.length + 2, "insurance fund (USD)", { rangemode: "tozero" });
  traces.push({ x: s.time, y: s.insurance_fund_usd, name: "insurance fund", yaxis: y, line: { color: "#1b7f3b", dash: "dash" } });
  // bad debt on its own scale (right): it is often small beside the fund, and it is what matters
  const right = "yaxis" + (rows + 1);
  layout[right] = { overlaying: y, side: "right", anchor: "x", rangemode: "tozero", showgrid: false,
    title: { text: "bad debt (USD)" }, tickfont: { color: "#000" } };
  traces.push({ x: s.time, y: s.bad_debt_usd, name: "bad debt (cumulative, right axis)", yaxis: "y" + (rows + 1), line: { color: "#000", width: 2 } });
  const chart = el("div", { class: "chart", "data-points": s.time.length });
  out.append(el("p", { class: "hint", text: `${r.title} · ${r.venue.toUpperCase()} · ${r.accounts} accounts · model ${r.model} · computed in ${r.wall_s.toFixed(1)} s` +
    (flat.length ? ` · ${flat.join(", ")} held flat in this window (not drawn)` : "") }), chart);
  plot(chart, traces, layout);
}

// -- backtest -------------------------------------------------------------------------------------------------
async function runBacktest() {
  const out = clear(document.querySelector('[data-testid="backtest"] .body'));
  $("#bt-error").textContent = "";
  if (!state.account) { $("#bt-error").textContent = "Pick an account first (account view)."; return; }
  const q = new URLSearchParams({ horizon: $("#bt-horizon").value, from: $("#bt-from").value });
  if ($("#bt-model").value) q.set("model", $("#bt-model").value);
  $("#bt-run").disabled = true;
  out.append(el("p", { class: "muted", text: "running the backtest…" }));
  let r;
  try { r = await api(`/v1/accounts/${encodeURIComponent(state.account)}/backtest?${q}`); }
  catch (err) { $("#bt-error").textContent = err.message; clear(out); return; }
  finally { $("#bt-run").disabled = false; }
  clear(out);
  const rep = r.report, s = r.series, tl = rep.traffic_light;
  out.append(el("div", { class: "figures" },
    figure("Observations", nf0.format(rep.observations), rep.observations, "observations"),
    figure(`Breaches (expected ${num(rep.expected_breaches, 3)})`, nf0.format(rep.breaches), rep.breaches, "breaches"),
    figure("Kupiec p-value", num(rep.kupiec.p_value, 3), rep.kupiec.p_value, "kupiec_p"),
    figure("Christoffersen p (independence)", num(rep.christoffersen.p_independence, 3), rep.christoffersen.p_independence, "christoffersen_p"),
    figure(`Traffic-light windows (${tl.window} obs.)`, `${tl.green} / ${tl.yellow} / ${tl.red}`, "", "traffic_light"),
    figure("Mean margin", usd(rep.margin_usd.mean), rep.margin_usd.mean, "margin_mean")));
  out.append(el("p", { class: "hint", text: `${rep.model} · ${rep.horizon_days}-day loss at ${pct(rep.confidence, 0)} · ${rep.history} ${rep.start} … ${rep.end} · ${rep.underlyings.join(", ")}` }));
  if (rep.warnings.length) out.append(el("ul", { class: "warnings" }, rep.warnings.map((w) => el("li", { text: w }))));
  const hitDays = s.date.filter((_, i) => s.breach[i]);
  const hitLoss = s.loss_usd.filter((_, i) => s.breach[i]);
  const zone = (c) => (c >= s.first_red ? "#c0262d" : c >= s.first_yellow ? "#e0a100" : "#1b7f3b");
  const chart = el("div", { class: "chart", "data-points": s.date.length });
  out.append(chart);
  plot(chart, [
    { x: s.date, y: s.margin_usd, name: "margin held", line: { color: "#1f5fbf" } },
    { x: s.date, y: s.loss_usd, name: `loss over the next ${rep.horizon_days} days`, line: { color: "#8c96a8", width: 1 } },
    { x: hitDays, y: hitLoss, name: "breach (loss > margin)", mode: "markers", marker: { color: "#c0262d", size: 7 } },
    { x: s.window_end, y: s.window_breaches, name: `breaches in the last ${s.window} obs.`, yaxis: "y2", type: "bar",
      marker: { color: s.window_breaches.map(zone) } },
  ], {
    height: 560, margin: { l: 80, r: 20, t: 20, b: 50 }, hovermode: "x unified", legend: { orientation: "h", yanchor: "bottom", y: 1.01, x: 0 },
    xaxis: { type: "date", tickformat: "%Y-%m-%d", anchor: "y2", title: { text: "observation day (UTC)" } },
    yaxis: { domain: [0.42, 1], title: { text: "USD" } },
    yaxis2: { domain: [0, 0.32], anchor: "x", title: { text: "breaches per window" }, rangemode: "tozero" },
    shapes: [s.first_yellow, s.first_red].map((k, i) => ({ type: "line", xref: "paper", x0: 0, x1: 1, yref: "y2", y0: k - 0.5, y1: k - 0.5,
      line: { color: i ? "#c0262d" : "#e0a100", width: 1, dash: "dash" } })),
  });
  out.append(el("p", { class: "hint", text: `Basel traffic light (BCBS 1996, Table 2): green below ${s.first_yellow} breaches per ${s.window} observations, yellow from ${s.first_yellow}, red from ${s.first_red} (dashed lines).` }));
}

// -- start ----------------------------------------------------------------------------------------------------
document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").addEventListener("submit", (e) => { e.preventDefault(); const k = $("#api-key").value.trim(); $("#api-key").value = ""; login(k); });
  $("#logout").addEventListener("click", () => logout(""));
  window.addEventListener("hashchange", route);
  const saved = sessionStorage.getItem(KEY);
  if (saved) login(saved);
});
