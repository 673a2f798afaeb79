// @vitest-environment happy-dom
// The drawing is the graph: after any sequence of live updates of the `graph_json` trait, what a view
// draws equals what a view of a fresh copy of the same graph draws (store + collapse + layout +
// SVG).
import { describe, expect, it } from "vitest";
import { buildDrawGraph } from "./collapse.js";
import { layoutDot } from "./dot.js";
import { layout } from "./layout-worker.js";
import { GraphStore } from "./store.js";
import { FakeModel, edge, fn, variable } from "./test-helpers.js";
import widget, { useLayoutRunner } from "./widget.js";

/** A small seeded generator (mulberry32), so that a failing stream can be replayed. */
/** @param {number} seed */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A kernel-side graph that records operations the way afnio_widgets' GraphState does (ids in
 * creation order) and publishes it whole, as the view's `graph` trait.
 */
class Kernel {
  constructor() {
    /** @type {Map<string, any>} */
    this.nodes = new Map();
    /** @type {Map<string, any>} */
    this.edges = new Map();
    this.count = 0;
    this.edgeCount = 0;
  }
  /** @param {(id: string) => any} make */
  node(make) {
    const id = `n${this.count++}`;
    this.nodes.set(id, make(id));
    return id;
  }
  /** @param {string} source @param {string} target @param {Partial<import("./contract.js").GraphEdge>} fields */
  edge(source, target, fields) {
    const e = edge(source, target, { ...fields, id: `e${this.edgeCount++}` });
    this.edges.set(e.id, e);
    return e.id;
  }
  /** @param {string} id @param {Record<string, any>} fields */
  set(id, fields) {
    Object.assign(this.nodes.get(id) || this.edges.get(id), fields);
  }
  /** The graph as the trait holds it (a copy, as the front-end receives it). @returns {import("./contract.js").Graph} */
  publish() {
    return JSON.parse(JSON.stringify({
      format: "afnio-graph", version: 1, roots: [],
      nodes: [...this.nodes.values()],
      edges: [...this.edges.values()],
      backward: { id: null, status: "idle", error: null, visited: 0 },
    }));
  }
}

/**
 * A random op stream: mostly `x = x + c` on the newest result (long chains), sometimes an op on
 * older results or new leaves (fans, shared inputs), a backward step that marks nodes and edges,
 * and the graph published at random points.
 * @param {number} seed
 * @param {number} ops
 */
function stream(seed, ops) {
  const rand = random(seed);
  const k = new Kernel();
  /** @type {import("./contract.js").Graph[]} */
  const messages = [k.publish()];
  /** @type {{id: string, producer: string}[]} */
  const results = [];
  /** @param {boolean} grad */
  const leaf = (grad) => {
    const v = k.node((id) => variable(id, { role: `leaf ${id}`, is_leaf: true, requires_grad: grad }));
    let producer = "";
    if (grad) {
      producer = k.node((id) => fn(id, { name: "AccumulateGrad", accumulate: true }));
      k.edge(v, producer, { kind: "output", index: null });
    }
    return { id: v, producer };
  };
  let first = leaf(true);
  results.push(first);
  for (let i = 0; i < ops; i++) {
    const r = rand();
    /** @type {{id: string, producer: string}[]} */
    const inputs = [];
    if (r < 0.7) inputs.push(results[results.length - 1], leaf(false));
    else if (r < 0.85) inputs.push(results[Math.floor(rand() * results.length)], leaf(rand() < 0.5));
    else {
      const n = 2 + Math.floor(rand() * 12);
      for (let j = 0; j < n; j++) inputs.push(rand() < 0.5 ? results[Math.floor(rand() * results.length)] : leaf(false));
    }
    const out = k.node((id) => variable(id, { role: `out ${i}` }));
    const op = k.node((id) => fn(id, { name: inputs.length > 2 ? "SumBackward0" : "AddBackward0" }));
    k.edge(out, op, { kind: "output", index: null });
    inputs.forEach((input, index) => {
      k.edge(op, input.id, { index, requires_grad: Boolean(input.producer) });
    });
    results.push({ id: out, producer: op });
    if (rand() < 0.05 && k.edges.size) {
      // a backward pass touching an edge and a node
      const ids = [...k.edges.keys()];
      k.set(ids[Math.floor(rand() * ids.length)], { grad: [{ data: "shorter", role: "feedback", preview: "shorter", backward_id: 1 }] });
      k.set(op, { state: rand() < 0.5 ? "running" : "done" });
    }
    if (rand() < 0.3) messages.push(k.publish());
  }
  messages.push(k.publish());
  return { messages, snapshot: k.publish() };
}

