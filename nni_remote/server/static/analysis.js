/* nni-remote portal: Hyper-parameters (SVG parallel coordinates), Metrics and Importance. */
"use strict";
(function () {
  const { h, replace, swap, api, fmtValue, empty, section, chart, plotlyText, stepAxis, keyPicker, metricOf,
    metricKeys, refreshNow, ui, pages, OURS } = window.NR;
  const maximize = () => { const o = window.NR.overview(); return !o || o.optimizeMode === "maximize"; };
  const TOP_CHOICES = [100, 50, 20, 10, 5];

  function finalKeys(trials) {
    return metricKeys(trials.map(t => t.finalMetric).filter(v => v !== null && v !== undefined));
  }

  // One axis per parameter: numbers on a linear (or, for loguniform, log) scale, anything else as categories.
  function dimension(name, values, space) {
    const numeric = values.every(v => typeof v === "number" && isFinite(v));
    const type = space && space[name] && space[name]._type;
    if (numeric && type !== "choice") return { dim: { name, kind: "num", log: /loguniform/.test(type || "") }, values };
    const shown = values.map(v => (v === undefined ? "—" : fmtValue(v)));
    const cats = Array.from(new Set(shown));
    if (numeric) cats.sort((a, b) => Number(a) - Number(b)); else cats.sort();
    return { dim: { name, kind: "cat", cats }, values: shown };
  }

  pages.params = function (root) {
    const picker = keyPicker();
    const top = h("select", { id: "top-pct", "aria-label": "Show the top trials",
      onchange: () => { ui.topPct = Number(top.value); refreshNow(); } },
    TOP_CHOICES.map(p => h("option", { value: p, text: p === 100 ? "All trials" : `Top ${p} %` })));
    top.value = String(ui.topPct);
    const clear = h("button", { class: "btn", id: "clear-brush", type: "button", text: "Clear axis filters",
      onclick: () => { ui.brush = {}; const el = document.getElementById("parcoords-chart"); delete el.dataset.sig; refreshNow(); } });
    const note = h("p", { class: "hint", id: "parcoords-note", "aria-live": "polite" });
    const chartEl = h("div", { class: "chart tall pc-holder", id: "parcoords-chart" });
    root.append(section("Hyper-parameters", h("div", { class: "toolbar" }, picker.el, top, clear), note, chartEl));
    let space = null;
    return async function () {
      if (space === null) space = ((await api(OURS + "insights/config")).searchSpace) || {};
      const all = await api(OURS + "trials");
      const key = picker.update(finalKeys(all));
      const trials = all.filter(t => t.parameters && typeof t.parameters === "object" &&
        metricOf(t.finalMetric, key) !== null);
      if (!trials.length) {
        note.textContent = "";
        delete chartEl.dataset.sig;
        replace(chartEl, empty(`No trial has reported a final "${key}" yet.`));
        return;
      }
      const maxi = maximize();
      const ranked = trials.slice().sort((a, b) => (metricOf(b.finalMetric, key) - metricOf(a.finalMetric, key)) * (maxi ? 1 : -1));
      const shown = ranked.slice(0, Math.max(1, Math.ceil(ranked.length * ui.topPct / 100)));
      shown.sort((a, b) => a.sequenceId - b.sequenceId);
      const names = Array.from(new Set(shown.flatMap(t => Object.keys(t.parameters)))).sort();
      const columns = names.map(n => dimension(n, shown.map(t => t.parameters[n]), space));
      const metric = shown.map(t => metricOf(t.finalMetric, key));
      columns.push({ dim: { name: key, kind: "num" }, values: metric });
      const lo = Math.min(...metric), hi = Math.max(...metric);
      const good = v => (hi === lo ? 0.5 : (maxi ? (v - lo) / (hi - lo) : (hi - v) / (hi - lo)));
      const describe = (matching) => {
        note.textContent = `${shown.length} of ${trials.length} trials with a final "${key}"` +
          (ui.topPct < 100 ? ` (top ${ui.topPct} %)` : "") + (matching < shown.length ? `; ${matching} inside the axis filters` : "") +
          ". Colour: yellow is best. Drag along an axis to filter; click an axis to clear it; click a line to open its trial.";
      };
      window.NRParcoords.draw(chartEl, {
        dims: columns.map(c => c.dim),
        rows: shown.map((t, i) => ({ id: t.trialJobId, values: columns.map(c => c.values[i]), color: good(metric[i]) })),
        brush: ui.brush, onBrush: (_, matching) => describe(matching),
        onOpen: id => { location.hash = "#/trial/" + encodeURIComponent(id); },
      });
    };
  };

  pages.metrics = function (root) {
    const picker = keyPicker();
    const cache = {};   // trial id -> its detail, fetched again only when it has more intermediate results
    const finalEl = h("div", { class: "chart", id: "final-chart" });
    const durEl = h("div", { class: "chart", id: "duration-chart" });
    const interEl = h("div", { class: "chart", id: "intermediate-all-chart" });
    root.append(h("div", { class: "toolbar" }, picker.el), section("Final metric per trial", finalEl),
      section("Trial duration", durEl), section("Intermediate results (latest 60 trials)", interEl));
    return async function () {
      const trials = await api(OURS + "trials");
      const key = picker.update(finalKeys(trials));
      const done = trials.filter(t => metricOf(t.finalMetric, key) !== null).sort((a, b) => a.sequenceId - b.sequenceId);
      const maxi = maximize();
      if (done.length) {
        let best = null;
        const values = done.map(t => metricOf(t.finalMetric, key));
        const bestLine = values.map(v => { best = best === null ? v : (maxi ? Math.max(best, v) : Math.min(best, v)); return best; });
        chart(finalEl, [
          { type: "scatter", mode: "markers", name: key, x: done.map(t => t.sequenceId), y: values,
            text: done.map(t => t.trialJobId), marker: { color: "#2563eb", size: 8 } },
          { type: "scatter", mode: "lines", name: "best so far", x: done.map(t => t.sequenceId), y: bestLine,
            line: { shape: "hv", color: "#15803d", width: 2 } }],
        { height: 320, showlegend: true, legend: { orientation: "h", y: 1.1 },
          xaxis: { title: { text: "trial sequence" } }, yaxis: { title: { text: plotlyText(key) } } });
      } else {
        delete finalEl.dataset.sig;
        replace(finalEl, empty(`No final "${key}" results yet.`));
      }
      const timed = trials.filter(t => t.duration !== null).sort((a, b) => a.sequenceId - b.sequenceId);
      if (timed.length) {
        const colors = { SUCCEEDED: "#16a34a", FAILED: "#dc2626", RUNNING: "#2563eb" };
        chart(durEl, [{ type: "bar", x: timed.map(t => t.sequenceId), y: timed.map(t => t.duration),
          hovertext: timed.map(t => t.trialJobId + " " + t.status), textposition: "none", marker: { color: timed.map(t => colors[t.status] || "#6b7280") } }],
        { height: 280, xaxis: { title: { text: "trial sequence" } }, yaxis: { title: { text: "seconds" } } });
      } else if (!durEl.dataset.sig) replace(durEl, empty("No trial has started yet."));
      const latest = trials.filter(t => t.intermediateCount > 0).slice(-60);
      const details = await Promise.all(latest.map(async t => {
        const hit = cache[t.trialJobId];
        if (hit && hit.intermediate.length === t.intermediateCount) return hit;
        return (cache[t.trialJobId] = await api(OURS + "trials/" + encodeURIComponent(t.trialJobId)));
      }));
      const curves = details.map(d => ({ id: d.trialJobId,
        pts: d.intermediate.map(p => [p.sequence, metricOf(p.value, key)]).filter(p => p[1] !== null) }))
        .filter(c => c.pts.length);
      if (curves.length) {
        chart(interEl, curves.map(c => ({ type: "scatter", mode: "lines", name: c.id, x: c.pts.map(p => p[0]),
          y: c.pts.map(p => p[1]), line: { width: 1.5 } })),
        { height: 320, xaxis: stepAxis(curves.flatMap(c => c.pts.map(p => p[0]))),
          yaxis: { title: { text: plotlyText("intermediate " + key) } } });
      } else {
        delete interEl.dataset.sig;
        replace(interEl, empty(`No intermediate "${key}" results yet.`));
      }
    };
  };

  pages.importance = function (root) {
    const picker = keyPicker();
    const msg = h("p", { class: "hint", id: "importance-msg", "aria-live": "polite" });
    const barEl = h("div", { class: "chart", id: "importance-chart" });
    const slices = h("div", { class: "slices", id: "slice-charts" });
    root.append(h("div", { class: "toolbar" }, picker.el),
      section("Hyper-parameter importance", msg, barEl),
      section("Slices: the metric against each parameter", slices));
    return async function () {
      const sum = await api(OURS + "insights/summary?key=" + encodeURIComponent(ui.key));
      const key = picker.update(sum.keys);
      const r = await api(OURS + "insights/importance?key=" + encodeURIComponent(key));
      msg.textContent = r.status === "ok"
        ? `${r.trials} finished trials; ${r.method}: the share of the metric's variation among the best trials each parameter explains.` +
          (r.stale ? " Updating…" : "")
        : r.message;
      msg.dataset.status = r.status;
      msg.className = r.status === "ok" ? "hint" : "notice";
      barEl.hidden = !r.importances.length;
      if (r.importances.length) {
        const imp = r.importances.slice().reverse();
        chart(barEl, [{ type: "bar", orientation: "h", x: imp.map(p => p.importance), y: imp.map(p => plotlyText(p.name)),
          marker: { color: "#2563eb" }, hovertemplate: "%{y}: %{x:.3f}<extra></extra>" }],
        { height: Math.max(160, 40 + 34 * imp.length), margin: { l: 120, r: 20, t: 10, b: 40 },
          xaxis: { title: { text: "importance" }, rangemode: "tozero" } });
      } else {
        delete barEl.dataset.sig;
        replace(barEl);
      }
      const order = r.importances.map(p => p.name);
      const names = Object.keys(r.slices).sort((a, b) => (order.indexOf(a) + 1 || 1e9) - (order.indexOf(b) + 1 || 1e9));
      if (!names.length) { replace(slices, empty("No slices yet.")); return; }
      const wanted = names.slice(0, 12).map((n, i) => "slice-" + i);
      const current = Array.from(slices.children).map(c => c.id);
      if (current.join() !== wanted.join()) {
        replace(slices, wanted.map(id => h("div", { class: "slice" }, h("div", { class: "chart", id }))));
      }
      names.slice(0, 12).forEach((n, i) => {
        const s = r.slices[n];
        chart(document.getElementById("slice-" + i), [{ type: "scatter", mode: "markers", x: s.x, y: s.y,
          marker: { color: "#2563eb", size: 7, opacity: 0.75 }, hovertemplate: "%{x}: %{y}<extra></extra>" }],
        { height: 240, margin: { l: 55, r: 10, t: 30, b: 40 },
          title: { text: plotlyText(n), font: { size: 13 }, x: 0.02 },
          xaxis: { type: s.numeric ? "linear" : "category", title: { text: plotlyText(n) } },
          yaxis: { title: { text: plotlyText(key) } } });
      });
    };
  };
})();
