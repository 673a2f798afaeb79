// From the whole graph to what is drawn: long chains and wide fans collapse into group nodes,
// and at most `maxNodes` nodes are drawn at once (the rest sits behind a "more" node).
// Pure functions: no DOM, unit-tested in collapse.test.js.

import { cut } from "./dom.js";

/** @typedef {import("./contract.js").GraphNode} GraphNode */
/** @typedef {import("./contract.js").GraphEdge} GraphEdge */

/**
 * @typedef {object} DrawNode
 * @property {string} id The graph node's id, or a synthetic one: "chain:…", "fan:…", "more".
 * @property {"variable" | "function" | "group"} kind
 * @property {GraphNode | null} node The graph node (null for groups).
 * @property {string[]} lines Label lines (plain text).
 * @property {string[]} classes CSS classes.
 * @property {number} width Pixels.
 * @property {number} height Pixels.
 * @property {string} [expand] For groups: the key that expands it when clicked.
 * @property {number} [hidden] For groups: how many nodes it stands for.
 */

/**
 * @typedef {object} DrawEdge
 * @property {string} id
 * @property {string} source
 * @property {string} target
 * @property {GraphEdge | null} edge The graph edge (null for edges to groups).
 * @property {string[]} classes
 * @property {string} badge Short preview of the last gradient along it ("" if none).
 */

/**
 * @typedef {object} DrawGraph
 * @property {DrawNode[]} nodes
 * @property {DrawEdge[]} edges
 * @property {number} total Nodes in the whole graph.
 * @property {number} shown Graph nodes drawn (groups excluded).
 */

/**
 * @typedef {object} DrawOptions
 * @property {boolean} collapse Collapse chains and fans.
 * @property {number} maxNodes The most nodes drawn.
 * @property {Set<string>} expanded Group keys the user expanded.
 * @property {number} [fanMax] A node with more children than this shows `fanKeep` of them.
 * @property {number} [fanKeep]
 * @property {number} [chainMin] Chains at least this long collapse.
 * @property {number} [groupAbove] Sub-modules (nodes sharing a `group`) collapse in graphs with
 *   more nodes than this.
 */

export const CHAR_WIDTH = 6.6; // 11px monospace
export const FONT_SIZE = 11;
/** Labels are never drawn smaller than this by "Fit" in graphs of up to `READABLE_NODES` nodes. */
export const MIN_LABEL_PX = 9;
export const READABLE_NODES = 100;
/** A wide fan opens this many more inputs per click. */
export const FAN_PAGE = 24;
export const LINE_HEIGHT = 14;
const PAD_X = 10;
const PAD_Y = 6;
const LABEL_CHARS = 30;

/**
 * Size of a box holding `lines` of monospace text.
 * @param {string[]} lines
 * @returns {{width: number, height: number}}
 */
export function boxSize(lines) {
  const longest = Math.max(4, ...lines.map((l) => l.length));
  return {
    width: Math.ceil(longest * CHAR_WIDTH + 2 * PAD_X),
    height: Math.ceil(lines.length * LINE_HEIGHT + 2 * PAD_Y),
  };
}

/**
 * The smallest scale "Fit" may pick for a draw graph: labels stay readable (9 px) up to 100
 * drawn nodes; larger graphs may shrink further, to half that, and are then shown from the top.
 * @param {DrawGraph} draw
 */
export function fitScale(draw) {
  const readable = MIN_LABEL_PX / FONT_SIZE;
  return draw.nodes.length <= READABLE_NODES ? readable : readable / 2;
}

/**
 * Number part of an id ("n12" -> 12), for stable ordering.
 * @param {string} id
 */
function idNumber(id) {
  const n = Number(id.replace(/^\D+/, ""));
  return Number.isFinite(n) ? n : 0;
}

/**
 * Label lines and classes of a graph node.
 * @param {GraphNode} node
 * @returns {{lines: string[], classes: string[]}}
 */
