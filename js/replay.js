// Step through a backward pass: the engine's visit order (the graph's `backward.steps`) replayed
// on the drawing. Each step highlights the node that ran, the nodes that ran at the same time,
// the edges along which it sent gradients (with their text), and links to its model calls.

import { clear, cut, h } from "./dom.js";

/** @typedef {import("./contract.js").GraphNode} GraphNode */
/** @typedef {import("./contract.js").GraphEdge} GraphEdge */
/** @typedef {import("./contract.js").BackwardStep} BackwardStep */

/**
 * @typedef {object} ReplayStep
 * @property {string} node The node that ran.
 * @property {string} name Its name (`AddBackward0`...).
 * @property {number[]} concurrent Indexes of the steps that ran at the same time.
 * @property {{edge: string, target: string, to: string, preview: string}[]} sent Gradients it
 *   sent, one per edge.
 * @property {number} calls Model calls it made.
 */

/**
 * @typedef {object} ReplayGraph
 * @property {Map<string, GraphNode>} nodes
 * @property {Map<string, GraphEdge>} edges
 * @property {import("./contract.js").BackwardStatus} backward
 */

/**
 * The steps of the last backward pass, in the engine's order.
 * @param {ReplayGraph} graph
 * @returns {ReplayStep[]}
 */
export function replaySteps(graph) {
  const backward = graph.backward;
  const raw = [...(backward?.steps || [])].filter((s) => graph.nodes.has(s.node)).sort((a, b) => a.start - b.start);
  /** @type {Map<string, GraphEdge[]>} */
  const out = new Map();
  for (const edge of graph.edges.values()) {
    if (edge.kind === "output") continue;
    const list = out.get(edge.source) || [];
    list.push(edge);
    out.set(edge.source, list);
  }
  const end = (/** @type {BackwardStep} */ s) => s.end ?? Infinity;
  return raw.map((step, i) => {
    const node = /** @type {GraphNode} */ (graph.nodes.get(step.node));
    const concurrent = [];
    for (let j = 0; j < raw.length; j++) {
      if (j !== i && raw[j].start < end(step) && step.start < end(raw[j])) concurrent.push(j);
    }
    const sent = [];
    for (const edge of out.get(step.node) || []) {
      const grads = (edge.grad || []).filter((g) => g.backward_id === null || g.backward_id === backward.id);
      const last = grads[grads.length - 1];
      if (!last) continue;
      const target = graph.nodes.get(edge.target);
      const to = target ? (target.kind === "variable" ? target.role || target.id : target.name) : edge.target;
      sent.push({ edge: edge.id, target: edge.target, to, preview: last.preview ?? "" });
    }
    const calls = node.kind === "function" ? (node.calls || []).length : 0;
    return { node: step.node, name: node.kind === "function" ? node.name : node.role, concurrent, sent, calls };
  });
}

const SPEEDS = [0.5, 1, 2, 4];
const CLASSES = ["replay-current", "replay-concurrent", "replay-done", "replay-pending", "replay-sent"];

/**
 * The replay bar of a GraphView: a slider over the steps, previous/next, play/pause at a chosen
 * speed, and the arrow keys. `apply` marks the drawing for the current step.
 */
export class ReplayBar {
  /**
   * @param {{onChange: () => void, onSelect: (id: string) => void, signal: AbortSignal}} options
   */
  constructor(options) {
    this.options = options;
    /** @type {ReplayStep[]} */
    this.steps = [];
    /** Current step (-1: not replaying; the drawing shows the final state). */
    this.index = -1;
    this.speed = 1;
    /** @type {ReturnType<typeof setInterval> | null} */
    this.timer = null;
    this.backwardId = /** @type {number | null} */ (null);
    const signal = options.signal;
    const button = (/** @type {string} */ text, /** @type {string} */ title, /** @type {string} */ cls, /** @type {() => void} */ action) => {
      const b = h("button", { type: "button", class: `afnio-button ${cls}`, title, "aria-label": title, text });
      b.addEventListener("click", action, { signal });
      return b;
    };
    this.slider = /** @type {HTMLInputElement} */ (h("input", { type: "range", class: "afnio-replay-slider", min: 0, max: 0, value: 0, "aria-label": "backward step" }));
    this.slider.addEventListener("input", () => this.go(Number(this.slider.value)), { signal });
    this.playButton = button("▶", "Play the backward pass", "afnio-replay-play", () => this.toggle());
    this.speedSelect = /** @type {HTMLSelectElement} */ (h("select", { class: "afnio-replay-speed", "aria-label": "replay speed" }, SPEEDS.map((v) => h("option", { value: v, text: `${v}×`, selected: v === 1 }))));
    this.speedSelect.addEventListener("change", () => {
      this.speed = Number(this.speedSelect.value) || 1;
      if (this.timer) this.play();
    }, { signal });
    this.label = h("span", { class: "afnio-replay-label" });
    this.info = h("div", { class: "afnio-replay-info", "aria-live": "polite" });
    this.el = h("div", { class: "afnio-replay", hidden: true }, [
      h("div", { class: "afnio-replay-controls" }, [
        h("span", { class: "afnio-replay-title", text: "Replay backward" }),
        button("←", "Previous step (←)", "afnio-replay-prev", () => this.go(this.index - 1)),
        this.playButton,
        button("→", "Next step (→)", "afnio-replay-next", () => this.go(this.index + 1)),
        this.slider,
        this.label,
        this.speedSelect,
        button("✕", "Stop replaying: show the final state", "afnio-replay-stop", () => this.go(-1)),
      ]),
      this.info,
    ]);
  }