/** @param {import("./collapse.js").DrawGraph} d */
function shape(d) {
  return {
    nodes: d.nodes.map((n) => [n.id, n.lines.join("|"), n.classes.join(" ")]),
    edges: d.edges.map((e) => [e.id, e.source, e.target, e.classes.join(" "), e.badge]),
    shown: d.shown,
    total: d.total,
  };
}

describe("live updates draw the graph", () => {
  it("store + collapse: any op stream published at any points draws what a fresh copy draws", () => {
    for (let seed = 1; seed <= 60; seed++) {
      const { messages, snapshot } = stream(seed, 20 + (seed % 7) * 40);
      const live = new GraphStore();
      const fresh = new GraphStore();
      fresh.setGraph(snapshot);
      for (const message of messages) live.setGraph(message);
      for (const options of [
        { collapse: true, maxNodes: 300, expanded: new Set() },
        { collapse: false, maxNodes: 300, expanded: new Set() },
        { collapse: true, maxNodes: 40, expanded: new Set() },
      ]) {
        const a = buildDrawGraph(live, options);
        const b = buildDrawGraph(fresh, options);
        expect(shape(a), `seed ${seed}`).toEqual(shape(b));
        expect(layoutDot(a, { engine: "dot" })).toEqual(layoutDot(b, { engine: "dot" }));
      }
    }
  }, 120000);

  it("a view updated while layouts run ends with the drawing of a fresh view", async () => {
    // Layouts finish out of step with the updates, as in a browser: each takes a few ms.
    useLayoutRunner({ run: async (dot, engine) => { await new Promise((r) => setTimeout(r, 5)); return layout(dot, engine); } });
    const options = { height: 400, max_nodes: 300, collapse: true, selected: "", title: "", layout_engine: "auto", live: true, editable: true };
    /** @param {HTMLElement} el */
    const drawing = (el) => ({
      nodes: [...el.querySelectorAll(".node")].map((n) => `${n.getAttribute("data-id")}=${n.textContent}`).sort(),
      edges: [...el.querySelectorAll(".edge")].map((e) => `${e.getAttribute("data-source")}->${e.getAttribute("data-target")}`).sort(),
      status: el.querySelector(".afnio-graphview")?.getAttribute("data-shown"),
    });
    for (const seed of [3, 11]) {
      const { messages, snapshot } = stream(seed, 120);
      const liveModel = new FakeModel({ ...options, graph_json: JSON.stringify(messages[0]) });
      const freshModel = new FakeModel({ ...options, graph_json: JSON.stringify(snapshot) });
      const liveEl = document.createElement("div");
      const freshEl = document.createElement("div");
      document.body.append(liveEl, freshEl);
      const stopLive = /** @type {() => void} */ (await widget.render({ model: /** @type {any} */ (liveModel), el: liveEl }));
      const stopFresh = /** @type {() => void} */ (await widget.render({ model: /** @type {any} */ (freshModel), el: freshEl }));
      const rand = random(seed);
      for (const message of messages) {
        liveModel.set("graph_json", JSON.stringify(message));
        if (rand() < 0.5) await new Promise((r) => setTimeout(r, rand() * 12));
        // at every moment, no edge without both ends
        const ids = new Set([...liveEl.querySelectorAll(".node")].map((n) => n.getAttribute("data-id")));
        for (const e of liveEl.querySelectorAll(".edge")) {
          expect(ids.has(e.getAttribute("data-source")) && ids.has(e.getAttribute("data-target"))).toBe(true);
        }
      }
      const settled = async () => {
        for (let i = 0; i < 400; i++) {
          await new Promise((r) => setTimeout(r, 10));
          const a = drawing(liveEl);
          const b = drawing(freshEl);
          if (a.nodes.length && JSON.stringify(a) === JSON.stringify(b)) return;
        }
      };
      await settled();
      const a = drawing(liveEl);
      expect(a, `seed ${seed}`).toEqual(drawing(freshEl));
      expect(Number(a.status)).toBe(a.nodes.filter((n) => /^n\d+=/.test(n)).length);
      stopLive();
      stopFresh();
      liveEl.remove();
      freshEl.remove();
    }
  }, 120000);
});