export function describe(node) {
  if (node.kind === "function") {
    const lines = [cut(node.name || "?", LABEL_CHARS)];
    const calls = (node.calls || []).length;
    if (calls) lines.push(`${calls} model call${calls === 1 ? "" : "s"}`);
    if (node.no_grad) lines.push("(no grad)");
    const classes = ["fn", `state-${node.state || "idle"}`];
    if (node.accumulate) classes.push("acc");
    if (node.no_grad) classes.push("no-grad");
    if (calls) classes.push("has-calls");
    return { lines, classes };
  }
  const flags = [];
  if (node.is_parameter) flags.push("parameter");
  else if (node.is_leaf && node.requires_grad) flags.push("leaf");
  if (node.requires_grad) flags.push("grad");
  else flags.push("no grad");
  const lines = [cut(node.role || "(no role)", LABEL_CHARS), cut(node.preview ?? "", LABEL_CHARS)];
  lines.push(flags.join(" · "));
  const classes = ["var"];
  if (node.is_parameter) classes.push("param");
  else if (node.is_leaf && node.requires_grad) classes.push("leaf");
  if (!node.requires_grad) classes.push("const");
  if (node.is_root) classes.push("root");
  if (node.no_grad) classes.push("no-grad");
  if ((node.grad || []).length) classes.push("has-grad");
  if (node.batch !== null && node.batch !== undefined) classes.push("batch");
  return { lines, classes };
}

/**
 * @param {string} id
 * @param {string[]} lines
 * @param {string} expand
 * @param {number} hidden
 * @returns {DrawNode}
 */
function groupNode(id, lines, expand, hidden) {
  return { id, kind: "group", node: null, lines, classes: ["group"], ...boxSize(lines), expand, hidden };
}

/**
 * Computes what to draw.
 * @param {{nodes: Map<string, GraphNode>, edges: Map<string, GraphEdge>, roots: string[]}} graph
 * @param {DrawOptions} options
 * @returns {DrawGraph}
 */
