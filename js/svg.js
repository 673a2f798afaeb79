// Drawing a laid-out graph as SVG elements. Labels are text nodes (textContent), never markup.

import { LINE_HEIGHT } from "./collapse.js";
import { s } from "./dom.js";
import { badgeWidth } from "./dot.js";

/** @typedef {import("./collapse.js").DrawGraph} DrawGraph */
/** @typedef {import("./collapse.js").DrawNode} DrawNode */
/** @typedef {import("./layout.js").Layout} Layout */

/**
 * Draws `draw` at the positions of `layout` into `root` (an SVG <g>), replacing its content.
 * Each node is a <g class="node …" data-id=…>; each edge a <g class="edge …" data-id=…>.
 * @param {SVGGElement} root
 * @param {DrawGraph} draw
 * @param {Layout} layout
 * @param {{selected: string}} state
 */
export function drawGraph(root, draw, layout, state) {
  const edgesLayer = s("g", { class: "afnio-edges" });
  const nodesLayer = s("g", { class: "afnio-nodes" });
  draw.edges.forEach((edge, i) => {
    const path = layout.edges.get(`x${i}`);
    if (!path) return;
    const classes = [...edge.classes];
    if (edge.id === state.selected) classes.push("selected");
    const g = s("g", { class: classes.join(" "), "data-id": edge.id, "data-source": edge.source, "data-target": edge.target });
    g.append(s("path", { class: "afnio-edge-hit", d: path.d }));
    g.append(s("path", { class: "afnio-edge-line", d: path.d }));
    if (path.tip && path.base) g.append(arrow(path.base, path.tip));
    // A badge is drawn where the layout kept room for it (Graphviz `dot`); without room (sfdp)
    // the gradient shows in the panel and the edge's tooltip only, never over other things.
    if (edge.badge && path.label) {
      const badge = s("g", { class: "afnio-badge", transform: `translate(${path.label[0].toFixed(1)},${path.label[1].toFixed(1)})` });
      const width = badgeWidth(edge.badge.length);
      badge.append(s("rect", { x: (-width / 2).toFixed(1), y: -7, width: width.toFixed(1), height: 14, rx: 7 }));
      badge.append(s("text", { x: 0, y: 3.5, "text-anchor": "middle", text: edge.badge }));
      g.append(badge);
    }
    const last = (edge.edge?.grad || []).at(-1);
    if (last) g.append(s("title", { text: `∇ ${last.preview ?? ""}` }));
    edgesLayer.append(g);
  });
  for (const node of draw.nodes) {
    const box = layout.nodes.get(node.id);
    if (!box) continue;
    nodesLayer.append(nodeElement(node, box, node.id === state.selected));
  }
  while (root.firstChild) root.removeChild(root.firstChild);
  root.append(edgesLayer, nodesLayer);
}

/**
 * @param {[number, number]} base
 * @param {[number, number]} tip
 */
function arrow(base, tip) {
  const dx = tip[0] - base[0];
  const dy = tip[1] - base[1];
  const len = Math.hypot(dx, dy) || 1;
  const nx = (-dy / len) * 3.5;
  const ny = (dx / len) * 3.5;
  const points = [tip, [base[0] + nx, base[1] + ny], [base[0] - nx, base[1] - ny]]
    .map((p) => `${p[0].toFixed(1)},${p[1].toFixed(1)}`)
    .join(" ");
  return s("polygon", { class: "afnio-arrow", points });
}

/**
 * @param {DrawNode} node
 * @param {import("./layout.js").NodeBox} box
 * @param {boolean} selected
 */
function nodeElement(node, box, selected) {
  const classes = ["node", ...node.classes];
  if (selected) classes.push("selected");
  const g = s("g", {
    class: classes.join(" "),
    "data-id": node.id,
    transform: `translate(${box.x.toFixed(1)},${box.y.toFixed(1)})`,
    tabindex: 0,
    role: "button",
  });
  const w = box.width;
  const h = box.height;
  const shape = node.kind === "function"
    ? s("rect", { class: "afnio-shape", x: -w / 2, y: -h / 2, width: w, height: h, rx: h / 2 })
    : s("rect", { class: "afnio-shape", x: -w / 2, y: -h / 2, width: w, height: h, rx: node.kind === "group" ? 2 : 5 });
  g.append(shape);
  const text = s("text", { class: "afnio-label", "text-anchor": "middle" });
  const top = -((node.lines.length - 1) * LINE_HEIGHT) / 2 + 4;
  node.lines.forEach((line, i) => {
    text.append(s("tspan", { x: 0, y: (top + i * LINE_HEIGHT).toFixed(1), class: `line-${i}`, text: line }));
  });
  g.append(text);
  if (node.classes.includes("has-grad")) {
    const mark = s("g", { class: "afnio-grad-mark", transform: `translate(${(w / 2 - 2).toFixed(1)},${(-h / 2 + 2).toFixed(1)})` });
    mark.append(s("circle", { r: 7 }));
    mark.append(s("text", { y: 3.5, "text-anchor": "middle", text: "∇" }));
    g.append(mark);
  }
  const title = s("title", { text: node.lines.join("\n") });
  g.append(title);
  return g;
}
