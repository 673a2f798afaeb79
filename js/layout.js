// Layout with Graphviz compiled to WebAssembly, off the main thread when possible.
//
// The Graphviz code runs in a module Web Worker created from a Blob URL (the code is inlined in
// the bundle, nothing is fetched). If a layout takes too long the worker is terminated (the tab
// never freezes) and the graph is laid out again with `sfdp`, which is fast on any graph. Where
// workers are unavailable the same module is imported on the main thread.

/** @typedef {import("./collapse.js").DrawGraph} DrawGraph */

/**
 * @typedef {object} NodeBox
 * @property {number} x Center, pixels from the left.
 * @property {number} y Center, pixels from the top.
 * @property {number} width
 * @property {number} height
 */

/**
 * @typedef {object} EdgePath
 * @property {string} d SVG path data.
 * @property {[number, number] | null} tip Arrow tip.
 * @property {[number, number] | null} base Point the arrow starts from.
 * @property {[number, number]} mid A point halfway along.
 * @property {[number, number] | null} [label] Centre of the room Graphviz kept for the
 *   edge's gradient badge (none: the badge is not drawn, see svg.js).
 */

/**
 * @typedef {object} Layout
 * @property {number} width
 * @property {number} height
 * @property {Map<string, NodeBox>} nodes By draw-node id.
 * @property {(NodeBox | undefined)[]} boxes By DOT node index (d<i>): the layout DOT carries no
 *   ids, so two draw graphs with the same DOT share one layout, bound to each one's ids.
 * @property {Map<string, EdgePath>} edges By draw-edge index ("x<i>").
 * @property {string} engine
 * @property {number} ms Time taken.
 */

/**
 * @param {string} text "x,y"
 * @returns {[number, number]}
 */
function point(text) {
  const [x, y] = text.split(",").map(Number);
  return [x, y];
}

/**
 * Parses Graphviz's "json" output into boxes and edge paths, with y pointing down.
 * @param {string} json Output of `layout(dot, "json", engine)`.
 * @param {string[]} names Draw-node id of each DOT node d<i>.
 * @returns {Omit<Layout, "engine" | "ms">}
 */
export function parseLayout(json, names) {
  /** @type {(NodeBox | undefined)[]} */
  const boxes = [];
  const data = JSON.parse(json);
  const bb = String(data.bb || "0,0,0,0").split(",").map(Number);
  const height = bb[3];
  const flip = (/** @type {[number, number]} */ p) => /** @type {[number, number]} */ ([p[0] - bb[0], height - p[1]]);
  /** @type {Map<string, NodeBox>} */
  const nodes = new Map();
  /** @type {Map<number, NodeBox>} */
  const byGvid = new Map();
  for (const obj of data.objects || []) {
    const match = /^d(\d+)$/.exec(obj.name || "");
    if (!match || !obj.pos) continue;
    const [x, y] = flip(point(obj.pos));
    const box = { x, y, width: Number(obj.width) * 72, height: Number(obj.height) * 72 };
    boxes[Number(match[1])] = box;
    byGvid.set(obj._gvid, box);
  }
  /** @type {Map<string, EdgePath>} */
  const edges = new Map();
  for (const edge of data.edges || []) {
    const id = String(edge.id || "");
    if (!id) continue; // an invisible edge that only shapes the layout
    const parsed = edge.pos ? parseSpline(String(edge.pos), flip) : null;
    const label = edge.lp ? flip(point(String(edge.lp))) : null;
    if (parsed) {
      edges.set(id, { ...parsed, label });
      continue;
    }
    const a = byGvid.get(edge.tail);
    const b = byGvid.get(edge.head);
    if (a && b) edges.set(id, { ...straight(a, b), label });
  }
  return { width: bb[2] - bb[0], height, nodes: bindBoxes(boxes, names), boxes, edges };
}

/**
 * @param {(NodeBox | undefined)[]} boxes
 * @param {string[]} names
 * @returns {Map<string, NodeBox>}
 */
function bindBoxes(boxes, names) {
  /** @type {Map<string, NodeBox>} */
  const nodes = new Map();
  names.forEach((name, i) => {
    const box = boxes[i];
    if (box) nodes.set(name, box);
  });
  return nodes;
}

/**
 * The same layout for another draw graph whose layout DOT is identical (same sizes, same edges,
 * other ids: a live graph that grew by one operation inside a collapsed chain).
 * @template {Omit<Layout, "engine" | "ms">} L
 * @param {L} layout
 * @param {string[]} names Draw-node id of each DOT node d<i>, for the other draw graph.
 * @returns {L}
 */
export function bindLayout(layout, names) {
  return { ...layout, nodes: bindBoxes(layout.boxes, names) };
}

/**
 * @param {string} pos Graphviz spline: "e,x,y p0 p1 p2 p3 …" (with optional "s,x,y").
 * @param {(p: [number, number]) => [number, number]} flip
 * @returns {EdgePath | null}
 */