export function buildDrawGraph(graph, options) {
  const fanMax = options.fanMax ?? 8;
  const fanKeep = options.fanKeep ?? 3;
  const chainMin = options.chainMin ?? 6;
  const maxNodes = Math.max(1, options.maxNodes);
  const { nodes, edges } = graph;

  /** @type {Map<string, GraphEdge[]>} */
  const out = new Map();
  /** @type {Map<string, number>} */
  const indeg = new Map();
  for (const edge of edges.values()) {
    if (!nodes.has(edge.source) || !nodes.has(edge.target)) continue;
    let list = out.get(edge.source);
    if (!list) out.set(edge.source, (list = []));
    list.push(edge);
    indeg.set(edge.target, (indeg.get(edge.target) || 0) + 1);
  }
  for (const list of out.values()) {
    list.sort((a, b) => (a.index ?? -1) - (b.index ?? -1) || idNumber(a.id) - idNumber(b.id));
  }
  const children = (/** @type {string} */ id) => out.get(id) || [];

  // A pendant hangs off a single parent and leads nowhere (or only to its AccumulateGrad).
  const isPendant = (/** @type {string} */ id) => {
    if ((indeg.get(id) || 0) !== 1) return false;
    return children(id).every((e) => (indeg.get(e.target) || 0) === 1 && !children(e.target).length);
  };

  // Sub-modules: backward nodes sharing a `group` (and the Variables they produced) fold into one.
  /** @type {Map<string, string>} node id -> module group id */
  const moduleOf = new Map();
  /** @type {Map<string, string[]>} */
  const modules = new Map();
  if (options.collapse && nodes.size > (options.groupAbove ?? 60)) {
    /** @type {Map<string, string[]>} */
    const byName = new Map();
    for (const node of nodes.values()) {
      if (node.kind !== "function" || !node.group) continue;
      // "Agent.chat.inner" folds into "Agent.chat"; the outermost module ("Agent") never folds,
      // or the whole agent would become one node.
      const parts = node.group.split(".");
      if (parts.length < 2) continue;
      const name = parts.slice(0, 2).join(".");
      const list = byName.get(name) || [];
      list.push(node.id);
      byName.set(name, list);
    }
    for (const [name, fns] of byName) {
      const key = `module:${name}`;
      if (fns.length < 2 || options.expanded.has(key)) continue;
      const members = new Set(fns);
      for (const edge of edges.values()) {
        // a Variable produced by a member belongs to the module too
        if (edge.kind === "output" && members.has(edge.target) && nodes.get(edge.source)?.kind === "variable") {
          members.add(edge.source);
        }
      }
      modules.set(key, [...members]);
      for (const m of members) moduleOf.set(m, key);
    }
  }

  /** @type {Map<string, string>} first chain member -> chain group id */
  const chainStart = new Map();
  /** @type {Map<string, {members: string[], exit: string | null}>} */
  const chains = new Map();
  /** @type {Set<string>} */
  const inChain = new Set();
  if (options.collapse) {
    /** @param {string} id */
    const spine = (id) => children(id).filter((e) => !isPendant(e.target));
    /** @param {string} id */
    const capable = (id) => !moduleOf.has(id) && (indeg.get(id) || 0) === 1 && spine(id).length === 1;
    /** @type {Map<string, string>} spine child -> parent, for capable parents */
    const parentOf = new Map();
    for (const id of nodes.keys()) {
      if (capable(id)) parentOf.set(spine(id)[0].target, id);
    }
    for (const id of nodes.keys()) {
      if (!capable(id)) continue;
      const parent = parentOf.get(id);
      if (parent !== undefined && capable(parent)) continue; // not the start of a chain
      const members = [id];
      /** @type {Set<string>} */
      const seen = new Set(members);
      let next = spine(id)[0].target;
      while (capable(next) && !seen.has(next)) {
        members.push(next);
        seen.add(next);
        next = spine(next)[0].target;
      }
      const key = `chain:${id}`;
      if (members.length >= chainMin && !options.expanded.has(key)) {
        chains.set(key, { members, exit: next });
        chainStart.set(id, key);
        for (const m of members) inChain.add(m);
      }
    }
  }

  /** Where an edge into `id` lands once chains are collapsed (null: hidden inside a chain).
   * @param {string} id */
  const land = (id) => moduleOf.get(id) ?? chainStart.get(id) ?? (inChain.has(id) ? null : id);

  /** @typedef {{target: string, edge: GraphEdge | null}} Link */
  /** @type {Map<string, DrawNode>} */
  const groups = new Map();
  /** @type {Map<string, Link[]>} */
  const linkCache = new Map();
  /**
   * Children of a drawn node, with chains and fans applied.
   * @param {string} id
   * @returns {Link[]}
   */
  const links = (id) => {
    const cached = linkCache.get(id);
    if (cached) return cached;
    /** @type {Link[]} */
    let result = [];
    const chain = chains.get(id);
    const module = modules.get(id);
    if (module) {
      /** @type {Set<string>} */
      const seen = new Set();
      for (const member of module) {
        for (const edge of children(member)) {
          const target = land(edge.target);
          if (target === null || target === id || seen.has(target)) continue;
          seen.add(target);
          result.push({ target, edge: null });
        }
      }
    } else if (chain) {
      const exit = chain.exit === null ? null : land(chain.exit);
      if (exit !== null) result = [{ target: exit, edge: null }];
    } else if (!groups.has(id)) {
      /** @type {Set<string>} */
      const intoGroups = new Set();
      for (const edge of children(id)) {
        const target = land(edge.target);
        if (target === null) continue;
        if (target !== edge.target) {
          if (intoGroups.has(target)) continue; // one edge per group it leads into
          intoGroups.add(target);
        }
        result.push({ target, edge: target === edge.target ? edge : null });
      }
      // A wide fan shows `fanKeep` inputs, then FAN_PAGE more per click (each click adds the
      // key "fan:<id>@<inputs shown>" to `expanded`), never hundreds in one row.
      const key = `fan:${id}`;
      if (options.collapse && result.length > fanMax && !options.expanded.has(key)) {
        let keep = fanKeep;
        while (keep < result.length && options.expanded.has(`${key}@${keep}`)) keep += FAN_PAGE;
        if (keep < result.length) {
          const hidden = result.length - keep;
          const next = Math.min(FAN_PAGE, hidden);
          const lines = [`+${hidden} more inputs`, next < hidden ? `(click for ${next} more)` : "(click to expand)"];
          groups.set(key, groupNode(key, lines, `${key}@${keep}`, hidden));
          result = [...result.slice(0, keep), { target: key, edge: null }];
        }
      }
    }
    linkCache.set(id, result);
    return result;
  };
  for (const [key, members] of modules) {
    const lines = [cut(`module ${key.slice("module:".length)}`, LABEL_CHARS), `${members.length} nodes`, "(click to expand)"];
    groups.set(key, groupNode(key, lines, key, members.length));
  }
  for (const [key, chain] of chains) {
    const counts = new Map();
    for (const m of chain.members) {
      const n = nodes.get(m);
      const name = n ? (n.kind === "function" ? n.name : "variable") : "?";
      counts.set(name, (counts.get(name) || 0) + 1);
    }
    const top = [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 2);
    const lines = [
      `chain of ${chain.members.length} nodes`,
      ...top.map(([name, n]) => cut(`${n}× ${name}`, LABEL_CHARS)),
      "(click to expand)",
    ];
    groups.set(key, groupNode(key, lines, key, chain.members.length));
  }

  // Entry points: the roots, then every other node nothing points to, oldest first.
  const entries = [...graph.roots.filter((r) => nodes.has(r))];
  const entrySet = new Set(entries);
  const orphans = [...nodes.keys()]
    .filter((id) => !(indeg.get(id) || 0) && !entrySet.has(id))
    .sort((a, b) => idNumber(a) - idNumber(b));
  entries.push(...orphans);

  /** @type {string[]} */
  const kept = [];
  /** @type {Set<string>} */
  const keptSet = new Set();
  const keep = (/** @type {string} */ id) => {
    keptSet.add(id);
    kept.push(id);
  };
  let truncated = false;
  for (const entry of entries) {
    const start = land(entry);
    if (start === null || keptSet.has(start)) continue;
    if (kept.length >= maxNodes) {
      truncated = true;
      break;
    }
    keep(start);
    const queue = [start];
    for (let head = 0; head < queue.length; head++) {
      for (const link of links(queue[head])) {
        if (keptSet.has(link.target)) continue;
        if (kept.length >= maxNodes) {
          truncated = true;
          continue;
        }
        keep(link.target);
        queue.push(link.target);
      }
    }
  }

  /** @type {DrawNode[]} */
  const drawNodes = [];
  let shown = 0;
  for (const id of kept) {
    const group = groups.get(id);
    if (group) {
      drawNodes.push(group);
      continue;
    }
    const node = nodes.get(id);
    if (!node) continue;
    const { lines, classes } = describe(node);
    drawNodes.push({ id, kind: node.kind, node, lines, classes, ...boxSize(lines) });
    shown += 1;
  }

  /** @type {DrawEdge[]} */
  const drawEdges = [];
  /** @type {Set<string>} */
  const toMore = new Set();
  for (const id of kept) {
    for (const link of links(id)) {
      if (!keptSet.has(link.target)) {
        toMore.add(id);
        continue;
      }
      const edge = link.edge;
      const classes = ["edge"];
      let badge = "";
      if (edge) {
        classes.push(`kind-${edge.kind}`);
        if (!edge.requires_grad) classes.push("no-req");
        const grads = edge.grad || [];
        if (grads.length) {
          classes.push("has-grad");
          badge = cut(`∇ ${grads[grads.length - 1].preview ?? ""}`, 26);
        }
      } else {
        classes.push("to-group");
      }
      drawEdges.push({
        id: edge ? edge.id : `${id}->${link.target}`,
        source: id,
        target: link.target,
        edge,
        classes,
        badge,
      });
    }
  }
  const hiddenCount = nodes.size - shown - [...groups.values()]
    .filter((g) => keptSet.has(g.id))
    .reduce((sum, g) => sum + (g.hidden || 0), 0);
  if (truncated || toMore.size) {
    const lines = [`+${Math.max(hiddenCount, 1)} more nodes`, "(click to show more)"];
    drawNodes.push(groupNode("more", lines, "more", hiddenCount));
    let count = 0;
    for (const source of toMore) {
      if (count++ >= 40) break; // the node stays visible; a thousand edges into it would not help
      drawEdges.push({ id: `${source}->more`, source, target: "more", edge: null, classes: ["edge", "to-group"], badge: "" });
    }
  }
  return { nodes: drawNodes, edges: drawEdges, total: nodes.size, shown };
}
