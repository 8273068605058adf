// The forecast lookup page: pick a forecast, find an item, see its history, backtest and forecast.
// Plain browser JavaScript and uPlot (vendored beside this file); every request goes to this server.
"use strict";

const $ = (id) => document.getElementById(id);
const KEY = "forecast-api-key";
const state = { key: sessionStorage.getItem(KEY), forecasts: {}, chart: null, csvUrl: null };
// What the chart drew, for people scripting the page and for its tests: points per series.
window.lookup = { points: {}, item: null };

function status(text) { $("status").textContent = text || ""; }

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (state.key) headers.Authorization = "Bearer " + state.key;
  const r = await fetch(path, Object.assign({}, options, { headers }));
  if (r.status === 401) {
    $("key-form").hidden = false;
    throw new Error("this server needs its API key");
  }
  if (!r.ok) {
    let detail = r.statusText;
    try { detail = (await r.json()).detail; } catch (e) { /* not JSON */ }
    throw new Error(detail);
  }
  return r;
}

$("key-form").addEventListener("submit", (e) => {
  e.preventDefault();
  state.key = $("key").value.trim();
  sessionStorage.setItem(KEY, state.key);  // this tab only
  $("key-form").hidden = true;
  loadForecasts().catch((err) => status(err.message));
});

async function loadForecasts() {
  const body = await (await api("/v1/forecasts")).json();
  const select = $("forecast");
  select.replaceChildren();
  for (const f of body.data.filter((f) => f.status === "ACTIVE")) {
    state.forecasts[f.name] = f;
    select.append(new Option(`${f.name} (${f.spec.predictor}, ${f.result.num_items} items)`, f.name));
  }
  if (!select.options.length) { status("no ACTIVE forecast yet"); return; }
  const params = new URLSearchParams(location.search);
  if (params.get("forecast") && state.forecasts[params.get("forecast")]) select.value = params.get("forecast");
  renderTypes();
  await loadDimensions();
  // ?forecast=F&item=C05&Concession=General&Type=Co-payments: the other parameters are dimensions
  $("dimensions").querySelectorAll("select").forEach((s) => {
    const v = params.get(s.dataset.dimension);
    if (v !== null && [...s.options].some((o) => o.value === v)) s.value = v;
  });
  await loadIds("");
  status("");
  if (params.get("item")) { $("item").value = params.get("item"); await show(); }
}

function renderTypes() {
  const f = state.forecasts[$("forecast").value];
  const box = $("types");
  box.querySelectorAll("label").forEach((l) => l.remove());
  for (const c of f.result.columns) {
    const label = document.createElement("label");
    const input = Object.assign(document.createElement("input"), { type: "checkbox", value: c, checked: true });
    label.append(input, c);
    box.append(label);
  }
}

// One select per dimension (state, store, ...): "any", or a value that narrows the item search
// and chooses the series of an item id typed without its dimensions.
async function loadDimensions() {
  const f = $("forecast").value;
  const body = await (await api(`/v1/forecasts/${encodeURIComponent(f)}/dimensions`)).json();
  const box = $("dimensions");
  box.replaceChildren();
  for (const [dim, values] of Object.entries(body.dimensions)) {
    const select = Object.assign(document.createElement("select"), { name: dim });
    select.dataset.dimension = dim;
    select.append(new Option("any", ""), ...values.map((v) => new Option(v, v)));
    select.addEventListener("change", () => loadIds($("item").value).catch((e) => status(e.message)));
    const label = document.createElement("label");
    label.append(dim + " ", select);
    box.append(label);
  }
}

function dimensionFilters() {
  const filters = {};
  $("dimensions").querySelectorAll("select").forEach((s) => { if (s.value) filters[s.dataset.dimension] = s.value; });
  return filters;
}

let idTimer = null;
async function loadIds(prefix) {
  const f = $("forecast").value;
  const q = new URLSearchParams(Object.assign({ prefix, limit: "20" }, dimensionFilters()));
  const body = await (await api(`/v1/forecasts/${encodeURIComponent(f)}/item-ids?${q}`)).json();
  $("item-ids").replaceChildren(...body.item_ids.map((id) => new Option(id, id)));
  window.lookup.suggestions = body.item_ids;
}

