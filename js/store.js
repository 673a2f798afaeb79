// The front-end copy of a graph: what the view's synced `graph_json` trait holds, plus the
// uncut items the kernel sent in answer to "details" requests.

/** @typedef {import("./contract.js").Graph} Graph */
/** @typedef {import("./contract.js").GraphNode} GraphNode */
/** @typedef {import("./contract.js").GraphEdge} GraphEdge */
/** @typedef {import("./contract.js").BackwardStatus} BackwardStatus */

/** @returns {BackwardStatus} */
function idle() {
  return { id: null, status: "idle", error: null, visited: 0 };
}

/**
 * Whether two lists of ids differ.
 * @param {Iterable<string>} a
 * @param {Iterable<string>} b
 */
function differ(a, b) {
  const left = [...a];
  const right = [...b];
  return left.length !== right.length || left.some((id, i) => id !== right[i]);
}

/**
 * The graph in a `graph_json` trait (JSON text); null for an empty or unreadable one.
 * @param {unknown} text
 * @returns {Partial<Graph> | null}
 */
export function parseGraph(text) {
  if (typeof text !== "string" || !text) return null;
  try {
    const graph = JSON.parse(text);
    return graph && typeof graph === "object" ? graph : null;
  } catch {
    return null;
  }
}

/**
 * Holds the nodes and edges of one view and tells its listeners when they change.
 */
export class GraphStore {
  constructor() {
    /** @type {Map<string, GraphNode>} */
    this.nodes = new Map();
    /** @type {Map<string, GraphEdge>} */
    this.edges = new Map();
    /** @type {string[]} */
    this.roots = [];
    /** @type {BackwardStatus} */
    this.backward = idle();
    /** How many graphs were set (0: none yet). */
    this.version = 0;
    /** Full nodes/edges received with "details" messages, by id. @type {Map<string, GraphNode | GraphEdge>} */
    this.details = new Map();
    /** @type {Set<(change: {structural: boolean}) => void>} */
    this.listeners = new Set();
  }

  /**
   * Subscribes to changes; returns the unsubscribe function.
   * @param {(change: {structural: boolean}) => void} listener
   * @returns {() => void}
   */
  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** @param {boolean} structural */
  emit(structural) {
    for (const listener of [...this.listeners]) listener({ structural });
  }

  /**
   * Replaces the graph with the one the `graph_json` trait holds (parsed by `parseGraph`). A change is structural when the
   * nodes, edges or roots are not the same ids in the same order (it needs a new layout).
   * @param {Partial<Graph> | null | undefined} graph
   */
  setGraph(graph) {
    const nodes = new Map((Array.isArray(graph?.nodes) ? graph.nodes : []).map((n) => [n.id, n]));
    const edges = new Map((Array.isArray(graph?.edges) ? graph.edges : []).map((e) => [e.id, e]));
    const roots = Array.isArray(graph?.roots) ? [...graph.roots] : [];
    const structural = differ(nodes.keys(), this.nodes.keys()) || differ(edges.keys(), this.edges.keys()) || differ(roots, this.roots);
    for (const id of [...this.details.keys()]) {
      // An uncut version stays valid while the item is unchanged.
      const before = this.nodes.get(id) || this.edges.get(id);
      const after = nodes.get(id) || edges.get(id);
      if (!after || JSON.stringify(before) !== JSON.stringify(after)) this.details.delete(id);
    }
    this.nodes = nodes;
    this.edges = edges;
    this.roots = roots;
    this.backward = graph?.backward || idle();
    this.version += 1;
    this.emit(structural || this.version === 1);
  }

  /**
   * Keeps the uncut version of an item (the kernel's answer to a "details" request).
   * @param {string} id
   * @param {GraphNode | GraphEdge} item
   */
  setDetails(id, item) {
    if (!item || typeof item !== "object") return;
    this.details.set(id, item);
    this.emit(false);
  }

  /**
   * The node or edge with this id, preferring the full version from a "details" message.
   * @param {string} id
   * @returns {GraphNode | GraphEdge | undefined}
   */
  item(id) {
    return this.details.get(id) || this.nodes.get(id) || this.edges.get(id);
  }

  /**
   * Edges leaving / entering a node.
   * @param {string} id
   * @returns {{out: GraphEdge[], in: GraphEdge[]}}
   */
  edgesOf(id) {
    /** @type {GraphEdge[]} */
    const out = [];
    /** @type {GraphEdge[]} */
    const inn = [];
    for (const edge of this.edges.values()) {
      if (edge.source === id) out.push(edge);
      if (edge.target === id) inn.push(edge);
    }
    return { out, in: inn };
  }
}
