/* nni-remote portal: the Trials table (select, compare, export), one trial's page, and Compare. */
"use strict";
(function () {
  const { h, replace, swap, api, badge, fmtDuration, fmtTime, fmtValue, fmtParams, fmtBytes, trialLink, section, empty,
    chart, plotlyText, stepAxis, curve, curveMode, table, tabs, keyPicker, metricOf, metricKeys, readonly, refreshNow, retryFailed,
    trialActions, ui, pages, NNI, OURS, ACTIVE, STATUSES } = window.NR;
  const PAGE = 100;   // rows per page of the trials table
  const maximize = () => { const o = window.NR.overview(); return !o || o.optimizeMode === "maximize"; };

  function exportHref(kind, ids) {
    return OURS + "insights/export?format=" + kind + "&key=" + encodeURIComponent(ui.key) +
      (ids.length ? "&trials=" + ids.map(encodeURIComponent).join(",") : "");
  }

  // Extra metric keys shown as columns: a checkbox per key other than the charted one.
  function columnChooser(keys) {
    const others = keys.filter(k => k !== ui.key);
    if (!others.length) return null;
    return h("fieldset", { class: "columns" }, h("legend", { text: "Columns" }), others.map(k => h("label", null,
      h("input", { type: "checkbox", data: { column: k, fk: "col:" + k }, checked: ui.columns.includes(k),
        onchange: ev => {
          ui.columns = ev.target.checked ? ui.columns.concat([k]) : ui.columns.filter(c => c !== k);
          refreshNow();
        } }), " " + k)));
  }

  function selectBox(t) {
    return h("input", { type: "checkbox", class: "pick", "aria-label": "Select trial " + t.trialJobId,
      data: { trial: t.trialJobId, fk: "sel:" + t.trialJobId }, checked: ui.selected.has(t.trialJobId),
      onchange: ev => {
        if (ev.target.checked) ui.selected.add(t.trialJobId); else ui.selected.delete(t.trialJobId);
        refreshNow();
      } });
  }

  pages.trials = function (root) {
    const filter = h("input", { id: "trial-filter", type: "search", "aria-label": "Filter trials",
      placeholder: "Filter: id, parameter, machine, message…",
      value: ui.filter, oninput: () => { ui.filter = filter.value; ui.page["trials-table"] = 0; refreshNow(); } });
    const status = h("select", { id: "trial-status", "aria-label": "Status",
      onchange: () => { ui.status = status.value; ui.page["trials-table"] = 0; refreshNow(); } },
    h("option", { value: "", text: "All statuses" }), STATUSES.map(s => h("option", { value: s, text: s })));
    status.value = ui.status;
    const picker = keyPicker();
    const chooser = h("div");
    const retryAll = h("button", { class: "btn", id: "retry-failed", onclick: retryFailed, text: "Retry all failed" });
    const count = h("span", { class: "muted" });
    const selection = h("div", { class: "toolbar selection" });
    const holder = h("div", { class: "table-wrap", id: "trials-wrap" });
    root.append(section("Trials", h("div", { class: "toolbar" }, filter, status, picker.el, chooser, retryAll, count),
      selection, holder));
    return async function () {
      // One page at a time, filtered, sorted and cut by the server (server/paging.py).
      const sign = maximize() ? -1 : 1;
      const sort = ui.sort["trials-table"] || { key: "sequenceId", dir: 1 };
      const ascending = sort.key.startsWith("metric:") ? sign * sort.dir > 0 : sort.dir > 0;
      const answer = {};
      const query = new URLSearchParams({ offset: String((ui.page["trials-table"] || 0) * PAGE), limit: String(PAGE),
        sort: (ascending ? "" : "-") + sort.key, status: ui.status, q: ui.filter.trim() });
      let rows = await api(OURS + "trials?" + query, { answer });
      let total = Number(answer.headers.get("X-Total-Count"));
      if (!rows.length && total && ui.page["trials-table"]) {      // the page went away (fewer rows now): go to the last
        ui.page["trials-table"] = Math.floor((total - 1) / PAGE);
        query.set("offset", String(ui.page["trials-table"] * PAGE));
        rows = await api(OURS + "trials?" + query, { answer });
        total = Number(answer.headers.get("X-Total-Count"));
      }
      const all = Number(answer.headers.get("X-Trials-Count"));
      retryAll.hidden = readonly();
      const keys = JSON.parse(answer.headers.get("X-Metric-Keys") || "[]");
      const key = picker.update(keys.length ? keys : ["default"]);
      ui.columns = ui.columns.filter(k => keys.includes(k) && k !== key);
      swap(chooser, columnChooser(keys));
      count.textContent = `${total} of ${all} trials`;
      const ids = Array.from(ui.selected);
      swap(selection, h("div", { class: "toolbar" },
        h("span", { class: "muted", id: "selected-count", text: ids.length ? `${ids.length} selected` : "Select trials to compare or export them" }),
        h("button", { class: "btn", id: "compare-btn", disabled: ids.length < 2, data: { fk: "compare" },
          onclick: () => { location.hash = "#/compare/" + ids.map(encodeURIComponent).join(","); },
          text: "Compare" }),
        ["csv", "json"].map(kind => h("a", { class: "btn", id: "export-" + kind, href: exportHref(kind, ids),
          download: "", data: { fk: "export-" + kind }, title: "Succeeded trials only; import the JSON with `nni-remote experiment import`",
          text: `Export ${ids.length ? "selected" : "all"} ${kind.toUpperCase()}` })),
        ids.length ? h("button", { class: "btn", id: "clear-selection", data: { fk: "clear" },
          onclick: () => { ui.selected.clear(); refreshNow(); }, text: "Clear" }) : null));
      const metricCol = k => ({ key: "metric:" + k, label: k, cls: "num",
        sort: t => { const v = metricOf(t.finalMetric, k); return v === null ? null : sign * v; },
        cell: t => fmtValue(metricOf(t.finalMetric, k)) });
      const allPicked = rows.length > 0 && rows.every(t => ui.selected.has(t.trialJobId));
      const pickAll = h("input", { type: "checkbox", "aria-label": "Select every trial shown", data: { fk: "sel:*" },
        checked: allPicked, onchange: ev => {
          for (const t of rows) { if (ev.target.checked) ui.selected.add(t.trialJobId); else ui.selected.delete(t.trialJobId); }
          refreshNow();
        } });
      swap(holder, rows.length ? table("trials-table", [
        { key: "select", label: "Select", sortable: false, head: pickAll, cell: selectBox, cls: "pick" },
        { key: "trialJobId", label: "ID", cell: t => trialLink(t.trialJobId) },
        { key: "sequenceId", label: "#", cls: "num" },
        { key: "status", label: "Status", cell: t => badge(t.status) },
        { key: "parameters", label: "Parameters", sort: t => fmtParams(t.parameters),
          cell: t => h("span", { class: "params", title: fmtParams(t.parameters), text: fmtParams(t.parameters) }) },
        metricCol(key), ui.columns.map(metricCol),
        { key: "duration", label: "Duration", cls: "num", cell: t => fmtDuration(t.duration) },
        { key: "machine", label: "Machine", cls: "wide", cell: t => t.machine || "" },
        { key: "gpus", label: "GPUs", cls: "wide", sort: t => (t.gpus || []).join(","),
          cell: t => (t.gpus && t.gpus.length ? t.gpus.join(",") : "") },
        { key: "message", label: "Message", cell: t => h("span", { class: "msg", title: t.message || "", text: t.message || "" }) },
        { key: "actions", label: "Actions", sortable: false, hideLabel: true, cell: trialActions },
      ].flat(), rows, { sort: { key: "sequenceId", dir: 1 }, rowData: t => ({ trial: t.trialJobId, status: t.status }),
        pageSize: PAGE, total })
        : empty(all ? "No trial matches the filter." : "No trials yet."));
    };
  };

  function intermediateKeys(t) {
    return metricKeys(t.intermediate.map(p => p.value).concat(t.finalMetric === null ? [] : [t.finalMetric]));
  }

  pages.trial = function (root, id) {
    const title = h("h1", null, "Trial ", h("code", { text: id }), " ");
    const statusHolder = h("span");
    const actions = h("span", { class: "actions" });
    const info = h("div");
    const params = h("pre", { class: "code scroll", tabindex: "0", "aria-label": "Parameters" });
    const picker = keyPicker();
    const chartEl = h("div", { class: "chart", id: "intermediate-chart" });
    const files = h("div");
    const tabHolder = h("div");
    const meta = h("div", { class: "muted" });
    const follow = h("input", { type: "checkbox", id: "log-follow", checked: ui.follow,
      onchange: () => { ui.follow = follow.checked; } });
    const log = h("pre", { class: "log", id: "log-view", tabindex: "0", role: "tabpanel", "aria-label": "Log" });
    title.append(statusHolder, actions);
    root.append(h("div", { class: "title-row" }, h("a", { href: "#/trials", text: "← Trials" }), title),
      h("div", { class: "two" }, section("Details", info), section("Parameters", params)),
      section("Intermediate results", h("div", { class: "toolbar" }, picker.el), chartEl),
      section("Files", files),
      section("Logs", h("div", { class: "toolbar" }, tabHolder, h("label", { class: "muted" }, follow, " follow")), meta, log));
    let lastLogKey = null;
    let ended = false;
    return async function () {
      const t = await api(OURS + "trials/" + encodeURIComponent(id));
      replace(statusHolder, badge(t.status));
      swap(actions, h("span", null, trialActions(t)));
      const key = picker.update(intermediateKeys(t));
      const finals = t.finalMetric && typeof t.finalMetric === "object"
        ? Object.entries(t.finalMetric).map(([k, v]) => [`Final metric (${k})`, v])
        : [["Final metric", t.finalMetric]];
      const rows = [
        ["Sequence", t.sequenceId], ["Status", t.status], ["Machine", t.machine || "—"],
        ["GPUs", t.gpus && t.gpus.length ? t.gpus.join(", ") : "—"], ["Submitted", fmtTime(t.submitTime)],
        ["Started", fmtTime(t.startTime)], ["Ended", fmtTime(t.endTime)], ["Duration", fmtDuration(t.duration)],
        ...finals, ["Attempt", t.attempt + 1], ["Exit code", fmtValue(t.exitCode)],
        ["Source", t.parameterSource], ["Message", t.message || "—"],
        ["Files", t.logPath || "not started"],
      ];
      swap(info, h("table", { class: "kv", id: "trial-info" }, h("tbody", null,
        rows.map(([k, v]) => h("tr", null, h("th", { scope: "row", text: k }), h("td", { text: fmtValue(v) }))))));
      const ptext = JSON.stringify(t.parameters, null, 2);
      if (params.textContent !== ptext) params.textContent = ptext;
      const points = curve(t.intermediate.map(p => [p.sequence, metricOf(p.value, key)]).filter(p => p[1] !== null));
      if (points.length) {
        chart(chartEl, [{ type: "scatter", mode: curveMode(points), x: points.map(p => p[0]),
          y: points.map(p => p[1]), name: id, line: { color: "#2563eb" } }],
        { height: 280, xaxis: stepAxis(points.map(p => p[0])), yaxis: { title: { text: plotlyText(key) } } });
      } else {
        delete chartEl.dataset.sig;
        replace(chartEl, empty(ACTIVE.includes(t.status) ? "No intermediate results yet." : `No intermediate "${key}" results.`));
      }
      let listing = { files: [] };
      if (t.machine) {
        listing = await api(OURS + "trials/" + encodeURIComponent(id) + "/files");
      }
      const names = listing.files.map(f => f.name);
      swap(files, listing.files.length ? h("div", null,
        h("p", { class: "muted", text: (listing.machine ? "on " + listing.machine + " in " : "in ") + (listing.directory || "") }),
        h("ul", { class: "files" }, listing.files.map(f => h("li", null,
          h("button", { class: "linkish", data: { file: f.name, fk: "file:" + f.name }, onclick: () => { ui.logFile[id] = f.name; refreshNow(); }, text: f.name }),
          f.size === null || f.size === undefined ? "" : h("span", { class: "muted", text: " " + fmtBytes(f.size) }),
          " ", h("a", { href: NNI + "trial-file/" + encodeURIComponent(id) + "/" + encodeURIComponent(f.name),
            target: "_blank", rel: "noopener", "aria-label": "open " + f.name, text: "open" })))))
        : empty(t.machine ? "No files yet." : "The trial has not started: it has no files yet."));
      const standard = ["trial.stdout", "trial.stderr", "trial.log"];
      const choice = ui.logFile[id] || "trial.stdout";
      const shown = standard.concat(standard.includes(choice) ? [] : [choice]);
      swap(tabHolder, tabs("Log files", shown, choice, n => { ui.logFile[id] = n; refreshNow(); }, n => n.replace(/^trial\./, "")));
      const active = ACTIVE.includes(t.status);
      const logKey = choice + "|" + t.status;
      if (!t.machine) {
        log.textContent = "";
        meta.textContent = "waiting for the trial to start";
      } else if (!names.includes(choice) && listing.listed !== false) {
        log.textContent = "";
        meta.textContent = `${choice} does not exist (yet)`;
      } else if (active || logKey !== lastLogKey || !ended) {
        const tail = await api(OURS + "trials/" + encodeURIComponent(id) + "/tail/" + encodeURIComponent(choice) + "?bytes=65536");
        const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
        log.textContent = tail.text || (tail.exists === false ? "" : `${choice} is empty.`);
        meta.textContent = tail.exists === false ? `${choice} does not exist (yet)` :
          `${fmtBytes(tail.size)}` + (tail.truncated ? " — showing the last 64 KiB" : "") + (active ? " — live" : "");
        if (ui.follow && (atBottom || logKey !== lastLogKey)) log.scrollTop = log.scrollHeight;
        ended = !active;
      }
      lastLogKey = logKey;
    };
  };

  // Compare: the intermediate curves of the chosen trials overlaid, and their parameters side by side.
  pages.compare = function (root, arg) {
    const ids = (arg || "").split(",").filter(Boolean);
    const picker = keyPicker();
    const chartEl = h("div", { class: "chart", id: "compare-chart" });
    const diff = h("div", { class: "table-wrap" });
    root.append(h("div", { class: "title-row" }, h("a", { href: "#/trials", text: "← Trials" }),
      h("h1", { text: `Compare ${ids.length} trials` })),
    section("Intermediate results", h("div", { class: "toolbar" }, picker.el), chartEl),
    section("Parameters and metrics", h("p", { class: "hint", text: "Rows whose values differ are highlighted and marked “differs”." }), diff));
    return async function () {
      if (!ids.length) { replace(diff, empty("Select trials on the Trials page, then Compare.")); return; }
      const trials = await Promise.all(ids.map(id => api(OURS + "trials/" + encodeURIComponent(id))));
      const key = picker.update(metricKeys(trials.flatMap(t => t.intermediate.map(p => p.value)
        .concat(t.finalMetric === null ? [] : [t.finalMetric]))));
      const traces = trials.map(t => {
        const pts = curve(t.intermediate.map(p => [p.sequence, metricOf(p.value, key)]).filter(p => p[1] !== null));
        return { type: "scatter", mode: curveMode(pts), name: t.trialJobId, x: pts.map(p => p[0]), y: pts.map(p => p[1]) };
      }).filter(tr => tr.x.length);
      if (traces.length) {
        chart(chartEl, traces, { height: 320, showlegend: true, legend: { orientation: "h", y: 1.12 },
          xaxis: stepAxis(traces.flatMap(tr => tr.x)), yaxis: { title: { text: plotlyText(key) } } });
      } else {
        delete chartEl.dataset.sig;
        replace(chartEl, empty(`None of these trials reported intermediate "${key}" results.`));
      }
      const names = Array.from(new Set(trials.flatMap(t => Object.keys(t.parameters || {})))).sort();
      const keys = metricKeys(trials.map(t => t.finalMetric).filter(v => v !== null && v !== undefined));
      const rows = names.map(n => [n, trials.map(t => fmtValue((t.parameters || {})[n]))])
        .concat(keys.map(k => [`metric: ${k}`, trials.map(t => fmtValue(metricOf(t.finalMetric, k)))]))
        .concat([["status", trials.map(t => t.status)], ["duration", trials.map(t => fmtDuration(t.duration))]]);
      swap(diff, h("table", { class: "grid", id: "compare-table" },
        h("thead", null, h("tr", null, h("th", { scope: "col", text: "Name" }),
          trials.map(t => h("th", { scope: "col" }, trialLink(t.trialJobId))))),
        h("tbody", null, rows.map(([name, values]) => {
          const differs = new Set(values).size > 1;
          return h("tr", { class: differs ? "diff" : null, data: { name } },
            h("th", { scope: "row" }, name, differs ? h("span", { class: "differs", text: " differs" }) : null),
            values.map(v => h("td", { text: v })));
        }))));
    };
  };
})();
