// mle3 serve: the training list and the live run page. No framework, no network beyond
// this server; every value from the workspace goes into the page as text (textContent).
"use strict";

const STATUSES = ["pending", "in_progress", "success", "failed", "aborted", "terminated", "pruned", "stale"];
const ABORTABLE = ["pending", "in_progress"];
const RERUNNABLE = ["failed", "terminated", "aborted", "stale", "pruned"];

function token() {
  const m = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
  if (m) {
    sessionStorage.setItem("mle3-token", decodeURIComponent(m[1]));
    history.replaceState(null, "", window.location.pathname + window.location.search);
  }
  return sessionStorage.getItem("mle3-token");
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function statusSpan(status) {
  const safe = STATUSES.includes(status) ? status : "unknown";
  return el("span", status || "?", "st st-" + safe);
}

function duration(s) {
  if (s === null || s === undefined) return "–";
  s = Math.round(s);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return (h ? h + " h " : "") + (h || m ? m + " min " : "") + r + " s";
}

function fmt(v) {
  return typeof v === "number" ? v.toFixed(3) : "–";
}

// ------------------------------------------------------------------ training list
function indexPage() {
  const tbody = document.querySelector("#runs tbody");
  const q = document.getElementById("q");
  const status = document.getElementById("status");
  let page = 1;
  let timer = null;

  async function load() {
    const params = new URLSearchParams({ page: String(page) });
    if (q.value.trim()) params.set("q", q.value.trim());
    if (status.value) params.set("status", status.value);
    const response = await fetch("/api/runs?" + params.toString());
    if (!response.ok) return;
    const data = await response.json();
    tbody.replaceChildren();
    for (const run of data.runs) {
      const tr = document.createElement("tr");
      tr.dataset.run = run.id;
      const link = el("a", run.id);
      link.href = "/runs/" + encodeURIComponent(run.id);
      const first = el("td"); first.appendChild(link); tr.appendChild(first);
      tr.appendChild(el("td", run.config, "config"));
      tr.appendChild(el("td", run.dataset_version || "–"));
      tr.appendChild(el("td", (run.created || "").replace("T", " ").slice(0, 19)));
      const st = el("td"); st.appendChild(statusSpan(run.effective_status)); tr.appendChild(st);
      const pr = el("td");
      const bar = document.createElement("progress");
      bar.max = 1; bar.value = run.progress || 0;
      pr.appendChild(bar);
      pr.appendChild(el("span", " " + (run.epochs ? (run.epoch || 0) + "/" + run.epochs : "") + (run.eta_s ? " · ETA " + duration(run.eta_s) : ""), "epochs"));
      tr.appendChild(pr);
      tr.appendChild(el("td", duration(run.duration_s), "num"));
      tbody.appendChild(tr);
    }
    document.getElementById("count").textContent = data.total + " run" + (data.total === 1 ? "" : "s");
    document.getElementById("page").textContent = String(page);
    document.getElementById("prev").disabled = page <= 1;
    document.getElementById("next").disabled = page * data.per_page >= data.total;
  }

  q.addEventListener("input", () => { page = 1; clearTimeout(timer); timer = setTimeout(load, 250); });
  status.addEventListener("change", () => { page = 1; load(); });
  document.getElementById("filters").addEventListener("submit", (e) => { e.preventDefault(); load(); });
  document.getElementById("prev").addEventListener("click", () => { page = Math.max(1, page - 1); load(); });
  document.getElementById("next").addEventListener("click", () => { page += 1; load(); });
  load();
  setInterval(load, 2000);
}

// ------------------------------------------------------------------ charts
const NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function drawChart(target, epochs, series, best, fixedMax) {
  const W = 640, H = 260, L = 48, R = 12, T = 12, B = 44;
  target.replaceChildren();
  const xs = epochs.map((e) => e.epoch);
  const values = [];
  for (const s of series) for (const e of epochs) if (typeof e[s.key] === "number") values.push(e[s.key]);
  if (!xs.length || !values.length) {
    target.appendChild(svg("text", { x: 10, y: 30 }, "waiting for the first epoch"));
    return;
  }
  const x0 = Math.min(...xs), x1 = Math.max(...xs) === x0 ? x0 + 1 : Math.max(...xs);
  const y0 = Math.min(0, ...values), y1 = fixedMax !== undefined ? Math.max(fixedMax, ...values) : Math.max(...values) * 1.05 || 1;
  const sx = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const sy = (y) => T + (1 - (y - y0) / (y1 - y0 || 1)) * (H - T - B);
  for (let i = 0; i <= 4; i++) {
    const y = y0 + ((y1 - y0) * i) / 4;
    target.appendChild(svg("line", { x1: L, x2: W - R, y1: sy(y), y2: sy(y), class: "grid" }));
    target.appendChild(svg("text", { x: 4, y: sy(y) + 4 }, y.toFixed(2)));
  }
  target.appendChild(svg("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, class: "axis" }));
  target.appendChild(svg("text", { x: W / 2, y: H - 22 }, "epoch " + x0 + "–" + x1));
  if (typeof best === "number") {
    target.appendChild(svg("line", { x1: sx(best), x2: sx(best), y1: T, y2: H - B, class: "best" }));
    target.appendChild(svg("text", { x: sx(best) + 3, y: T + 10 }, "best " + best));
  }
  series.forEach((s, i) => {
    const points = epochs.filter((e) => typeof e[s.key] === "number").map((e) => sx(e.epoch).toFixed(1) + "," + sy(e[s.key]).toFixed(1));
    if (!points.length) return;
    target.appendChild(svg("polyline", { points: points.join(" "), class: "line s" + (s.color ?? i) + (s.dashed ? " dashed" : ""), "data-series": s.key }));
    target.appendChild(svg("text", { x: L + 6 + i * 100, y: H - 6 }, s.label));
  });
}

// ------------------------------------------------------------------ run page
function runPage(runId, tok) {
  const state = { run: null, epochs: [] };
  const abortButton = document.getElementById("abort");
  const rerunButton = document.getElementById("rerun");
  const result = document.getElementById("action-result");

  function renderRun() {
    const r = state.run;
    if (!r) return;
    document.getElementById("config").textContent = "configuration " + (r.config || "?");
    document.getElementById("dataset").textContent = "data set " + (r.dataset_version || "–");
    const st = document.getElementById("status");
    st.replaceChildren(statusSpan(r.effective_status));
    document.getElementById("error").textContent = r.error || "";
    const bar = document.getElementById("progress");
    bar.value = r.progress || 0;
    document.getElementById("epoch-text").textContent = "epoch " + (r.epoch || 0) + " of " + (r.epochs || "?");
    document.getElementById("eta").textContent = r.eta_s ? "· ETA " + duration(r.eta_s) : (r.duration_s ? "· " + duration(r.duration_s) : "");
    abortButton.disabled = !tok || !ABORTABLE.includes(r.effective_status);
    rerunButton.disabled = !tok || !RERUNNABLE.includes(r.effective_status);
    const early = document.getElementById("early");
    early.textContent = typeof r.best_epoch === "number" ? "best epoch " + r.best_epoch + (typeof r.patience_left === "number" ? "; early-stopping patience left " + r.patience_left + " of " + r.patience : "") : "";
  }

  // the keys of an epoch record (epochs.jsonl): the values of EPOCH_KEYS in mle3/vocab.py
  // (tests/unit/test_vocab.py checks that every key used here is one of them)
  function renderEpochs() {
    const E = state.epochs;
    const best = state.run ? state.run.best_epoch : null;
    drawChart(document.getElementById("chart-loss"), E, [
      { key: "train_box_loss", label: "box", color: 0 }, { key: "train_cls_loss", label: "cls", color: 1 }, { key: "train_dfl_loss", label: "dfl", color: 2 },
      { key: "val_box_loss", label: "val box", color: 0, dashed: true }, { key: "val_cls_loss", label: "val cls", color: 1, dashed: true }, { key: "val_dfl_loss", label: "val dfl", color: 2, dashed: true },
    ], best);
    drawChart(document.getElementById("chart-map"), E, [{ key: "mAP50", label: "mAP50" }, { key: "mAP50_95", label: "mAP50-95" }], best, 1);
    drawChart(document.getElementById("chart-pr"), E, [{ key: "precision", label: "precision" }, { key: "recall", label: "recall" }], best, 1);
    const tbody = document.querySelector("#epochs tbody");
    tbody.replaceChildren();
    for (const e of E.slice(-50).reverse()) {
      const tr = document.createElement("tr");
      tr.appendChild(el("td", e.epoch, "num"));
      for (const k of ["train_box_loss", "train_cls_loss", "train_dfl_loss", "val_box_loss", "precision", "recall", "mAP50", "mAP50_95"]) tr.appendChild(el("td", fmt(e[k]), "num"));
      tbody.appendChild(tr);
    }
  }

  function renderDetail(d) {
    const list = document.getElementById("deviations");
    list.replaceChildren();
    for (const dev of d.deviations || []) list.appendChild(el("li", dev.field + ": configured " + JSON.stringify(dev.configured) + ", used " + JSON.stringify(dev.used) + " (" + dev.source + (dev.reason ? ": " + dev.reason : "") + ")"));
    for (const f of d.not_applied || []) list.appendChild(el("li", f + ": not applied"));
    if (!list.children.length) list.appendChild(el("li", "none"));
    const mapping = document.querySelector("#mapping tbody");
    mapping.replaceChildren();
    for (const row of d.mapping || []) {
      const tr = document.createElement("tr");
      for (const k of ["field", "value", "target", "status", "note"]) tr.appendChild(el("td", typeof row[k] === "object" && row[k] !== null ? JSON.stringify(row[k]) : row[k] ?? ""));
      mapping.appendChild(tr);
    }
    document.getElementById("log").textContent = d.log_tail || "";
  }

  const events = new EventSource("/api/runs/" + encodeURIComponent(runId) + "/events");
  events.addEventListener("snapshot", (m) => {
    const d = JSON.parse(m.data);
    state.run = d; state.epochs = d.metrics || [];
    renderRun(); renderEpochs(); renderDetail(d);
  });
  events.addEventListener("epoch", (m) => {
    const e = JSON.parse(m.data);
    if (!state.epochs.some((x) => x.epoch === e.epoch)) state.epochs.push(e);
    if (state.run) { state.run.best_epoch = e.best_epoch; state.run.epoch = e.epoch; }
    renderEpochs(); renderRun();
  });
  events.addEventListener("run", (m) => {
    const r = JSON.parse(m.data);
    state.run = Object.assign(state.run || {}, r);
    renderRun();
  });
  events.addEventListener("log", (m) => { document.getElementById("log").textContent = JSON.parse(m.data).slice(-8000); });

  async function act(action) {
    result.textContent = action + "…";
    const response = await fetch("/api/runs/" + encodeURIComponent(runId) + "/" + action, { method: "POST", headers: { "X-MLE3-Token": tok || "" } });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) { result.textContent = action + " refused: " + (body.error || response.status); return; }
    if (action === "rerun") {
      result.replaceChildren(el("span", "queued as "));
      const a = el("a", body.run); a.href = "/runs/" + encodeURIComponent(body.run); result.appendChild(a);
    } else {
      result.textContent = "abort requested";
    }
  }
  abortButton.addEventListener("click", () => act("abort"));
  rerunButton.addEventListener("click", () => act("rerun"));
}

document.addEventListener("DOMContentLoaded", () => {
  const tok = token();
  const badge = document.getElementById("token-state");
  if (badge) badge.textContent = tok ? "actions enabled" : "watch only (open the link mle3 serve printed to abort or rerun)";
  const page = document.body.dataset.page;
  if (page === "index") indexPage();
  if (page === "run") runPage(document.body.dataset.run, tok);
});
