// The front-end copy of a graph, fed by the kernel's snapshot and patch messages.

/** @typedef {import("./contract.js").GraphNode} GraphNode */
/** @typedef {import("./contract.js").GraphEdge} GraphEdge */
/** @typedef {import("./contract.js").BackwardStatus} BackwardStatus */
/** @typedef {import("./contract.js").GraphMessage} GraphMessage */

/** @returns {BackwardStatus} */
function idle() {
  return { id: null, status: "idle", error: null, visited: 0 };
}

/**
 * Holds the nodes and edges of one widget model; every view of the model listens to it.
 *
 * Patches carry `base` (the revision they apply to) and `rev`. A patch that does not follow the
 * last revision applied (a view that opened late, a message lost while the model loaded) is
 * still applied as far as it can be, and `gap` asks the kernel for a snapshot.
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
    /** Revision of the last snapshot or patch applied (0: nothing yet). */
    this.rev = 0;
    /** Whether a message was missed: a snapshot is needed. */
    this.gap = false;
    /** When a snapshot was last asked for and has not arrived yet (ms since epoch, 0: none). */
    this.asked = 0;
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
   * Applies a kernel message; returns whether anything changed.
   * @param {GraphMessage} msg
   * @returns {boolean}
   */
  apply(msg) {
    if (!msg || typeof msg !== "object") return false;
    if (msg.type === "snapshot") return this.applySnapshot(msg);
    if (msg.type === "patch") return this.applyPatch(msg);
    if (msg.type === "details") {
      this.details.set(msg.id, msg.item);
      this.emit(false);
      return true;
    }
    return false;
  }

  /**
   * @param {import("./contract.js").SnapshotMessage} msg
   * @returns {boolean}
   */
  applySnapshot(msg) {
    if (msg.rev < this.rev && !this.gap) return false;
    const graph = msg.graph;
    this.nodes = new Map(graph.nodes.map((n) => [n.id, n]));
    this.edges = new Map(graph.edges.map((e) => [e.id, e]));
    this.roots = [...(graph.roots || [])];
    this.backward = graph.backward || idle();
    this.rev = msg.rev;
    this.gap = false;
    this.asked = 0;
    this.details.clear();
    this.emit(true);
    return true;
  }

  /**
   * @param {import("./contract.js").PatchMessage} msg
   * @returns {boolean}
   */
  applyPatch(msg) {
    if (msg.rev <= this.rev) return false;
    if (msg.base !== this.rev) this.gap = true;
    let structural = false;
    for (const item of msg.nodes || []) {
      if (!item.id) continue;
      const known = this.nodes.get(item.id);
      if (known) {
        this.nodes.set(item.id, /** @type {GraphNode} */ ({ ...known, ...item }));
      } else if (item.kind) {
        this.nodes.set(item.id, /** @type {GraphNode} */ (item));
        structural = true;
      } else {
        this.gap = true; // an update for a node we never received
      }
      this.details.delete(item.id);
    }
    for (const item of msg.edges || []) {
      if (!item.id) continue;
      const known = this.edges.get(item.id);
      if (known) {
        this.edges.set(item.id, /** @type {GraphEdge} */ ({ ...known, ...item }));
      } else if (item.kind && item.source && item.target) {
        this.edges.set(item.id, /** @type {GraphEdge} */ (item));
        structural = true;
      } else {
        this.gap = true;
      }
      this.details.delete(item.id);
    }
    if (msg.roots) {
      structural = structural || msg.roots.join() !== this.roots.join();
      this.roots = [...msg.roots];
    }
    if (msg.backward) this.backward = msg.backward;
    this.rev = msg.rev;
    this.emit(structural);
    return true;
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
