/* nni-remote portal: the Overview (budget, best so far, top trials, settings, config), Machines, Experiments. */
"use strict";
(function () {
  const { h, replace, swap, api, toast, badge, fmtDuration, fmtTime, fmtAgo, fmtValue, fmtParams, trialLink, section,
    empty, chart, plotlyText, table, keyPicker, readonly, refreshNow, ui, pages, NNI, OURS } = window.NR;

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

  pages.overview = function (root) {
    const cards = h("div", { class: "cards" });
    const settings = h("div", { class: "settings" });
    const errors = h("div");
    const best = h("div", { class: "table-wrap" });
    const stats = h("div", { class: "chips" });
    const picker = keyPicker();
    const bestChart = h("div", { class: "chart", id: "best-chart" });
    const config = h("pre", { class: "code scroll", id: "config-view", tabindex: "0", "aria-label": "Experiment config" });
    const space = h("pre", { class: "code scroll", id: "space-view", tabindex: "0", "aria-label": "Search space" });
    const inputs = {};
    for (const [field, spec] of Object.entries(UPDATES)) {
      const input = h("input", { id: "set-" + field, name: field, type: field === "maxExperimentDuration" ? "text" : "number",
        min: 1, oninput: () => { input.dataset.dirty = "1"; },
        onkeydown: ev => { if (ev.key === "Enter") saveSetting(field, input); } });
      inputs[field] = input;
      settings.appendChild(h("label", { class: "setting" }, h("span", { text: spec.label }), input,
        h("button", { class: "btn", id: "save-" + field, onclick: () => saveSetting(field, input), text: "Save" })));
    }
    root.append(h("div", { class: "cards-wrap" }, cards),
      h("div", { class: "toolbar" }, picker.el),
      h("div", { class: "two" }, section("Best metric so far", bestChart), section("Top trials", best)),
      section("Settings", settings,
        h("p", { class: "hint", text: "Changes apply at once (PUT /api/v1/nni/experiment). Durations take units: 90s, 30m, 2h, 1d." })),
      section("Errors", errors), section("Trials by status", stats),
      h("div", { class: "two" }, section("Config (read-only)", config), section("Search space", space)));
    let shown = null;   // the summary drawn last

    return async function () {
      const o = window.NR.overview();
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
      const [sum, cfg] = await Promise.all([api(OURS + "insights/summary?key=" + encodeURIComponent(ui.key)),
        api(OURS + "insights/config")]);
      const key = picker.update(sum.keys);
      if (key !== sum.key) return refreshNow();
      const cfgText = JSON.stringify(cfg.config, null, 2), spaceText = JSON.stringify(cfg.searchSpace, null, 2);
      if (config.textContent !== cfgText) config.textContent = cfgText;
      if (space.textContent !== spaceText) space.textContent = spaceText;
      replace(stats, Object.keys(o.trialCounts).length ? Object.entries(o.trialCounts).map(([s, n]) =>
        h("span", { class: "chip" }, badge(s), " ", String(n))) : empty("No trials yet."));
      if (sum === shown) return;   // the same answer as drawn (a 304 gives back the kept object)
      shown = sum;
      swap(best, sum.top.length ? table("best-table", [
        { key: "rank", label: "#", sort: r => r.rank, cls: "num" },
        { key: "trialJobId", label: "Trial", cell: r => trialLink(r.trialJobId) },
        { key: "value", label: key, cell: r => fmtValue(r.value), cls: "num" },
        { key: "parameters", label: "Parameters", sort: r => fmtParams(r.parameters),
          cell: r => h("span", { class: "params", title: fmtParams(r.parameters), text: fmtParams(r.parameters) }) },
      ], sum.top.map((b, i) => Object.assign({ rank: i + 1 }, b)), { sort: { key: "rank", dir: 1 },
        rowData: r => ({ trial: r.trialJobId }) })
        : empty(sum.finished ? `No finished trial reported "${key}".` : "No trial has reported a final result yet."));
      if (sum.progress.length) {
        const pts = sum.progress;
        chart(bestChart, [
          { type: "scatter", mode: "markers", name: key, x: pts.map(p => p.sequenceId), y: pts.map(p => p.value),
            text: pts.map(p => p.trialJobId), marker: { color: "#93c5fd", size: 7 } },
          { type: "scatter", mode: "lines", name: "best so far", x: pts.map(p => p.sequenceId), y: pts.map(p => p.best),
            line: { shape: "hv", color: "#15803d", width: 2.5 } }],
        { height: 300, showlegend: true, legend: { orientation: "h", y: 1.12 },
          xaxis: { title: { text: "trial sequence" } }, yaxis: { title: { text: plotlyText(key) } } });
      } else if (!bestChart.dataset.sig) replace(bestChart, empty("No final results yet."));
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
})();
