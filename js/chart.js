// A small SVG line chart for metrics (no chart library): one line per series, optional points,
// epoch boundaries, axes with round ticks, and a legend. Text via textContent only.

import { s } from "./dom.js";

/**
 * @typedef {object} Series
 * @property {string} name
 * @property {[number, number][]} points (x, y) pairs.
 * @property {boolean} [dots] Draw points instead of a line.
 */

const COLORS = ["#2f6fd0", "#d0632f", "#3a8a3a", "#8a3a8a", "#b08a00", "#2f9fb0", "#c0392b", "#555555"];

/**
 * Round tick values covering [lo, hi].
 * @param {number} lo
 * @param {number} hi
 * @param {number} count
 * @returns {number[]}
 */
export function ticks(lo, hi, count = 5) {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi === lo) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((f) => f * mag).find((st) => raw <= st) || 10 * mag;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/**
 * Draws series into a new <svg>.
 * @param {Series[]} series
 * @param {{width: number, height: number, epochs?: number[], xLabel?: string}} options
 * @returns {SVGSVGElement}
 */
export function lineChart(series, options) {
  const { width, height } = options;
  const m = { top: 24, right: 16, bottom: 34, left: 48 };
  const svg = /** @type {SVGSVGElement} */ (s("svg", { class: "afnio-chart", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "metrics chart" }));
  const all = series.flatMap((se) => se.points);
  if (!all.length) {
    svg.append(s("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "afnio-muted", text: "No metrics yet." }));
    return svg;
  }
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (x0 === x1) x1 = x0 + 1;
  if (y0 === y1) {
    y0 -= 0.5;
    y1 += 0.5;
  }
  const pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  const px = (/** @type {number} */ x) => m.left + ((x - x0) / (x1 - x0)) * (width - m.left - m.right);
  const py = (/** @type {number} */ y) => height - m.bottom - ((y - y0) / (y1 - y0)) * (height - m.top - m.bottom);
  const axes = s("g", { class: "afnio-axes" });
  for (const t of ticks(y0, y1, 4)) {
    axes.append(s("line", { x1: m.left, x2: width - m.right, y1: py(t), y2: py(t), class: "afnio-grid" }));
    axes.append(s("text", { x: m.left - 6, y: py(t) + 3.5, "text-anchor": "end", text: String(Number(t.toPrecision(4))) }));
  }
  for (const t of ticks(x0, x1, 6).filter((t) => Number.isInteger(t))) {
    axes.append(s("text", { x: px(t), y: height - m.bottom + 14, "text-anchor": "middle", text: String(t) }));
  }
  axes.append(s("text", { x: (m.left + width - m.right) / 2, y: height - 4, "text-anchor": "middle", class: "afnio-axis-label", text: options.xLabel || "step" }));
  svg.append(axes);
  for (const e of options.epochs || []) {
    if (e > x0 && e < x1) svg.append(s("line", { class: "afnio-epoch", x1: px(e), x2: px(e), y1: m.top, y2: height - m.bottom }));
  }
  series.forEach((se, i) => {
    const color = COLORS[i % COLORS.length];
    const g = s("g", { class: "afnio-series", "data-name": se.name });
    if (se.dots || se.points.length === 1) {
      for (const p of se.points) g.append(s("circle", { cx: px(p[0]), cy: py(p[1]), r: 3.5, fill: color }));
    } else {
      const points = se.points.map((p) => `${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join(" ");
      g.append(s("polyline", { points, fill: "none", stroke: color, "stroke-width": 2 }));
    }
    svg.append(g);
  });
  const legend = s("g", { class: "afnio-legend" });
  let lx = m.left + 4;
  series.forEach((se, i) => {
    legend.append(s("rect", { x: lx, y: 4, width: 10, height: 10, fill: COLORS[i % COLORS.length] }));
    legend.append(s("text", { x: lx + 14, y: 13, text: se.name }));
    lx += 24 + se.name.length * 6.5;
  });
  svg.append(legend);
  return svg;
}

// afnio's losses are scores (an evaluator's verdict, higher is better), unlike PyTorch's.
const HIGHER = /(^|[^a-z])(loss|score|acc|accuracy|reward|f1|precision|recall|exact|match|pass|success)/i;
const LOWER = /(^|[^a-z])(error|err|cost|latency|tokens|time|seconds|usd|rejects?|fail)/i;

/**
 * Which way a metric improves, from its name: "higher" (afnio's loss, scores, accuracy),
 * "lower" (errors, cost, latency, tokens), or null when the name does not say.
 * @param {string} name
 * @returns {"higher" | "lower" | null}
 */
export function metricDirection(name) {
  if (LOWER.test(name)) return "lower";
  if (HIGHER.test(name)) return "higher";
  return null;
}

/**
 * A chart caption that says which direction is better: "loss (higher is better)".
 * @param {string} name
 */
export function metricCaption(name) {
  const direction = metricDirection(name);
  return direction ? `${name} (${direction} is better)` : name;
}