  /**
   * Takes the steps of the graph's last backward pass (shown once the pass is over).
   * @param {ReplayGraph} graph
   */
  setGraph(graph) {
    const done = graph.backward && graph.backward.status !== "running" && graph.backward.id !== null;
    const steps = done ? replaySteps(graph) : [];
    if (graph.backward?.id !== this.backwardId) {
      this.backwardId = graph.backward?.id ?? null;
      this.stop();
      this.index = -1;
    }
    this.steps = steps;
    this.el.hidden = !steps.length;
    this.slider.max = String(Math.max(0, steps.length - 1));
    if (this.index >= steps.length) this.index = steps.length - 1;
    this.render();
  }

  /** @param {KeyboardEvent} event */
  onKey(event) {
    if (this.el.hidden || event.target instanceof HTMLInputElement && event.target.type !== "range") return;
    if (event.key === "ArrowRight") this.go(this.index + 1);
    else if (event.key === "ArrowLeft") this.go(Math.max(0, this.index - 1));
    else return;
    event.preventDefault();
  }

  /** @param {number} index -1 leaves the replay. */
  go(index) {
    if (!this.steps.length) return;
    this.index = Math.max(-1, Math.min(this.steps.length - 1, index));
    if (this.index === -1) this.stop();
    this.render();
    this.options.onChange();
  }

  toggle() {
    if (this.timer) this.stop();
    else this.play();
  }

  play() {
    this.stop();
    if (this.index >= this.steps.length - 1) this.index = -1;
    this.timer = setInterval(() => {
      this.go(this.index + 1);
      if (this.index >= this.steps.length - 1) this.stop();
    }, 900 / this.speed);
    this.playButton.textContent = "❚❚";
    this.playButton.setAttribute("title", "Pause");
    if (this.index === -1) this.go(0);
  }

  stop() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.playButton.textContent = "▶";
    this.playButton.setAttribute("title", "Play the backward pass");
  }

  render() {
    const step = this.steps[this.index];
    this.slider.value = String(Math.max(0, this.index));
    this.label.textContent = step ? `step ${this.index + 1} of ${this.steps.length}` : `${this.steps.length} steps`;
    clear(this.info);
    if (!step) return;
    const head = [`${step.name} ran`];
    if (step.concurrent.length) head.push(`at the same time as ${step.concurrent.map((j) => `step ${j + 1} (${this.steps[j].name})`).join(", ")}`);
    this.info.append(h("div", { class: "afnio-replay-step", "data-node": step.node, text: head.join(" ") }));
    for (const sent of step.sent) {
      this.info.append(h("div", { class: "afnio-replay-sent", "data-edge": sent.edge, text: `→ ${cut(sent.to, 40)}: ∇ ${sent.preview}` }));
    }
    if (!step.sent.length) this.info.append(h("div", { class: "afnio-muted", text: "sent no gradient along an edge (it stores the gradient in its leaf)" }));
    if (step.calls) {
      const link = h("button", { type: "button", class: "afnio-link afnio-replay-calls", text: `${step.calls} model call${step.calls === 1 ? "" : "s"}: prompt and reply` });
      link.addEventListener("click", () => this.options.onSelect(step.node), { signal: this.options.signal });
      this.info.append(link);
    }
  }

  /**
   * Marks the drawing for the current step (or clears the marks).
   * @param {Element} viewport
   */
  apply(viewport) {
    for (const cls of CLASSES) for (const el of viewport.querySelectorAll(`.${cls}`)) el.classList.remove(cls);
    viewport.classList.toggle("afnio-replaying", this.index >= 0);
    const step = this.steps[this.index];
    if (!step) return;
    /** @type {Map<string, string>} */
    const mark = new Map();
    this.steps.forEach((s, i) => mark.set(s.node, i < this.index ? "replay-done" : i > this.index ? "replay-pending" : "replay-current"));
    for (const j of step.concurrent) mark.set(this.steps[j].node, "replay-concurrent");
    mark.set(step.node, "replay-current");
    for (const el of viewport.querySelectorAll(".node[data-id]")) {
      const cls = mark.get(el.getAttribute("data-id") || "");
      if (cls) el.classList.add(cls);
    }
    const sent = new Set(step.sent.map((s) => s.edge));
    for (const el of viewport.querySelectorAll(".edge[data-id]")) {
      if (sent.has(el.getAttribute("data-id") || "")) el.classList.add("replay-sent");
    }
  }

  dispose() {
    this.stop();
  }
}
