// Shared helpers for the vitest suites: graph fixtures and a fake anywidget model.

/** @typedef {import("./contract.js").GraphNode} GraphNode */
/** @typedef {import("./contract.js").GraphEdge} GraphEdge */

/**
 * A variable node with defaults.
 * @param {string} id
 * @param {Partial<import("./contract.js").VariableNode>} [fields]
 * @returns {import("./contract.js").VariableNode}
 */
export function variable(id, fields = {}) {
  return {
    id, kind: "variable", role: `role ${id}`, data: `data ${id}`, preview: `data ${id}`, dtype: "str", shape: "()",
    batch: null, requires_grad: true, is_leaf: false, is_parameter: false, retains_grad: false, grad: [],
    truncated: false, is_root: false, no_grad: false, toggle_error: null, ...fields,
  };
}

/**
 * A function node with defaults.
 * @param {string} id
 * @param {Partial<import("./contract.js").FunctionNode>} [fields]
 * @returns {import("./contract.js").FunctionNode}
 */
export function fn(id, fields = {}) {
  return { id, kind: "function", name: "AddBackward0", sequence_nr: 0, accumulate: false, no_grad: false, group: null, calls: [], state: "idle", ...fields };
}

let edgeCount = 0;
/**
 * @param {string} source
 * @param {string} target
 * @param {Partial<GraphEdge>} [fields]
 * @returns {GraphEdge}
 */
export function edge(source, target, fields = {}) {
  return { id: `e${edgeCount++}`, source, target, kind: "input", index: 0, output_nr: 0, requires_grad: true, grad: [], ...fields };
}

/**
 * A graph shaped like `x = x + q_i` repeated n times: a spine of Add nodes, each with a constant
 * pendant input, ending at a leaf with its AccumulateGrad.
 * @param {number} n
 * @returns {{nodes: Map<string, GraphNode>, edges: Map<string, GraphEdge>, roots: string[]}}
 */
export function comb(n) {
  /** @type {GraphNode[]} */
  const nodes = [];
  /** @type {GraphEdge[]} */
  const edges = [];
  let id = 0;
  const next = () => `n${id++}`;
  let top = next();
  nodes.push(variable(top, { is_root: true }));
  const root = top;
  for (let i = 0; i < n; i++) {
    const add = next();
    const below = next();
    const q = next();
    nodes.push(fn(add), variable(below, { is_leaf: i === n - 1 }), variable(q, { requires_grad: false, is_leaf: true }));
    edges.push(edge(top, add, { kind: "output", index: null }), edge(add, below, { index: 0 }), edge(add, q, { index: 1, requires_grad: false }));
    top = below;
  }
  const acc = next();
  nodes.push(fn(acc, { name: "AccumulateGrad", accumulate: true }));
  edges.push(edge(top, acc, { kind: "output", index: null }));
  return { nodes: new Map(nodes.map((x) => [x.id, x])), edges: new Map(edges.map((e) => [e.id, e])), roots: [root] };
}

/**
 * A Sum over n branches `prompt + question_i`, all sharing the prompt leaf.
 * @param {number} n
 */
export function fan(n) {
  /** @type {GraphNode[]} */
  const nodes = [variable("root", { is_root: true }), fn("sum", { name: "SumBackward0" }), variable("prompt", { is_leaf: true, is_parameter: true }), fn("acc", { name: "AccumulateGrad", accumulate: true })];
  /** @type {GraphEdge[]} */
  const edges = [edge("root", "sum", { kind: "output", index: null }), edge("prompt", "acc", { kind: "output", index: null })];
  for (let i = 0; i < n; i++) {
    nodes.push(variable(`x${i}`), fn(`add${i}`), variable(`q${i}`, { requires_grad: false, is_leaf: true }));
    edges.push(
      edge("sum", `x${i}`, { index: i }),
      edge(`x${i}`, `add${i}`, { kind: "output", index: null }),
      edge(`add${i}`, "prompt", { index: 0 }),
      edge(`add${i}`, `q${i}`, { index: 1, requires_grad: false }),
    );
  }
  return { nodes: new Map(nodes.map((x) => [x.id, x])), edges: new Map(edges.map((e) => [e.id, e])), roots: ["root"] };
}

/** A minimal stand-in for an anywidget model. */
export class FakeModel {
  /** @param {Record<string, any>} state */
  constructor(state) {
    this.state = { ...state };
    /** @type {Map<string, Set<(...args: any[]) => void>>} */
    this.handlers = new Map();
    /** @type {any[]} */
    this.sent = [];
    this.saves = 0;
    this.widget_manager = /** @type {any} */ ({});
  }
  /** @param {string} key */
  get(key) {
    return this.state[key];
  }
  /** @param {string} key @param {any} value */
  set(key, value) {
    this.state[key] = value;
    this.emit(`change:${key}`);
  }
  save_changes() {
    this.saves++;
  }
  /** @param {any} content */
  send(content) {
    this.sent.push(content);
  }
  /** @param {string} name @param {(...args: any[]) => void} handler */
  on(name, handler) {
    if (!this.handlers.has(name)) this.handlers.set(name, new Set());
    this.handlers.get(name)?.add(handler);
  }
  /** @param {string | null} [name] @param {((...args: any[]) => void) | null} [handler] */
  off(name, handler) {
    if (name && handler) this.handlers.get(name)?.delete(handler);
  }
  /** @param {string} name @param {...any} args */
  emit(name, ...args) {
    for (const handler of [...(this.handlers.get(name) || [])]) handler(...args);
  }
  /** Number of handlers still registered. */
  listenerCount() {
    let n = 0;
    for (const set of this.handlers.values()) n += set.size;
    return n;
  }
}

/** Strings that must show as text and never run. */
export const HOSTILE = [
  "<script>window.__pwned = 1</script>",
  '<img src=x onerror="window.__pwned = 2">',
  "javascript:window.__pwned = 3",
  "</svg><svg onload=\"window.__pwned = 4\">",
  '"]; n9 [label="injected"]; n0 -> n9 [',
  "back\\slash and \"quotes\" and a:port",
];