$("forecast").addEventListener("change", () => {
  renderTypes();
  loadDimensions().then(() => loadIds($("item").value)).catch((e) => status(e.message));
});
$("item").addEventListener("input", () => {
  clearTimeout(idTimer);
  idTimer = setTimeout(() => loadIds($("item").value).catch((e) => status(e.message)), 150);
});
$("query").addEventListener("submit", (e) => { e.preventDefault(); show().catch((err) => status(err.message)); });

const seconds = (iso) => Date.parse(iso) / 1000;

async function show() {
  const f = $("forecast").value;
  const item = $("item").value.trim();
  if (!item) { status("type an item id"); return; }
  const types = [...$("types").querySelectorAll("input:checked")].map((i) => i.value);
  const q = new URLSearchParams();
  if (types.length) q.set("types", types.join(","));
  if ($("start").value) q.set("start", $("start").value);
  if ($("end").value) q.set("end", $("end").value);
  const ctx = new URLSearchParams();
  if (!item.includes("|")) {  // a plain item id: the chosen dimension values pick its series
    for (const [k, v] of Object.entries(dimensionFilters())) { q.set(k, v); ctx.set(k, v); }
  }
  const horizon = state.forecasts[f].result.prediction_length;
  ctx.set("limit", String(Math.max(36, 6 * horizon)));  // the recent history
  const base = `/v1/forecasts/${encodeURIComponent(f)}/items/${encodeURIComponent(item)}`;
  const [forecast, context] = await Promise.all([
    api(`${base}?${q}`).then((r) => r.json()),
    api(`${base}/context?${ctx}`).then((r) => r.json()),
  ]);
  draw(forecast, context);
  describe(forecast, context);
  await accuracy(context);
  const csv = await (await api(`${base}?${q}`, { headers: { Accept: "text/csv" } })).blob();
  if (state.csvUrl) URL.revokeObjectURL(state.csvUrl);
  state.csvUrl = URL.createObjectURL(csv);
  Object.assign($("download"), { href: state.csvUrl, download: `${f}-${context.series_key}.csv`, hidden: false });
  status("");
  const share = new URLSearchParams(Object.assign({ forecast: f, item }, item.includes("|") ? {} : dimensionFilters()));
  history.replaceState(null, "", `?${share}`);  // the address shows (and shares) what is on screen
  window.lookup.item = context.series_key;  // set last: the item is shown in full (chart, accuracy, CSV link)
}

function draw(forecast, context) {
  const preds = forecast.predictions;
  const quantiles = Object.keys(preds).filter((c) => c !== "mean")
    .sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
  const xs = new Set();
  context.history.forEach((p) => xs.add(seconds(p.timestamp)));
  context.actuals.forEach((p) => xs.add(seconds(p.timestamp)));
  Object.values(preds).forEach((pts) => pts.forEach((p) => xs.add(seconds(p.timestamp))));
  const x = [...xs].sort((a, b) => a - b);
  const at = new Map(x.map((t, i) => [t, i]));
  const column = (points, key = "value") => {
    const out = new Array(x.length).fill(null);
    points.forEach((p) => { if (at.has(seconds(p.timestamp))) out[at.get(seconds(p.timestamp))] = p[key]; });
    return out;
  };
  const data = [x];
  const series = [{}];
  const counts = {};
  const add = (label, points, key, style) => {
    data.push(column(points, key));
    series.push(Object.assign({ label, spanGaps: false, width: 1.5 }, style));
    counts[label] = points.filter((p) => p[key] !== null && p[key] !== undefined).length;
  };
  add("history", context.history, "value", { stroke: "#222" });
  const backtestCol = ["p50", "mean"].find((c) => context.backtest.length && c in context.backtest[0]);
  if (backtestCol) add(`backtest ${backtestCol}`, context.backtest, backtestCol, { stroke: "#b07d00", dash: [4, 4] });
  const bands = [];
  quantiles.forEach((c, i) => {
    const outer = quantiles.length > 1 && (i === 0 || i === quantiles.length - 1);
    add(c, preds[c], "value", { stroke: outer ? "rgba(76,120,168,0.6)" : "#4c78a8", width: c === "p50" ? 2 : 1,
                                 dash: c === "p50" || outer ? undefined : [6, 3] });
  });
  if (quantiles.length > 1) {
    const lo = series.findIndex((s) => s.label === quantiles[0]);
    const hi = series.findIndex((s) => s.label === quantiles[quantiles.length - 1]);
    bands.push({ series: [hi, lo], fill: "rgba(76,120,168,0.18)" });
  }
  if (preds.mean) add("mean", preds.mean, "value", { stroke: "#e45756", width: 2 });
  if (context.actuals.length) {  // what arrived after the forecast was made, over it
    add("actuals since", context.actuals, "value",
        { stroke: "#2ca02c", width: 2, points: { show: true, size: 6, fill: "#2ca02c" } });
  }
  const el = $("chart");
  if (state.chart) state.chart.destroy();
  state.chart = new uPlot({
    width: Math.max(600, el.clientWidth || 1000), height: 380, series, bands,
    scales: { x: { time: true } }, axes: [{}, { size: 80 }], cursor: { drag: { x: true, y: false } },
    legend: { live: true },
  }, data, el);
  window.lookup.points = counts;
  el.dataset.points = JSON.stringify(counts);
}