function parseSpline(pos, flip) {
  /** @type {[number, number] | null} */
  let tip = null;
  /** @type {[number, number][]} */
  const pts = [];
  for (const part of pos.trim().split(/\s+/)) {
    if (part.startsWith("e,")) tip = flip(point(part.slice(2)));
    else if (part.startsWith("s,")) continue;
    else pts.push(flip(point(part)));
  }
  if (pts.length < 2 || pts.some((p) => !Number.isFinite(p[0]) || !Number.isFinite(p[1]))) return null;
  let d = `M${fmt(pts[0])}`;
  if ((pts.length - 1) % 3 === 0) {
    for (let i = 1; i + 2 < pts.length; i += 3) d += ` C${fmt(pts[i])} ${fmt(pts[i + 1])} ${fmt(pts[i + 2])}`;
  } else {
    for (const p of pts.slice(1)) d += ` L${fmt(p)}`;
  }
  const last = pts[pts.length - 1];
  const mid = pts[Math.floor(pts.length / 2)];
  return { d, tip, base: tip ? last : null, mid };
}

/**
 * A straight edge between two boxes, stopping at their borders.
 * @param {NodeBox} a
 * @param {NodeBox} b
 * @returns {EdgePath}
 */
function straight(a, b) {
  const clip = (/** @type {NodeBox} */ box, /** @type {number} */ dx, /** @type {number} */ dy) => {
    const sx = dx ? box.width / 2 / Math.abs(dx) : Infinity;
    const sy = dy ? box.height / 2 / Math.abs(dy) : Infinity;
    return Math.min(sx, sy, 1);
  };
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const ta = clip(a, dx, dy);
  const tb = clip(b, dx, dy);
  /** @type {[number, number]} */
  const start = [a.x + dx * ta, a.y + dy * ta];
  /** @type {[number, number]} */
  const tip = [b.x - dx * tb, b.y - dy * tb];
  const len = Math.hypot(tip[0] - start[0], tip[1] - start[1]) || 1;
  /** @type {[number, number]} */
  const base = [tip[0] - ((tip[0] - start[0]) / len) * 7, tip[1] - ((tip[1] - start[1]) / len) * 7];
  return {
    d: `M${fmt(start)} L${fmt(base)}`,
    tip,
    base,
    mid: [(start[0] + tip[0]) / 2, (start[1] + tip[1]) / 2],
  };
}

/** @param {[number, number]} p */
function fmt(p) {
  return `${p[0].toFixed(1)},${p[1].toFixed(1)}`;
}

/**
 * Runs Graphviz: `(dot, engine) => json text`.
 * @typedef {(dot: string, engine: string) => Promise<string>} Runner
 */

/**
 * Lays out DOT in a module worker made from `code`; the worker is restarted after a timeout.
 */
export class WorkerRunner {
  /**
   * @param {string} code The worker module's source (see layout-worker.js).
   */
  constructor(code) {
    this.url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
    /** @type {Worker | null} */
    this.worker = null;
    this.nextId = 1;
    /** @type {Map<number, {resolve: (v: string) => void, reject: (e: Error) => void}>} */
    this.pending = new Map();
    /** @type {Promise<{layout: (dot: string, engine: string) => Promise<string>}> | null} */
    this.inline = null;
    this.useInline = typeof Worker === "undefined";
  }

  /** @returns {Worker} */
  start() {
    if (this.worker) return this.worker;
    const worker = new Worker(this.url, { type: "module", name: "afnio-graph-layout" });
    worker.onmessage = (event) => {
      const { id, json, error } = event.data || {};
      const waiting = this.pending.get(id);
      if (!waiting) return;
      this.pending.delete(id);
      if (error) waiting.reject(new Error(String(error)));
      else waiting.resolve(String(json));
    };
    worker.onerror = (event) => {
      event.preventDefault();
      this.useInline = true; // e.g. module workers refused: fall back to the main thread
      this.stop(new Error(`layout worker failed: ${event.message || "unknown error"}`));
    };
    this.worker = worker;
    return worker;
  }

  /**
   * Terminates the worker; pending layouts fail with `reason`.
   * @param {Error} reason
   */
  stop(reason) {
    if (this.worker) this.worker.terminate();
    this.worker = null;
    for (const waiting of this.pending.values()) waiting.reject(reason);
    this.pending.clear();
  }

  /**
   * @param {string} dot
   * @param {string} engine
   * @param {number} timeoutMs
   * @returns {Promise<string>}
   */
  async run(dot, engine, timeoutMs) {
    if (this.useInline) {
      this.inline ??= import(/* @vite-ignore */ this.url);
      const mod = await this.inline;
      return mod.layout(dot, engine);
    }
    const id = this.nextId++;
    const worker = this.start();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.pending.has(id)) this.stop(new TimeoutError(`layout took more than ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      worker.postMessage({ id, dot, engine });
    });
  }

  dispose() {
    this.stop(new Error("disposed"));
    URL.revokeObjectURL(this.url);
  }
}

export class TimeoutError extends Error {}

/**
 * Picks the engine and limits for a graph: `dot` (with cheaper settings past 150 nodes or
 * 1.5 edges per node) unless `sfdp` is asked for.
 * @param {DrawGraph} draw
 * @param {"auto" | "dot" | "sfdp"} preference
 * @returns {{engine: "dot" | "sfdp", limits: boolean}}
 */
export function chooseEngine(draw, preference) {
  if (preference === "sfdp") return { engine: "sfdp", limits: false };
  const n = draw.nodes.length;
  const m = draw.edges.length;
  return { engine: "dot", limits: n > 150 || m > 1.5 * n };
}
