/* nni-remote web portal: one small single-page app over the manager's JSON routes.
 *
 * This file is the core (helpers, charts, tables, routing, polling); overview.js,
 * trials.js and analysis.js add the pages to window.NR.pages, and routing starts
 * once every script ran.
 * Pages are hash routes (#/overview, #/trials, #/trial/<id>, #/compare/<ids>,
 * #/params, #/metrics, #/importance, #/machines, #/experiments). The current
 * page polls its routes every few seconds and updates in place. Every string
 * that comes from the API goes into the DOM through textContent (see h()),
 * never as HTML.
 */
"use strict";
(function () {
  const POLL_MS = Number(document.body.dataset.pollMs) || 2000;
  const HAS_PLOTLY = document.body.dataset.plotly === "yes";
  const NNI = "api/v1/nni/";
  const OURS = "api/v1/nni-remote/";
  const ACTIVE = ["WAITING", "RUNNING"];
  const STATUSES = ["WAITING", "RUNNING", "SUCCEEDED", "FAILED", "USER_CANCELED", "EARLY_STOPPED", "SYS_CANCELED"];
  const app = document.getElementById("app");
  const ui = { sort: {}, filter: "", status: "", logFile: {}, follow: true, key: "default", columns: [],
    selected: new Set(), brush: {}, topPct: 100, page: {} };
  let current = null;      // {name, args, refresh, token}
  let timer = null;
  let overview = null;     // last /overview answer (header, read-only flag, optimize mode)

  // ---------------------------------------------------------------- helpers
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") el.className = v;
      else if (k === "text") el.textContent = String(v);
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "data") Object.assign(el.dataset, v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid === null || kid === undefined || kid === false) continue;
      el.appendChild(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return el;
  }

  function replace(el, ...kids) {
    while (el.firstChild) el.removeChild(el.firstChild);
    for (const kid of kids.flat(Infinity)) {
      if (kid !== null && kid !== undefined && kid !== false) {
        el.appendChild(kid instanceof Node ? kid : document.createTextNode(String(kid)));
      }
    }
    return el;
  }

  class ApiError extends Error {
    constructor(message, status) { super(message); this.status = status; }
  }

  // GET answers kept with their ETag: polling sends If-None-Match, and a 304 returns the kept answer
  // (opts.answer.unchanged is then true, so a page can skip redrawing what it already shows).
  const kept = new Map();
  const KEPT_MAX = 40;

  async function api(path, options) {
    const opts = Object.assign({ credentials: "same-origin", headers: {} }, options || {});
    const method = (opts.method || "GET").toUpperCase();
    if (opts.body !== undefined && typeof opts.body !== "string") {
      opts.body = JSON.stringify(opts.body);
      opts.headers["Content-Type"] = "application/json";
    }
    const old = method === "GET" ? kept.get(path) : undefined;
    if (old) { opts.headers["If-None-Match"] = old.etag; opts.cache = "no-store"; }
    let resp;
    try {
      resp = await fetch(path, opts);
    } catch (e) {
      throw new ApiError("the manager does not answer (stopped, or the network is down)", 0);
    }
    if (resp.status === 304 && old) {
      if (opts.answer) { opts.answer.headers = old.headers; opts.answer.unchanged = true; }
      return old.data;
    }
    const text = await resp.text();
    let data = text;
    if (text && (resp.headers.get("Content-Type") || "").includes("json")) {
      try { data = JSON.parse(text); } catch (e) { data = text; }
    }
    if (!resp.ok) {
      const message = data && data.error ? data.error : (text || resp.statusText);
      throw new ApiError(message, resp.status);
    }
    const etag = method === "GET" ? resp.headers.get("ETag") : null;
    if (etag) {
      kept.delete(path);
      if (kept.size >= KEPT_MAX) kept.delete(kept.keys().next().value);
      kept.set(path, { etag, data, headers: resp.headers });
    }
    if (opts.answer) { opts.answer.headers = resp.headers; opts.answer.unchanged = false; }   // paged lists: X-Total-Count
    return data;
  }

  function toast(message, bad) {
    const el = document.getElementById("toast");
    el.textContent = message;
    el.className = "toast " + (bad ? "bad" : "good");
    el.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { el.hidden = true; }, bad ? 8000 : 3000);
  }

  function banner(message) {
    const el = document.getElementById("banner");
    el.textContent = message || "";
    el.hidden = !message;
  }

  function badge(status) {
    return h("span", { class: "badge st-" + String(status || "").toLowerCase(), text: status || "?" });
  }

  function pad(n) { return String(n).padStart(2, "0"); }

  function fmtDuration(seconds) {
    if (seconds === null || seconds === undefined || !isFinite(seconds)) return "";
    if (seconds < 1) return `${Math.max(0, Math.round(seconds * 1000))} ms`;
    if (seconds < 10 && !Number.isInteger(seconds)) return `${(Math.floor(seconds * 10) / 10).toFixed(1)}s`;
    const s = Math.max(0, Math.round(seconds));
    const d = Math.floor(s / 86400), hh = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60, ss = s % 60;
    if (d) return `${d}d ${hh}h ${pad(m)}m`;
    if (hh) return `${hh}h ${pad(m)}m ${pad(ss)}s`;
    if (m) return `${m}m ${pad(ss)}s`;
    return `${ss}s`;
  }

  function fmtTime(ms) {
    if (typeof ms !== "number") return "";
    const d = new Date(ms);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  function fmtAgo(ms) {
    if (typeof ms !== "number") return "never";
    return fmtDuration((Date.now() - ms) / 1000) + " ago";
  }

  function fmtValue(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toPrecision(6).replace(/\.?0+$/, "");
    if (typeof v === "object") return JSON.stringify(v);
    return String(v);
  }

  function fmtParams(p) {
    if (p === null || typeof p !== "object") return fmtValue(p);
    return Object.entries(p).map(([k, v]) => `${k}=${fmtValue(v)}`).join(", ");
  }

  function fmtBytes(n) {
    if (typeof n !== "number") return "";
    if (n < 1024) return n + " B";
    if (n < 1048576) return (n / 1024).toFixed(1) + " KiB";
    return (n / 1048576).toFixed(1) + " MiB";
  }

  function trialLink(id) {
    return h("a", { href: "#/trial/" + encodeURIComponent(id), class: "mono", text: id });
  }

  function readonly() { return !!(overview && overview.readonly); }

  function section(title, ...kids) {
    return h("section", { class: "panel" }, h("h2", { text: title }), ...kids);
  }

  // ---------------------------------------------------------------- metric keys
  // A final or intermediate metric is a number or a dict; "default" is the number itself or dict.default.
  function metricOf(value, key) {
    let v = value;
    if (v && typeof v === "object") v = v[key || "default"];
    else if ((key || "default") !== "default") return null;
    return typeof v === "number" && isFinite(v) ? v : null;
  }

  function metricKeys(values) {
    const keys = new Set();
    for (const v of values) {
      if (v && typeof v === "object") {
        for (const [k, x] of Object.entries(v)) if (typeof x === "number" && isFinite(x)) keys.add(k);
      } else if (typeof v === "number" && isFinite(v)) keys.add("default");
    }
    const rest = Array.from(keys).filter(k => k !== "default").sort();
    return keys.has("default") || !rest.length ? ["default"].concat(rest) : rest;
  }

  // The "charted metric" picker: one <select> per page, its options refreshed from the keys seen.
  function keyPicker(id) {
    const select = h("select", { id: id || "metric-key", onchange: () => { ui.key = select.value; refreshNow(); } });
    const el = h("label", { class: "setting" }, h("span", { text: "Metric" }), select);
    return {
      el, update(keys) {
        if (!keys.includes(ui.key)) ui.key = keys[0];
        if (select.dataset.keys !== keys.join("\n")) {
          replace(select, keys.map(k => h("option", { value: k, text: k })));
          select.dataset.keys = keys.join("\n");
        }
        select.value = ui.key;
        return ui.key;
      },
    };
  }

  // Put `node` into `holder` unless it shows the same thing already; focus stays on the same control.
  function swap(holder, node) {
    const old = holder.firstElementChild;
    if (old && node && old.outerHTML === node.outerHTML) return;
    const active = document.activeElement;
    const fk = active && holder.contains(active) ? active.getAttribute("data-fk") : null;
    replace(holder, node);
    if (fk) {
      const again = holder.querySelector(`[data-fk="${CSS.escape(fk)}"]`);
      if (again) again.focus();
    }
  }

  function empty(text) { return h("p", { class: "empty", text }); }

  // ---------------------------------------------------------------- charts
  // plotly.js (4.8 MB) is loaded after the first view shows, not before it: compiling and running it is
  // one main-thread task of a second or more on a slow machine. Charts asked for earlier draw when it is in.
  let plotlyLoad = null;
  function loadPlotly() {
    if (!plotlyLoad) {
      plotlyLoad = new Promise((resolve, reject) => {
        if (window.Plotly) { resolve(window.Plotly); return; }
        const script = document.createElement("script");
        script.src = "static/plotly.min.js";
        script.async = true;
        script.onload = () => resolve(window.Plotly);
        script.onerror = () => reject(new Error("plotly.min.js did not load"));
        document.head.appendChild(script);
      });
    }
    return plotlyLoad;
  }

  function chart(el, traces, layout) {
    if (!HAS_PLOTLY) {
      replace(el, empty("Charts need the plotly Python package on the manager's machine (pip install plotly)."));
      return;
    }
    const sig = JSON.stringify([traces, layout]);
    if (el.dataset.sig === sig) return;
    el.dataset.sig = sig;
    if (!window.Plotly) {   // not loaded yet: draw the latest chart asked for once it is
      loadPlotly().then(() => { if (el.dataset.sig === sig && el.isConnected) { delete el.dataset.sig; chart(el, traces, layout); } },
        () => replace(el, empty("The chart library (plotly.min.js) could not be loaded from the manager.")));
      return;
    }
    const base = {
      margin: { l: 60, r: 20, t: 10, b: 45 }, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      font: { family: "system-ui, sans-serif", size: 12 }, hovermode: "closest", showlegend: false,
    };
    window.Plotly.react(el, traces, Object.assign(base, layout || {}),
      { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["sendDataToCloud"] });
  }

  // plotly renders a few HTML tags in chart text: user strings given to it are entity-escaped.
  function plotlyText(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  // At most about `limit` of a curve's points for a chart: evenly spaced ones, the last, and the highest and
  // lowest (so a downsampled curve keeps its range). Markers only on short curves: thousands of SVG markers are slow.
  const CURVE_LIMIT = 1000;
  function curve(points, limit) {
    const max = limit || CURVE_LIMIT;
    if (points.length <= max) return points;
    const step = Math.ceil(points.length / max);
    let hi = 0, lo = 0;
    points.forEach((p, i) => { if (p[1] > points[hi][1]) hi = i; if (p[1] < points[lo][1]) lo = i; });
    return points.filter((p, i) => i % step === 0 || i === points.length - 1 || i === hi || i === lo);
  }
  function curveMode(points) { return points.length > 200 ? "lines" : "lines+markers"; }

  function stepAxis(steps) {
    const axis = { title: { text: "step" } };
    if (steps.length && Math.max(...steps) <= 20) axis.dtick = 1;
    return axis;
  }

  // ---------------------------------------------------------------- tables
  // columns: [{key, label, sort: row => value, cell: row => node|string, cls, sortable, head, hideLabel}]
  // opts: {sort: {key, dir}, rowData: row => dataset, pageSize: rows per page (a pager below the table)}
  // opts.total: the rows are one page the server sorted and cut (of opts.total rows); shown as they come.
  function table(id, columns, rows, opts) {
    const sort = ui.sort[id] || (opts && opts.sort) || { key: columns[0].key, dir: 1 };
    const col = columns.find(c => c.key === sort.key) || columns[0];
    const value = col.sort || (r => r[col.key]);
    const server = opts && opts.total !== undefined;
    const sorted = server ? rows : rows.slice().sort((a, b) => {
      const x = value(a), y = value(b);
      if (x === y) return 0;
      if (x === null || x === undefined || x === "") return 1;
      if (y === null || y === undefined || y === "") return -1;
      return (x < y ? -1 : 1) * sort.dir;
    });
    const size = opts && opts.pageSize;
    const total = server ? opts.total : sorted.length;
    const pages = size ? Math.max(1, Math.ceil(total / size)) : 1;
    const page = Math.min(ui.page[id] || 0, pages - 1);
    const shown = size && !server ? sorted.slice(page * size, (page + 1) * size) : sorted;
    const head = h("tr", null, columns.map(c => h("th", {
      class: [c.sortable === false ? "" : "sortable", c.key === sort.key ? (sort.dir > 0 ? "asc" : "desc") : "",
        c.hcls || c.cls || ""].join(" ").trim() || null,
      data: { key: c.key }, scope: "col",
      "aria-sort": c.key === sort.key ? (sort.dir > 0 ? "ascending" : "descending") : null,
    }, c.sortable === false ? (c.head || (c.hideLabel ? h("span", { class: "sr-only", text: c.label }) : c.label)) :
      h("button", { class: "sort", type: "button", data: { fk: "sort:" + c.key },
        title: "Sort by " + (c.label || c.key), onclick: () => {
          ui.sort[id] = { key: c.key, dir: sort.key === c.key ? -sort.dir : 1 };
          refreshNow();
        } }, c.label))));
    const body = shown.map((r, i) => h("tr", Object.assign({ tabindex: i === 0 ? "0" : "-1" },
      { data: Object.assign({ fk: "row:" + i }, opts && opts.rowData ? opts.rowData(r) : {}) }),
    columns.map(c => h("td", { class: c.cls || null }, c.cell ? c.cell(r) : fmtValue(r[c.key])))));
    const grid = h("table", { id, class: "grid", onkeydown: rowKeys }, h("thead", null, head), h("tbody", null, body));
    if (pages === 1) return grid;
    const go = n => () => { ui.page[id] = n; refreshNow(); };
    return h("div", null, grid, h("nav", { class: "pager", "aria-label": "Pages of " + id },
      h("button", { class: "btn", type: "button", disabled: page === 0, data: { fk: "prev:" + id }, onclick: go(page - 1),
        text: "Previous" }),
      h("span", { class: "muted", text: `Page ${page + 1} of ${pages} · rows ${page * size + 1}–${page * size + shown.length} of ${total}` }),
      h("button", { class: "btn", type: "button", disabled: page === pages - 1, data: { fk: "next:" + id },
        onclick: go(page + 1), text: "Next" })));
  }

  // Keyboard in tables: Up/Down/Home/End move between rows, Enter opens the row's link, Space ticks its box.
  function rowKeys(ev) {
    const row = ev.target.closest && ev.target.closest("tbody tr");
    if (!row || ev.target !== row) return;
    const rows = Array.from(row.parentNode.children);
    let next = null;
    if (ev.key === "ArrowDown") next = rows[rows.indexOf(row) + 1];
    else if (ev.key === "ArrowUp") next = rows[rows.indexOf(row) - 1];
    else if (ev.key === "Home") next = rows[0];
    else if (ev.key === "End") next = rows[rows.length - 1];
    else if (ev.key === "Enter") { const a = row.querySelector("a[href]"); if (a) { a.click(); ev.preventDefault(); } return; }
    else if (ev.key === " ") { const b = row.querySelector("input[type=checkbox]"); if (b) { b.click(); ev.preventDefault(); } return; }
    if (!next) return;
    ev.preventDefault();
    for (const r of rows) r.setAttribute("tabindex", "-1");
    next.setAttribute("tabindex", "0");
    next.focus();
  }

  // Tabs: a role=tablist of buttons; Left/Right/Home/End move and select.
  function tabs(label, names, current, choose, text) {
    const list = h("div", { class: "tabs", role: "tablist", "aria-label": label });
    const buttons = names.map(n => h("button", { class: "tab" + (n === current ? " on" : ""), role: "tab", type: "button",
      "aria-selected": n === current ? "true" : "false", tabindex: n === current ? "0" : "-1",
      data: { file: n, fk: "tab:" + n }, onclick: () => choose(n), text: text ? text(n) : n }));
    list.addEventListener("keydown", ev => {
      const i = buttons.indexOf(document.activeElement);
      if (i < 0) return;
      const j = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: buttons.length - 1 }[ev.key];
      if (j === undefined) return;
      ev.preventDefault();
      const b = buttons[(j + buttons.length) % buttons.length];
      b.focus();
      b.click();
    });
    buttons.forEach(b => list.appendChild(b));
    return list;
  }

  // ---------------------------------------------------------------- actions
  async function killTrial(id) {
    if (!window.confirm(`Kill trial ${id}?`)) return;
    try {
      await api(NNI + "trial-jobs/" + encodeURIComponent(id), { method: "DELETE" });
      toast(`Trial ${id} is being killed`);
    } catch (e) { toast(`Kill ${id}: ${e.message}`, true); }
    refreshNow();
  }

  async function retryTrial(id) {
    try {
      const r = await api(OURS + "trials/" + encodeURIComponent(id) + "/retry", { method: "POST" });
      toast(`Retrying ${id} as trial ${r.trialJobId || "#" + r.sequenceId}`);
    } catch (e) { toast(`Retry ${id}: ${e.message}`, true); }
    refreshNow();
  }

  async function retryFailed() {
    try {
      const r = await api(OURS + "trials/retry-failed", { method: "POST" });
      toast(r.retried.length ? `Retrying ${r.retried.length} failed trial(s)` +
        (r.error ? ` (stopped: ${r.error})` : "") : "No failed trial left to retry");
    } catch (e) { toast(`Retry failed trials: ${e.message}`, true); }
    refreshNow();
  }

  function trialActions(t) {
    if (readonly()) return "";
    if (ACTIVE.includes(t.status)) {
      return h("button", { class: "btn danger", data: { action: "kill", trial: t.trialJobId },
        onclick: () => killTrial(t.trialJobId), text: "Kill" });
    }
    return h("button", { class: "btn", data: { action: "retry", trial: t.trialJobId },
      onclick: () => retryTrial(t.trialJobId), text: "Retry" });
  }

  const pages = {};

  // ---------------------------------------------------------------- routing & polling
  async function refreshHeader() {
    overview = await api(OURS + "overview");
    document.getElementById("hdr-name").textContent = overview.experimentName || "";
    replace(document.getElementById("hdr-status"), overview.status);
    document.getElementById("hdr-status").className = "badge st-" + overview.status.toLowerCase();
    document.title = `${overview.status} · ${overview.experimentName || overview.id} · nni-remote`;
  }

  // One update of the current page. The header (/overview) is read first only when the page has none yet;
  // later it is read beside the page's own routes, and not at all when a click on the page asked for it.
  async function tick(token, clicked) {
    if (!current || current.token !== token) return;
    const run = ++current.run;
    clearTimeout(timer);
    try {
      const first = !overview;
      if (first) await refreshHeader();
      if (current.token !== token) return;
      const header = !first && (!clicked || current.name === "overview");
      await Promise.all([header ? refreshHeader() : null, current.refresh()]);
      banner("");
      if (HAS_PLOTLY && !plotlyLoad) {   // the first view is in: the charts' library when the browser is idle
        if (window.requestIdleCallback) window.requestIdleCallback(() => loadPlotly(), { timeout: 1500 });
        else setTimeout(loadPlotly, 200);
      }
    } catch (e) {
      if (current && current.token === token) {
        banner(e.status === 401 ? "Access token needed: open the URL the manager printed (…/?token=…)."
          : e.status === 409 ? "The experiment is still initializing…" : "Cannot update: " + e.message);
      }
    }
    if (current && current.token === token && current.run === run) {
      timer = setTimeout(() => tick(token), POLL_MS);
    }
  }

  function refreshNow() {
    if (current) tick(current.token, true);
  }

  function route() {
    const parts = (location.hash || "#/overview").replace(/^#\/?/, "").split("/");
    let name = parts[0] || "overview";
    const arg = parts.length > 1 ? decodeURIComponent(parts.slice(1).join("/")) : null;
    if (!pages[name]) name = "overview";
    clearTimeout(timer);
    replace(app);
    const root = h("div", { class: "page page-" + name, id: "page-" + name });
    app.appendChild(root);
    for (const a of document.querySelectorAll("#nav a")) {
      const on = a.dataset.page === name || (["trial", "compare"].includes(name) && a.dataset.page === "trials");
      a.classList.toggle("on", on);
      if (on) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
    }
    const token = {};
    current = { name, token, run: 0, refresh: pages[name](root, arg) };
    tick(token);
  }

  // The other scripts (trials.js, analysis.js) add their pages to NR.pages; routing starts after them.
  window.NR = {
    h, replace, swap, api, toast, badge, fmtDuration, fmtTime, fmtAgo, fmtValue, fmtParams, fmtBytes, trialLink, section,
    empty, chart, plotlyText, stepAxis, curve, curveMode, table, tabs, keyPicker, metricOf, metricKeys, readonly, refreshNow,
    killTrial, retryTrial, retryFailed, trialActions, ui, pages, NNI, OURS, ACTIVE, STATUSES,
    overview: () => overview,
  };
  window.addEventListener("hashchange", route);
  document.addEventListener("DOMContentLoaded", route);
})();