function describe(forecast, context) {
  const dims = context.dimensions ? " — " + Object.entries(context.dimensions).map(([k, v]) => `${k}=${v}`).join(", ") : "";
  $("summary").textContent = `${forecast.forecast}: ${context.item_id}${dims}; ${context.history.length} history points, ` +
    `backtest window of ${context.backtest.length} steps, predictor ${context.predictor}` +
    (context.actuals.length ? `; ${context.actuals.length} actuals have arrived in the forecast's horizon since it was made (green)` : "") +
    ". Drag on the chart to zoom, double-click to reset.";
}

async function accuracy(context) {
  const box = $("accuracy");
  box.replaceChildren();
  if (!context.predictor) return;
  const p = await (await api(`/v1/predictors/${encodeURIComponent(context.predictor)}`)).json();
  const metrics = p.result.metrics || {};
  const overall = Object.assign({ [p.result.algorithm || "predictor"]: metrics.predictor || metrics.deepar || {} },
    metrics.members || {}, { "seasonal naive": metrics.seasonal_naive || {} });
  box.append(table(`Backtest accuracy of predictor ${context.predictor} (all items)`, overall));
  box.append(table(`Backtest accuracy for ${context.series_key}`, context.backtest_metrics));
  const live = context.live_metrics;
  if (live) {
    const when = `${live.points} actuals, ${live.window_start.slice(0, 10)} to ${live.window_end.slice(0, 10)}`;
    box.append(table(`This forecast against the actuals (monitor ${live.monitor}, ${when})`, { [context.series_key]: live }));
  }
  const link = Object.assign(document.createElement("a"), {
    href: `/v1/predictors/${encodeURIComponent(context.predictor)}/backtest`, textContent: "per-item backtest metrics (JSON)" });
  box.append(link);
}

function table(title, rows) {
  const wrap = document.createElement("div");
  const caption = document.createElement("h3");
  caption.textContent = title;
  const t = document.createElement("table");
  const cols = ["mean_wql", "mase", "wape", "rmse"];
  t.innerHTML = "<tr><th>model</th>" + cols.map((c) => `<th>${c}</th>`).join("") + "</tr>";
  for (const [model, m] of Object.entries(rows)) {
    const tr = document.createElement("tr");
    const cells = [model, ...cols.map((c) => (typeof m[c] === "number" ? m[c].toFixed(4) : "–"))];
    cells.forEach((v) => { const td = document.createElement("td"); td.textContent = v; tr.append(td); });
    t.append(tr);
  }
  wrap.append(caption, t);
  return wrap;
}

loadForecasts().catch((err) => status(err.message));
