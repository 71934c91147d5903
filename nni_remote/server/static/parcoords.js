/* nni-remote portal: parallel coordinates drawn as plain SVG (no WebGL), with axis brushing.
 *
 * NRParcoords.draw(el, spec) where spec = {
 *   dims: [{name, kind: "num"|"cat", log, cats}],   // the last one is usually the metric
 *   rows: [{id, values: [...one per dim], color: 0..1}],
 *   brush: {dimName: [lo, hi]} (fractions of the axis, 0 = bottom), onBrush(brush, matching), onOpen(id) }
 * Drag along an axis to keep the lines that cross it there; click an axis to clear its brush.
 * Axes take the keyboard focus: Up/Down move a filter band, Escape clears it.
 * A line's <title> names its trial; clicking a line opens it.
 */
"use strict";
(function () {
  const NS = "http://www.w3.org/2000/svg";
  const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const M = { top: 34, bottom: 26, left: 70, right: 70 };
  const HEIGHT = 420;

  function svg(tag, attrs, text) {
    const el = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
    if (text !== undefined) el.textContent = String(text);
    return el;
  }

  function viridis(t) {
    const x = Math.min(1, Math.max(0, isFinite(t) ? t : 0.5)) * (VIRIDIS.length - 1);
    const i = Math.min(VIRIDIS.length - 2, Math.floor(x)), f = x - i;
    const c = VIRIDIS[i].map((a, k) => Math.round(a + (VIRIDIS[i + 1][k] - a) * f));
    return `rgb(${c[0]},${c[1]},${c[2]})`;
  }

  function fmt(v) {
    if (typeof v !== "number") return String(v);
    if (v !== 0 && (Math.abs(v) >= 1e5 || Math.abs(v) < 1e-3)) return v.toExponential(2);
    return String(Number(v.toPrecision(4)));
  }

  // A dimension's scale: value -> fraction of the axis (0 bottom, 1 top), and its ticks.
  function scale(dim, values) {
    if (dim.kind === "cat") {
      const cats = dim.cats;
      const at = v => (cats.length === 1 ? 0.5 : cats.indexOf(v) / (cats.length - 1));
      const every = Math.ceil(cats.length / 12);
      return { at, ticks: cats.filter((_, i) => i % every === 0).map(c => [at(c), c]) };
    }
    const nums = values.filter(v => typeof v === "number" && isFinite(v));
    const log = dim.log && nums.every(v => v > 0);
    const f = log ? Math.log10 : (v => v);
    const lo = Math.min(...nums.map(f)), hi = Math.max(...nums.map(f));
    const at = v => (hi === lo ? 0.5 : (f(v) - lo) / (hi - lo));
    const ticks = hi === lo ? [[0.5, nums[0]]] : [0, 0.25, 0.5, 0.75, 1].map(p => {
      const raw = lo + p * (hi - lo);
      return [p, log ? Math.pow(10, raw) : raw];
    });
    return { at, ticks };
  }

  function draw(el, spec) {
    const width = Math.max(320, el.clientWidth || 800);
    const sig = JSON.stringify([width, spec.dims, spec.rows]);
    if (el.dataset.sig === sig && el.firstChild) { applyBrush(el, spec); return; }
    el.dataset.sig = sig;
    while (el.firstChild) el.removeChild(el.firstChild);
    const n = spec.dims.length;
    const step = n > 1 ? (width - M.left - M.right) / (n - 1) : 0;
    const xs = spec.dims.map((_, j) => M.left + j * step);
    const ys = frac => M.top + (1 - frac) * (HEIGHT - M.top - M.bottom);
    const scales = spec.dims.map((d, j) => scale(d, spec.rows.map(r => r.values[j])));
    const root = svg("svg", { width, height: HEIGHT, viewBox: `0 0 ${width} ${HEIGHT}`, class: "pc", role: "img",
      "aria-label": `Parallel coordinates: ${spec.rows.length} trials over ${n} axes` });
    const lines = svg("g", { class: "pc-lines" });
    spec.rows.forEach(r => {
      const pts = r.values.map((v, j) => `${xs[j].toFixed(1)},${ys(scales[j].at(v)).toFixed(1)}`);
      const path = svg("path", { d: "M" + pts.join("L"), class: "pc-line", stroke: viridis(r.color), "data-trial": r.id });
      path.appendChild(svg("title", {}, r.id + ": " + spec.dims.map((d, j) => `${d.name}=${fmt(r.values[j])}`).join(", ")));
      if (spec.onOpen) path.addEventListener("click", () => spec.onOpen(r.id));
      lines.appendChild(path);
    });
    root.appendChild(lines);
    spec.dims.forEach((d, j) => root.appendChild(axis(el, spec, d, xs[j], ys, scales[j], j === n - 1)));
    el.appendChild(root);
    el._pc = { scales, ys };
    applyBrush(el, spec);
  }

  function axis(el, spec, dim, x, ys, sc, last) {
    const g = svg("g", { class: "pc-axis", "data-dim": dim.name, tabindex: 0, role: "group",
      "aria-label": `axis ${dim.name}: Up or Down moves a filter band along it, Escape clears it` });
    g.addEventListener("keydown", ev => keyBrush(el, spec, dim.name, ev));
    g.appendChild(svg("line", { x1: x, x2: x, y1: ys(0), y2: ys(1), class: "pc-axis-line" }));
    g.appendChild(svg("text", { x, y: M.top - 14, "text-anchor": "middle", class: "pc-label" }, dim.name));
    for (const [p, v] of sc.ticks) {
      g.appendChild(svg("line", { x1: x - 4, x2: x, y1: ys(p), y2: ys(p), class: "pc-tick" }));
      g.appendChild(svg("text", { x: last ? x + 7 : x - 7, y: ys(p) + 4, "text-anchor": last ? "start" : "end",
        class: "pc-tick-label" }, fmt(v)));
    }
    const band = svg("rect", { x: x - 6, width: 12, y: ys(1), height: 0, class: "pc-brush", visibility: "hidden" });
    const hit = svg("rect", { x: x - 14, width: 28, y: ys(1), height: ys(0) - ys(1), class: "pc-hit" });
    g.appendChild(band);
    g.appendChild(hit);
    let start = null;
    const fracAt = ev => {
      const box = el.querySelector("svg").getBoundingClientRect();
      const y = ev.clientY - box.top;
      return Math.min(1, Math.max(0, 1 - (y - M.top) / (HEIGHT - M.top - M.bottom)));
    };
    hit.addEventListener("pointerdown", ev => {
      start = fracAt(ev);
      hit.setPointerCapture(ev.pointerId);
      ev.preventDefault();
    });
    hit.addEventListener("pointermove", ev => {
      if (start === null) return;
      const now = fracAt(ev);
      spec.brush[dim.name] = [Math.min(start, now), Math.max(start, now)];
      applyBrush(el, spec, true);
    });
    hit.addEventListener("pointerup", ev => {
      if (start === null) return;
      const now = fracAt(ev);
      if (Math.abs(now - start) < 0.01) delete spec.brush[dim.name];
      else spec.brush[dim.name] = [Math.min(start, now), Math.max(start, now)];
      start = null;
      applyBrush(el, spec);
    });
    return g;
  }

  // Keyboard brushing: Up/Down moves a band of a quarter of the axis (made at the top first), Escape clears it.
  function keyBrush(el, spec, name, ev) {
    const b = spec.brush[name];
    if (ev.key === "Escape" || ev.key === "Delete" || ev.key === "Backspace") delete spec.brush[name];
    else if (ev.key === "ArrowUp" || ev.key === "ArrowDown") {
      const d = ev.key === "ArrowUp" ? 0.05 : -0.05;
      const lo = b ? Math.min(0.75, Math.max(0, b[0] + d)) : 0.75;
      spec.brush[name] = [lo, lo + 0.25];
    } else return;
    ev.preventDefault();
    applyBrush(el, spec);
  }

  // Grey out the lines outside any brush, and show the brushes.
  function applyBrush(el, spec, moving) {
    const state = el._pc;
    if (!state) return;
    let matching = 0;
    const paths = el.querySelectorAll("path.pc-line");
    spec.rows.forEach((r, i) => {
      const ok = spec.dims.every((d, j) => {
        const b = spec.brush[d.name];
        if (!b) return true;
        const f = state.scales[j].at(r.values[j]);
        return f >= b[0] - 1e-9 && f <= b[1] + 1e-9;
      });
      if (ok) matching += 1;
      if (paths[i]) paths[i].classList.toggle("off", !ok);
    });
    for (const g of el.querySelectorAll("g.pc-axis")) {
      const b = spec.brush[g.dataset.dim];
      const band = g.querySelector(".pc-brush");
      if (b) {
        band.setAttribute("y", state.ys(b[1]));
        band.setAttribute("height", Math.max(1, state.ys(b[0]) - state.ys(b[1])));
        band.setAttribute("visibility", "visible");
      } else band.setAttribute("visibility", "hidden");
    }
    el.dataset.matching = String(matching);
    if (spec.onBrush && !moving) spec.onBrush(spec.brush, matching);
  }

  window.NRParcoords = { draw, viridis };
})();
