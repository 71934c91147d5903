/* nni-remote web portal: one small single-page app over the manager's JSON routes.
 *
 * Pages are hash routes (#/overview, #/trials, #/trial/<id>, #/params, #/metrics,
 * #/machines, #/experiments). The current page polls its routes every few seconds
 * and updates in place. Every string that comes from the API goes into the DOM
 * through textContent (see h()), never as HTML.
 */
"use strict";
(function () {
  const POLL_MS = Number(document.body.dataset.pollMs) || 2000;
  const HAS_PLOTLY = document.body.dataset.plotly === "yes" && typeof window.Plotly !== "undefined";
  const NNI = "api/v1/nni/";
  const OURS = "api/v1/nni-remote/";
  const ACTIVE = ["WAITING", "RUNNING"];
  const STATUSES = ["WAITING", "RUNNING", "SUCCEEDED", "FAILED", "USER_CANCELED", "EARLY_STOPPED", "SYS_CANCELED"];
  const app = document.getElementById("app");
  const ui = { sort: {}, filter: "", status: "", logFile: {}, follow: true };
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

  async function api(path, options) {
    const opts = Object.assign({ credentials: "same-origin", headers: {} }, options || {});
    if (opts.body !== undefined && typeof opts.body !== "string") {
      opts.body = JSON.stringify(opts.body);
      opts.headers["Content-Type"] = "application/json";
    }
    let resp;
    try {
      resp = await fetch(path, opts);
    } catch (e) {
      throw new ApiError("the manager does not answer (stopped, or the network is down)", 0);
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

  function empty(text) { return h("p", { class: "empty", text }); }

  // ---------------------------------------------------------------- charts
  function chart(el, traces, layout) {
    if (!HAS_PLOTLY) {
      replace(el, empty("Charts need the plotly Python package on the manager's machine (pip install plotly)."));
      return;
    }
    const sig = JSON.stringify([traces, layout]);
    if (el.dataset.sig === sig) return;
    el.dataset.sig = sig;
    const base = {
      margin: { l: 60, r: 20, t: 10, b: 45 }, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      font: { family: "system-ui, sans-serif", size: 12 }, hovermode: "closest", showlegend: false,
    };
    window.Plotly.react(el, traces, Object.assign(base, layout || {}),
      { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["sendDataToCloud"] });
  }

  function stepAxis(steps) {
    const axis = { title: { text: "step" } };
    if (steps.length && Math.max(...steps) <= 20) axis.dtick = 1;
    return axis;
  }

  function webglAvailable() {
    if (webglAvailable.cached === undefined) {
      try {
        const c = document.createElement("canvas");
        webglAvailable.cached = !!(window.WebGLRenderingContext && (c.getContext("webgl") ||
          c.getContext("experimental-webgl")));
      } catch (e) { webglAvailable.cached = false; }
    }
    return webglAvailable.cached;
  }

  // ---------------------------------------------------------------- tables
  // columns: [{key, label, sort: row => value, cell: row => node|string, cls}]
  function table(id, columns, rows, opts) {
    const sort = ui.sort[id] || (opts && opts.sort) || { key: columns[0].key, dir: 1 };
    const col = columns.find(c => c.key === sort.key) || columns[0];
    const value = col.sort || (r => r[col.key]);
    const sorted = rows.slice().sort((a, b) => {
      const x = value(a), y = value(b);
      if (x === y) return 0;
      if (x === null || x === undefined || x === "") return 1;
      if (y === null || y === undefined || y === "") return -1;
      return (x < y ? -1 : 1) * sort.dir;
    });
    const head = h("tr", null, columns.map(c => h("th", {
      class: (c.sortable === false ? "" : "sortable") + (c.key === sort.key ? (sort.dir > 0 ? " asc" : " desc") : ""),
      data: { key: c.key }, scope: "col",
      onclick: c.sortable === false ? null : () => {
        ui.sort[id] = { key: c.key, dir: sort.key === c.key ? -sort.dir : 1 };
        refreshNow();
      },
    }, c.label)));
    const body = sorted.map(r => h("tr", { data: opts && opts.rowData ? opts.rowData(r) : {} },
      columns.map(c => h("td", { class: c.cls || null }, c.cell ? c.cell(r) : fmtValue(r[c.key])))));
    return h("table", { id, class: "grid" }, h("thead", null, head), h("tbody", null, body));
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

  const UPDATES = {
    trialConcurrency: { type: "TRIAL_CONCURRENCY", label: "Trial concurrency", parse: v => parseInt(v, 10) },
    maxTrialNumber: { type: "MAX_TRIAL_NUM", label: "Max trial number", parse: v => parseInt(v, 10) },
    maxExperimentDuration: { type: "MAX_EXEC_DURATION", label: "Max duration",
      parse: v => (/^\s*\d+\s*$/.test(v) ? parseInt(v, 10) : v.trim()) },
  };

  async function saveSetting(field, input) {
    const spec = UPDATES[field];
    const value = spec.parse(input.value);
    if (value === "" || (typeof value === "number" && !Number.isFinite(value))) {
      toast(`${spec.label}: enter a value`, true);
      return;
    }
    try {
      const profile = await api(NNI + "experiment");
      profile.params[field] = value;
      await api(NNI + "experiment?update_type=" + spec.type, { method: "PUT", body: profile });
      input.dataset.dirty = "";
      toast(`${spec.label} set to ${value}`);
    } catch (e) { toast(`${spec.label}: ${e.message}`, true); }
    refreshNow();
  }

  // ---------------------------------------------------------------- pages
  const pages = {};

  pages.overview = function (root) {
    const cards = h("div", { class: "cards" });
    const settings = h("div", { class: "settings" });
    const errors = h("div");
    const best = h("div");
    const stats = h("div", { class: "chips" });
    const inputs = {};
    for (const [field, spec] of Object.entries(UPDATES)) {
      const input = h("input", { id: "set-" + field, name: field, type: field === "maxExperimentDuration" ? "text" : "number",
        min: 1, oninput: () => { input.dataset.dirty = "1"; },
        onkeydown: ev => { if (ev.key === "Enter") saveSetting(field, input); } });
      inputs[field] = input;
      settings.appendChild(h("label", { class: "setting" }, h("span", { text: spec.label }), input,
        h("button", { class: "btn", id: "save-" + field, onclick: () => saveSetting(field, input), text: "Save" })));
    }
    root.append(h("div", { class: "cards-wrap" }, cards), section("Settings", settings,
      h("p", { class: "hint", text: "Changes apply at once (PUT /api/v1/nni/experiment). Durations take units: 90s, 30m, 2h, 1d." })),
    section("Errors", errors), section("Best trials", best), section("Trials by status", stats));

    return async function () {
      const o = overview;
      if (!o) return;
      const maxTrials = o.maxTrialNumber, maxSec = o.maxExperimentDurationSeconds;
      const trialPct = maxTrials ? Math.min(100, 100 * o.finishedTrials / maxTrials) : null;
      const timePct = maxSec ? Math.min(100, 100 * o.execDuration / maxSec) : null;
      const running = o.trialCounts.RUNNING || 0, waiting = o.trialCounts.WAITING || 0;
      const card = (title, big, sub, pct, id) => h("div", { class: "card", id },
        h("div", { class: "card-title", text: title }), h("div", { class: "card-big" }, big),
        sub ? h("div", { class: "card-sub", text: sub }) : null,
        pct === null || pct === undefined ? null :
          h("div", { class: "bar" }, h("div", { class: "bar-fill", style: `width:${pct.toFixed(1)}%` })));
      replace(cards,
        card("Status", badge(o.status), o.errors.length ? `${o.errors.length} error(s)` :
          (o.readonly ? "read-only view" : o.platform || ""), null, "card-status"),
        card("Trials", `${o.finishedTrials} / ${maxTrials || "∞"}`,
          `${o.submittedTrials} submitted · ${running} running · ${waiting} waiting`, trialPct, "card-trials"),
        card("Duration", `${fmtDuration(o.execDuration)} / ${maxSec ? fmtDuration(maxSec) : "∞"}`,
          o.startTime ? "started " + fmtTime(o.startTime) + (o.endTime ? " · ended " + fmtTime(o.endTime) : "") : "",
          timePct, "card-duration"),
        card("Concurrency", `${running} / ${o.trialConcurrency}`, `optimize: ${o.optimizeMode}`, null, "card-conc"));
      for (const [field, input] of Object.entries(inputs)) {
        input.disabled = o.readonly;
        document.getElementById("save-" + field).disabled = o.readonly;
        if (document.activeElement !== input && !input.dataset.dirty) {
          const v = o[field];
          input.value = v === null || v === undefined ? "" : String(v);
        }
      }
      replace(errors, o.errors.length ? h("ul", { class: "errors" }, o.errors.map(e => h("li", null, h("pre", { text: e }))))
        : empty("No errors."));
      replace(best, o.bestTrials.length ? table("best-table", [
        { key: "rank", label: "#", sort: r => r.rank },
        { key: "trialJobId", label: "Trial", cell: r => trialLink(r.trialJobId) },
        { key: "value", label: "Final metric", cell: r => fmtValue(r.value), cls: "num" },
        { key: "parameters", label: "Parameters", sort: r => fmtParams(r.parameters), cell: r => fmtParams(r.parameters) },
      ], o.bestTrials.map((b, i) => Object.assign({ rank: i + 1 }, b)), { sort: { key: "rank", dir: 1 } })
        : empty("No trial has reported a final result yet."));
      replace(stats, Object.keys(o.trialCounts).length ? Object.entries(o.trialCounts).map(([s, n]) =>
        h("span", { class: "chip" }, badge(s), " ", String(n))) : empty("No trials yet."));
    };
  };

  pages.trials = function (root) {
    const filter = h("input", { id: "trial-filter", type: "search", placeholder: "Filter: id, parameter, machine, message…",
      value: ui.filter, oninput: () => { ui.filter = filter.value; refreshNow(); } });
    const status = h("select", { id: "trial-status", onchange: () => { ui.status = status.value; refreshNow(); } },
      h("option", { value: "", text: "All statuses" }), STATUSES.map(s => h("option", { value: s, text: s })));
    status.value = ui.status;
    const retryAll = h("button", { class: "btn", id: "retry-failed", onclick: retryFailed, text: "Retry all failed" });
    const count = h("span", { class: "muted" });
    const holder = h("div", { class: "table-wrap" });
    root.append(section("Trials", h("div", { class: "toolbar" }, filter, status, retryAll, count), holder));
    return async function () {
      const trials = await api(OURS + "trials");
      retryAll.hidden = readonly();
      const needle = ui.filter.trim().toLowerCase();
      const rows = trials.filter(t => (!ui.status || t.status === ui.status) && (!needle ||
        [t.trialJobId, t.status, fmtParams(t.parameters), t.machine, t.message, fmtValue(t.finalMetric)]
          .join(" ").toLowerCase().includes(needle)));
      count.textContent = `${rows.length} of ${trials.length} trials`;
      const maxi = !overview || overview.optimizeMode === "maximize";
      replace(holder, rows.length ? table("trials-table", [
        { key: "trialJobId", label: "ID", cell: t => trialLink(t.trialJobId) },
        { key: "sequenceId", label: "#", cls: "num" },
        { key: "status", label: "Status", cell: t => badge(t.status) },
        { key: "parameters", label: "Parameters", sort: t => fmtParams(t.parameters),
          cell: t => h("span", { class: "params", title: JSON.stringify(t.parameters), text: fmtParams(t.parameters) }) },
        { key: "finalScalar", label: "Final metric", cls: "num",
          sort: t => (t.finalScalar === null ? null : (maxi ? -t.finalScalar : t.finalScalar)),
          cell: t => fmtValue(t.finalMetric) },
        { key: "duration", label: "Duration", cls: "num", cell: t => fmtDuration(t.duration) },
        { key: "machine", label: "Machine", cell: t => t.machine || "" },
        { key: "gpus", label: "GPUs", sort: t => (t.gpus || []).join(","), cell: t => (t.gpus && t.gpus.length ? t.gpus.join(",") : "") },
        { key: "message", label: "Message", cell: t => h("span", { class: "msg", text: t.message || "" }) },
        { key: "actions", label: "", sortable: false, cell: trialActions },
      ], rows, { sort: { key: "sequenceId", dir: 1 }, rowData: t => ({ trial: t.trialJobId, status: t.status }) })
        : empty(trials.length ? "No trial matches the filter." : "No trials yet."));
    };
  };

  pages.trial = function (root, id) {
    const title = h("h1", null, "Trial ", h("code", { text: id }), " ");
    const statusHolder = h("span");
    const actions = h("span", { class: "actions" });
    const info = h("div");
    const params = h("pre", { class: "code" });
    const chartEl = h("div", { class: "chart", id: "intermediate-chart" });
    const files = h("div");
    const tabs = h("div", { class: "tabs" });
    const meta = h("div", { class: "muted" });
    const follow = h("input", { type: "checkbox", id: "log-follow", checked: ui.follow,
      onchange: () => { ui.follow = follow.checked; } });
    const log = h("pre", { class: "log", id: "log-view" });
    title.append(statusHolder, actions);
    root.append(h("div", { class: "title-row" }, h("a", { href: "#/trials", text: "← Trials" }), title),
      h("div", { class: "two" }, section("Details", info), section("Parameters", params)),
      section("Intermediate results", chartEl),
      section("Files", files),
      section("Logs", h("div", { class: "toolbar" }, tabs, h("label", { class: "muted" }, follow, " follow")), meta, log));
    let lastLogKey = null;
    let ended = false;
    return async function () {
      const t = await api(OURS + "trials/" + encodeURIComponent(id));
      replace(statusHolder, badge(t.status));
      replace(actions, trialActions(t));
      const rows = [
        ["Sequence", t.sequenceId], ["Status", t.status], ["Machine", t.machine || "—"],
        ["GPUs", t.gpus && t.gpus.length ? t.gpus.join(", ") : "—"], ["Submitted", fmtTime(t.submitTime)],
        ["Started", fmtTime(t.startTime)], ["Ended", fmtTime(t.endTime)], ["Duration", fmtDuration(t.duration)],
        ["Final metric", fmtValue(t.finalMetric)], ["Attempt", t.attempt + 1], ["Exit code", fmtValue(t.exitCode)],
        ["Source", t.parameterSource], ["Message", t.message || "—"],
        ["Files", t.logPath || "not started"],
      ];
      replace(info, h("table", { class: "kv" }, rows.map(([k, v]) => h("tr", null, h("th", { text: k }), h("td", { text: fmtValue(v) })))));
      params.textContent = JSON.stringify(t.parameters, null, 2);
      const points = t.intermediate.filter(p => p.scalar !== null);
      if (points.length) {
        chart(chartEl, [{ type: "scatter", mode: "lines+markers", x: points.map(p => p.sequence),
          y: points.map(p => p.scalar), name: id, line: { color: "#2563eb" } }],
        { height: 280, xaxis: stepAxis(points.map(p => p.sequence)), yaxis: { title: { text: "metric" } } });
      } else if (!chartEl.dataset.sig) {
        replace(chartEl, empty(ACTIVE.includes(t.status) ? "No intermediate results yet." : "No intermediate results."));
      }
      let listing = { files: [] };
      if (t.machine) {
        listing = await api(OURS + "trials/" + encodeURIComponent(id) + "/files");
      }
      const names = listing.files.map(f => f.name);
      replace(files, listing.files.length ? h("div", null,
        h("p", { class: "muted", text: (listing.machine ? "on " + listing.machine + " in " : "in ") + (listing.directory || "") }),
        h("ul", { class: "files" }, listing.files.map(f => h("li", null,
          h("button", { class: "linkish", data: { file: f.name }, onclick: () => { ui.logFile[id] = f.name; refreshNow(); }, text: f.name }),
          f.size === null || f.size === undefined ? "" : h("span", { class: "muted", text: " " + fmtBytes(f.size) }),
          " ", h("a", { href: NNI + "trial-file/" + encodeURIComponent(id) + "/" + encodeURIComponent(f.name),
            target: "_blank", rel: "noopener", text: "open" })))))
        : empty(t.machine ? "No files yet." : "The trial has not started: it has no files yet."));
      const standard = ["trial.stdout", "trial.stderr", "trial.log"];
      const choice = ui.logFile[id] || "trial.stdout";
      const shown = standard.concat(standard.includes(choice) ? [] : [choice]);
      replace(tabs, shown.map(n => h("button", { class: "tab" + (n === choice ? " on" : ""), data: { file: n },
        onclick: () => { ui.logFile[id] = n; refreshNow(); }, text: n.replace(/^trial\./, "") })));
      const active = ACTIVE.includes(t.status);
      const key = choice + "|" + t.status;
      if (!t.machine) {
        log.textContent = "";
        meta.textContent = "waiting for the trial to start";
      } else if (!names.includes(choice) && listing.listed !== false) {
        log.textContent = "";
        meta.textContent = `${choice} does not exist (yet)`;
      } else if (active || key !== lastLogKey || !ended) {
        const tail = await api(OURS + "trials/" + encodeURIComponent(id) + "/tail/" + encodeURIComponent(choice) + "?bytes=65536");
        const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
        log.textContent = tail.text || (tail.exists === false ? "" : `${choice} is empty.`);
        meta.textContent = tail.exists === false ? `${choice} does not exist (yet)` :
          `${fmtBytes(tail.size)}` + (tail.truncated ? " — showing the last 64 KiB" : "") + (active ? " — live" : "");
        if (ui.follow && (atBottom || key !== lastLogKey)) log.scrollTop = log.scrollHeight;
        ended = !active;
      }
      lastLogKey = key;
    };
  };

  // plotly renders a few HTML tags in chart text: user strings given to it are entity-escaped.
  function plotlyText(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  function encodeDimension(name, values) {
    const numeric = values.every(v => typeof v === "number" && isFinite(v));
    if (numeric) return { label: plotlyText(name), values };
    const cats = Array.from(new Set(values.map(v => fmtValue(v)))).sort();
    return { label: plotlyText(name), values: values.map(v => cats.indexOf(fmtValue(v))),
      tickvals: cats.map((_, i) => i), ticktext: cats.map(plotlyText), range: [0, Math.max(cats.length - 1, 1)] };
  }

  pages.params = function (root) {
    const chartEl = h("div", { class: "chart tall", id: "parcoords-chart" });
    const note = h("p", { class: "hint" });
    root.append(section("Hyper-parameters", note, chartEl));
    return async function () {
      const trials = (await api(OURS + "trials")).filter(t => t.finalScalar !== null && t.parameters &&
        typeof t.parameters === "object");
      if (!trials.length) {
        note.textContent = "";
        if (!chartEl.dataset.sig) replace(chartEl, empty("No trial has reported a final result yet."));
        return;
      }
      const keys = Array.from(new Set(trials.flatMap(t => Object.keys(t.parameters)))).sort();
      const dims = keys.map(k => encodeDimension(k, trials.map(t => t.parameters[k] === undefined ? "—" : t.parameters[k])));
      const metric = trials.map(t => t.finalScalar);
      dims.push({ label: "metric", values: metric });
      const maxi = !overview || overview.optimizeMode === "maximize";
      const webgl = webglAvailable();
      note.textContent = `${trials.length} trials with a final metric; colour = metric (` +
        (maxi ? "brighter is better" : "darker is better") + ")." + (webgl ? " Drag along an axis to filter." : "");
      if (webgl) {
        chart(chartEl, [{ type: "parcoords", dimensions: dims,
          line: { color: metric, colorscale: "Viridis", showscale: true, reversescale: !maxi } }],
        { height: 460, margin: { l: 70, r: 70, t: 50, b: 30 } });
      } else {
        const svg = svgParallel(dims, metric, !maxi);
        chart(chartEl, svg.traces, {
          height: 460, shapes: svg.shapes, annotations: svg.annotations,
          xaxis: { tickvals: dims.map((_, i) => i), ticktext: dims.map(d => d.label), range: [-0.5, dims.length - 0.7],
            showgrid: false, zeroline: false },
          yaxis: { visible: false, range: [-0.05, 1.05] } });
      }
    };
  };

  // Parallel coordinates drawn with SVG lines (for browsers without WebGL): traces plus axes and their labels.
  function svgParallel(dims, metric, reverse) {
    const lo = Math.min(...metric), hi = Math.max(...metric);
    const scale = v => (hi === lo ? 0.5 : (v - lo) / (hi - lo));
    const color = s => { const x = reverse ? 1 - s : s; return `hsl(${Math.round(260 - 200 * x)},70%,${Math.round(30 + 25 * x)}%)`; };
    const shapes = [], annotations = [];
    const norm = dims.map((d, j) => {
      const min = d.range ? d.range[0] : Math.min(...d.values), max = d.range ? d.range[1] : Math.max(...d.values);
      const at = v => (max === min ? 0.5 : (v - min) / (max - min));
      shapes.push({ type: "line", x0: j, x1: j, y0: 0, y1: 1, line: { color: "#94a3b8", width: 1 } });
      const ticks = d.ticktext ? d.ticktext.map((t, i) => [at(i), t]) : (max === min ? [[0.5, min]] : [[0, min], [1, max]]);
      for (const [y, label] of ticks) {
        annotations.push({ x: j, y, text: fmtValue(label), showarrow: false, xanchor: "right", xshift: -4, font: { size: 11 } });
      }
      return d.values.map(at);
    });
    const traces = metric.map((m, i) => ({ type: "scatter", mode: "lines", x: dims.map((_, j) => j), y: norm.map(col => col[i]),
      line: { color: color(scale(m)), width: 1.5 }, hoverinfo: "text",
      text: dims.map(d => `${d.label}: ${fmtValue(d.ticktext ? d.ticktext[d.values[i]] : d.values[i])}`) }));
    return { traces, shapes, annotations };
  }

  pages.metrics = function (root) {
    const finalEl = h("div", { class: "chart", id: "final-chart" });
    const durEl = h("div", { class: "chart", id: "duration-chart" });
    const interEl = h("div", { class: "chart", id: "intermediate-all-chart" });
    root.append(section("Final metric per trial", finalEl), section("Trial duration", durEl),
      section("Intermediate results (all trials)", interEl));
    return async function () {
      const trials = await api(OURS + "trials");
      const done = trials.filter(t => t.finalScalar !== null).sort((a, b) => a.sequenceId - b.sequenceId);
      const maxi = !overview || overview.optimizeMode === "maximize";
      if (done.length) {
        let best = null;
        const bestLine = done.map(t => { best = best === null ? t.finalScalar : (maxi ? Math.max(best, t.finalScalar) : Math.min(best, t.finalScalar)); return best; });
        chart(finalEl, [
          { type: "scatter", mode: "markers", name: "final", x: done.map(t => t.sequenceId), y: done.map(t => t.finalScalar),
            text: done.map(t => t.trialJobId), marker: { color: "#2563eb", size: 8 } },
          { type: "scatter", mode: "lines", name: "best so far", x: done.map(t => t.sequenceId), y: bestLine,
            line: { shape: "hv", color: "#16a34a", width: 2 } }],
        { height: 320, showlegend: true, legend: { orientation: "h", y: 1.1 },
          xaxis: { title: { text: "trial sequence" } }, yaxis: { title: { text: "final metric" } } });
      } else if (!finalEl.dataset.sig) replace(finalEl, empty("No final results yet."));
      const timed = trials.filter(t => t.duration !== null).sort((a, b) => a.sequenceId - b.sequenceId);
      if (timed.length) {
        const colors = { SUCCEEDED: "#16a34a", FAILED: "#dc2626", RUNNING: "#2563eb" };
        chart(durEl, [{ type: "bar", x: timed.map(t => t.sequenceId), y: timed.map(t => t.duration),
          hovertext: timed.map(t => t.trialJobId + " " + t.status), textposition: "none", marker: { color: timed.map(t => colors[t.status] || "#6b7280") } }],
        { height: 280, xaxis: { title: { text: "trial sequence" } }, yaxis: { title: { text: "seconds" } } });
      } else if (!durEl.dataset.sig) replace(durEl, empty("No trial has started yet."));
      const records = await api(NNI + "metric-data?type=PERIODICAL");
      const byTrial = {};
      for (const r of records) {
        let v = null;
        try { v = JSON.parse(JSON.parse(r.data)); } catch (e) { v = null; }
        if (v && typeof v === "object") v = v.default;
        if (typeof v !== "number" || !isFinite(v)) continue;
        (byTrial[r.trialJobId] = byTrial[r.trialJobId] || []).push([r.sequence, v]);
      }
      const ids = Object.keys(byTrial).slice(-60);
      if (ids.length) {
        chart(interEl, ids.map(id => { const pts = byTrial[id].sort((a, b) => a[0] - b[0]);
          return { type: "scatter", mode: "lines", name: id, x: pts.map(p => p[0]), y: pts.map(p => p[1]), line: { width: 1.5 } }; }),
        { height: 320, xaxis: stepAxis(ids.flatMap(id => byTrial[id].map(p => p[0]))),
          yaxis: { title: { text: "intermediate metric" } } });
      } else if (!interEl.dataset.sig) replace(interEl, empty("No intermediate results yet."));
    };
  };

  async function enableMachine(name) {
    try {
      await api(OURS + "machines/" + encodeURIComponent(name) + "/enable", { method: "POST" });
      toast(`Machine ${name} is back in service`);
    } catch (e) { toast(`Re-enable ${name}: ${e.message}`, true); }
    refreshNow();
  }

  function gpuCell(m) {
    if (!m.gpus || !m.gpus.length) return h("span", { class: "muted", text: "none" });
    const byGpu = {};
    for (const [trial, gpus] of Object.entries(m.assignedGpus || {})) for (const g of gpus) (byGpu[g] = byGpu[g] || []).push(trial);
    return h("ul", { class: "gpus" }, m.gpus.map(g => h("li", null, h("b", { text: "GPU " + g.index }),
      " " + (typeof g.utilization === "number" ? g.utilization + "%" : "?") + " · " +
      (typeof g.memory_used === "number" ? `${Math.round(g.memory_used)}/${Math.round(g.memory_total)} MiB` : ""),
      (byGpu[g.index] || []).length ? [" · ", (byGpu[g.index]).flatMap((t, i) => i ? [" ", trialLink(t)] : [trialLink(t)])] : "",
      g.processes && g.processes.length ? h("span", { class: "muted", text: ` · ${g.processes.length} process(es)` }) : "")));
  }

  pages.machines = function (root) {
    const holder = h("div", { class: "table-wrap" });
    root.append(section("Machines", holder));
    return async function () {
      const machines = await api(OURS + "machines");
      replace(holder, machines.length ? table("machines-table", [
        { key: "name", label: "Machine", cell: m => h("span", null, h("b", { text: m.name }),
          m.address !== m.name ? h("div", { class: "muted", text: m.address }) : null) },
        { key: "state", label: "State", cell: m => badge(m.state) },
        { key: "running", label: "Running trials", sort: m => m.runningTrials.length,
          cell: m => h("span", null, `${m.runningTrials.length} / ${m.slots} `, m.runningTrials.map(id => [trialLink(id), " "])) },
        { key: "gpus", label: "GPUs", sortable: false, cell: gpuCell },
        { key: "lastHeartbeat", label: "Last heartbeat", cell: m => fmtAgo(m.lastHeartbeat) },
        { key: "errors", label: "Errors", sortable: false, cell: m => h("span", { class: "msg", text: m.errors.join("; ") }) },
        { key: "drained", label: "Drained", cell: m => (m.drained ? h("span", null, "yes ",
          readonly() ? "" : h("button", { class: "btn", data: { action: "enable", machine: m.name }, onclick: () => enableMachine(m.name), text: "Re-enable" })) : "no") },
      ], machines, { sort: { key: "name", dir: 1 } }) : empty(readonly() ? "A read-only view has no machines." : "No machines yet."));
    };
  };

  pages.experiments = function (root) {
    const holder = h("div", { class: "table-wrap" });
    root.append(section("Experiments", holder));
    return async function () {
      const entries = await api(NNI + "experiments-info");
      const me = document.body.dataset.expId;
      replace(holder, entries.length ? table("experiments-table", [
        { key: "id", label: "ID", cell: e => h("code", { text: e.id, class: e.id === me ? "me" : "" }) },
        { key: "experimentName", label: "Name", cell: e => e.experimentName || "" },
        { key: "status", label: "Status", cell: e => badge(e.status) },
        { key: "port", label: "Port", cls: "num" },
        { key: "platform", label: "Platform" },
        { key: "startTime", label: "Started", cell: e => fmtTime(e.startTime) },
        { key: "endTime", label: "Ended", cell: e => (typeof e.endTime === "number" ? fmtTime(e.endTime) : "") },
        { key: "link", label: "Portal", sortable: false, cell: e => (Number.isInteger(e.port) && e.status !== "STOPPED"
          ? h("a", { href: `${location.protocol}//${location.hostname}:${e.port}/`, text: e.id === me ? "this one" : "open" }) : "") },
      ], entries, { sort: { key: "startTime", dir: -1 } }) : empty("The registry is empty."));
    };
  };

  // ---------------------------------------------------------------- routing & polling
  async function refreshHeader() {
    overview = await api(OURS + "overview");
    document.getElementById("hdr-name").textContent = overview.experimentName || "";
    replace(document.getElementById("hdr-status"), overview.status);
    document.getElementById("hdr-status").className = "badge st-" + overview.status.toLowerCase();
    document.title = `${overview.status} · ${overview.experimentName || overview.id} · nni-remote`;
  }

  async function tick(token) {
    if (!current || current.token !== token) return;
    const run = ++current.run;
    clearTimeout(timer);
    try {
      await refreshHeader();
      if (current.token !== token) return;
      await current.refresh();
      banner("");
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
    if (current) tick(current.token);
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
      a.classList.toggle("on", a.dataset.page === name || (name === "trial" && a.dataset.page === "trials"));
    }
    const token = {};
    current = { name, token, run: 0, refresh: pages[name](root, arg) };
    tick(token);
  }

  window.addEventListener("hashchange", route);
  route();
})();
