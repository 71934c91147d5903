/* nni-remote portal: Hyper-parameters (SVG parallel coordinates), Metrics and Importance. */
"use strict";
(function () {
  const { h, replace, swap, api, fmtValue, empty, section, chart, plotlyText, stepAxis, keyPicker, metricOf,
    metricKeys, refreshNow, ui, pages, OURS } = window.NR;
  const maximize = () => { const o = window.NR.overview(); return !o || o.optimizeMode === "maximize"; };
  const TOP_CHOICES = [100, 50, 20, 10, 5];
  const LINES = 1000;
  const POINTS = 500;   // most points per series on the Metrics page
  const CURVES = 60;    // intermediate curves of the latest trials
  const CURVE_POINTS = 100;   // most points per curve
  // Let the browser paint and handle input between two charts (each is one long task otherwise).
  const idle = () => new Promise(r => setTimeout(r, 0));   // most lines the parallel coordinates draw (SVG paths: more make the page sluggish)

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
    let drawn = null;
    return async function () {
      if (space === null) space = ((await api(OURS + "insights/config")).searchSpace) || {};
      // The server ranks, cuts to the top % and samples (server/series.py): at most LINES lines, the best always in.
      const r = await api(OURS + "insights/params?" + new URLSearchParams({ key: ui.key, top: String(ui.topPct),
        limit: String(LINES) }));
      const key = picker.update(r.keys);
      if (key !== r.key) return refreshNow();
      if (r === drawn && chartEl.dataset.sig) return;   // the same answer as drawn (a 304 gives back the kept object)
      drawn = r;
      const shown = r.trials;
      if (!shown.length) {
        note.textContent = "";
        delete chartEl.dataset.sig;
        replace(chartEl, empty(`No trial has reported a final "${key}" yet.`));
        return;
      }
      const maxi = r.optimizeMode === "maximize";
      const names = Array.from(new Set(shown.flatMap(t => Object.keys(t.parameters)))).sort();
      const columns = names.map(n => dimension(n, shown.map(t => t.parameters[n]), space));
      const metric = shown.map(t => t.value);
      columns.push({ dim: { name: key, kind: "num" }, values: metric });
      const lo = Math.min(...metric), hi = Math.max(...metric);
      const good = v => (hi === lo ? 0.5 : (maxi ? (v - lo) / (hi - lo) : (hi - v) / (hi - lo)));
      const describe = (matching) => {
        note.textContent = `${shown.length} of ${r.withKey} trials with a final "${key}"` +
          (ui.topPct < 100 ? ` (top ${ui.topPct} %)` : "") +
          (shown.length < r.inTop ? ` (the best ${Math.floor(LINES / 4)} and an even sample of the other ${r.inTop - Math.floor(LINES / 4)})` : "") +
          (matching < shown.length ? `; ${matching} inside the axis filters` : "") +
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
    const finalEl = h("div", { class: "chart", id: "final-chart" });
    const durEl = h("div", { class: "chart", id: "duration-chart" });
    const interEl = h("div", { class: "chart", id: "intermediate-all-chart" });
    const finalNote = h("p", { class: "hint", id: "final-note" });
    const durNote = h("p", { class: "hint", id: "duration-note" });
    root.append(h("div", { class: "toolbar" }, picker.el), section("Final metric per trial", finalNote, finalEl),
      section("Trial duration", durNote, durEl), section(`Intermediate results (latest ${CURVES} trials)`, interEl));
    let drawn = null;
    const sampled = (shown, all, what) => (shown < all ? `${shown} of ${all} ${what} shown (evenly sampled, every new best kept).` : "");
    return async function () {
      // One answer, sampled by the server (server/series.py): at most POINTS points per series.
      const r = await api(OURS + "insights/metrics?" + new URLSearchParams({ key: ui.key, points: String(POINTS),
        curves: String(CURVES), curve_points: String(CURVE_POINTS) }));
      const key = picker.update(r.keys);
      if (key !== r.key) return refreshNow();
      if (r === drawn) return;   // the same answer as drawn (a 304 gives back the kept object)
      drawn = r;
      const done = r.final;
      finalNote.textContent = sampled(done.length, r.withKey, "trials");
      if (done.length) {
        chart(finalEl, [
          { type: "scatter", mode: "markers", name: key, x: done.map(t => t.sequenceId), y: done.map(t => t.value),
            text: done.map(t => t.trialJobId), marker: { color: "#2563eb", size: 8 } },
          { type: "scatter", mode: "lines", name: "best so far", x: done.map(t => t.sequenceId), y: done.map(t => t.best),
            line: { shape: "hv", color: "#15803d", width: 2 } }],
        { height: 320, showlegend: true, legend: { orientation: "h", y: 1.1 },
          xaxis: { title: { text: "trial sequence" } }, yaxis: { title: { text: plotlyText(key) } } });
      } else {
        delete finalEl.dataset.sig;
        replace(finalEl, empty(`No final "${key}" results yet.`));
      }
      await idle();
      const timed = r.durations;
      durNote.textContent = sampled(timed.length, r.timed, "trials");
      if (timed.length) {
        const colors = { SUCCEEDED: "#16a34a", FAILED: "#dc2626", RUNNING: "#2563eb" };
        chart(durEl, [{ type: "bar", x: timed.map(t => t.sequenceId), y: timed.map(t => t.duration),
          hovertext: timed.map(t => t.trialJobId + " " + t.status), textposition: "none", marker: { color: timed.map(t => colors[t.status] || "#6b7280") } }],
        { height: 280, xaxis: { title: { text: "trial sequence" } }, yaxis: { title: { text: "seconds" } } });
      } else if (!durEl.dataset.sig) replace(durEl, empty("No trial has started yet."));
      await idle();
      const curves = r.curves;
      if (curves.length) {
        chart(interEl, curves.map(c => ({ type: "scatter", mode: "lines", name: c.trialJobId, x: c.x,
          y: c.y, line: { width: 1.5 } })),
        { height: 320, xaxis: stepAxis(curves.flatMap(c => c.x)),
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
    let drawn = null;
    root.append(h("div", { class: "toolbar" }, picker.el),
      section("Hyper-parameter importance", msg, barEl),
      section("Slices: the metric against each parameter", slices));
    return async function () {
      const sum = await api(OURS + "insights/summary?key=" + encodeURIComponent(ui.key));
      const key = picker.update(sum.keys);
      const r = await api(OURS + "insights/importance?key=" + encodeURIComponent(key));
      if (r === drawn) return;   // the same answer as drawn (a 304 gives back the kept object)
      drawn = r;
      msg.textContent = r.status === "ok"
        ? `${r.trials} finished trials` + (r.ranked < r.trials ? ` (ranked on an even sample of ${r.ranked})` : "") +
          `; ${r.method}: the share of the metric's variation among the best trials each parameter explains.` +
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
      const current = Array.from(slices.children).map(c => (c.firstChild ? c.firstChild.id : ""));
      if (current.join() !== wanted.join()) {
        replace(slices, wanted.map(id => h("div", { class: "slice" }, h("div", { class: "chart", id }))));
      }
      for (const [i, n] of names.slice(0, 12).entries()) {
        await idle();   // one chart per task: the page stays responsive while a dozen charts draw
        const s = r.slices[n];
        const el = document.getElementById("slice-" + i);
        if (!el) return;   // the page changed meanwhile
        chart(el, [{ type: "scatter", mode: "markers", x: s.x, y: s.y,
          marker: { color: "#2563eb", size: 7, opacity: 0.75 }, hovertemplate: "%{x}: %{y}<extra></extra>" }],
        { height: 240, margin: { l: 55, r: 10, t: 30, b: 40 },
          title: { text: plotlyText(n), font: { size: 13 }, x: 0.02 },
          xaxis: { type: s.numeric ? "linear" : "category", title: { text: plotlyText(n) } },
          yaxis: { title: { text: plotlyText(key) } } });
      }
    };
  };
})();
