// DOT text for Graphviz. The layout DOT carries no user text at all: nodes are named d0, d1…
// and sized from the label lines we draw ourselves. The graph DOT (toolbar "DOT" button) does
// carry labels, escaped as afnio_widgets.to_dot escapes them.

/** @typedef {import("./collapse.js").DrawGraph} DrawGraph */

/**
 * Escapes text for a double-quoted DOT string: backslashes and quotes are escaped, line breaks
 * become the `\n` escape, other control characters are dropped.
 * @param {string} text
 * @returns {string}
 */
export function dotEscape(text) {
  return String(text)
    .replace(/\\/g, "\\\\")
    .replace(/"/g, '\\"')
    .replace(/\r\n?/g, "\n")
    .replace(/\n/g, "\\n")
    // biome-ignore lint: control characters are what we remove
    .replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, "");
}

/**
 * A double-quoted DOT string.
 * @param {string} text
 */
export function dotString(text) {
  return `"${dotEscape(text)}"`;
}

/**
 * @typedef {object} LayoutDot
 * @property {string} source DOT text.
 * @property {string[]} names Draw-node id for each DOT node name d<i>.
 */

/**
 * @typedef {object} DotOptions
 * @property {"dot" | "sfdp"} engine
 * @property {string} [rankdir]
 * @property {boolean} [limits] Cheaper `dot` settings for large or dense graphs.
 */

/**
 * DOT for laying out a draw graph (sizes in inches, 72 px each).
 * @param {DrawGraph} draw
 * @param {DotOptions} options
 * @returns {LayoutDot}
 */
export function layoutDot(draw, options) {
  /** @type {Map<string, string>} */
  const name = new Map();
  const names = draw.nodes.map((n, i) => {
    name.set(n.id, `d${i}`);
    return n.id;
  });
  const graphAttrs =
    options.engine === "sfdp"
      ? ["overlap=scale", "splines=false", "outputorder=edgesfirst", "K=1.2", "sep=\"+6\""]
      : [
          `rankdir=${options.rankdir === "LR" ? "LR" : "TB"}`,
          "nodesep=0.25",
          "ranksep=0.35",
          "outputorder=edgesfirst",
          ...(options.limits
            ? ["nslimit=2", "nslimit1=2", "mclimit=0.3", "searchsize=20", "remincross=false"]
            : []),
        ];
  const lines = [
    "digraph G {",
    `graph [${graphAttrs.join(", ")}];`,
    'node [shape=box, fixedsize=true, label="", margin=0];',
    `edge [arrowsize=0.6, fontname="Courier", fontsize=${BADGE_FONT}];`,
  ];
  draw.nodes.forEach((n, i) => {
    lines.push(`d${i} [width=${(n.width / 72).toFixed(3)}, height=${(n.height / 72).toFixed(3)}];`);
  });
  /** @type {Map<string, string[]>} */
  const children = new Map();
  draw.edges.forEach((e, i) => {
    const s = name.get(e.source);
    const t = name.get(e.target);
    if (!s || !t) return;
    // A gradient badge gets room from Graphviz as an edge label of the same size; the label
    // is a run of "x" (monospace, like the badge), never the text itself.
    const label = e.badge && options.engine !== "sfdp" ? `, label="${"x".repeat(e.badge.length + 1)}"` : "";
    lines.push(`${s} -> ${t} [id=x${i}${label}];`);
    const list = children.get(s) || [];
    list.push(t);
    children.set(s, list);
  });
  if (options.engine !== "sfdp" && draw.nodes.length <= ROWS_UP_TO) {
    // A node with many children would put them all in one row: stack them in rows of ROW with
    // invisible edges from each child to the one ROW places further.
    for (const list of children.values()) {
      if (list.length <= ROW) continue;
      for (let i = 0; i + ROW < list.length; i++) lines.push(`${list[i]} -> ${list[i + ROW]} [style=invis];`);
    }
  }
  lines.push("}");
  return { source: lines.join("\n"), names };
}

/** Font size of gradient badges (px); Courier is 0.6 em wide per character. */
export const BADGE_FONT = 9.5;
/** Width of a badge of `n` characters, as Graphviz reserves it. */
export const badgeWidth = (/** @type {number} */ n) => (n + 1) * BADGE_FONT * 0.6 + 4;

/** The most children of one node laid out side by side. */
export const ROW = 12;
/** Rows cost `dot` time: graphs of more drawn nodes than this (which "Fit" cannot show
 * readably anyway) keep their fans in one row. */
const ROWS_UP_TO = 400;

// ---- the DOT of a whole graph, identical to afnio_widgets.to_dot ----------------------------
// The toolbar's "DOT" button downloads what `afnio_widgets.to_dot(view).source` gives in Python
// (tests/widgets/test_dot_js.py runs both on the same graphs): one DOT, with or without a kernel.

/** @typedef {import("./contract.js").GraphNode} GraphNode */
/** @typedef {import("./contract.js").GraphEdge} GraphEdge */

// Python's str.split() whitespace.
const PY_SPACE = /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/;

/**
 * Python's `repr` of a JSON scalar.
 * @param {unknown} value
 * @param {string} [dtype]
 */
function pyRepr(value, dtype) {
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number") return dtype === "float" && Number.isInteger(value) ? value.toFixed(1) : String(value);
  return JSON.stringify(value) ?? String(value);
}

/**
 * afnio_widgets._graph.preview: one line, at most `limit` characters (code points).
 * @param {unknown} value
 * @param {number} limit
 * @param {{dtype?: string, batch?: number | null}} [info]
 * @returns {string}
 */
export function pyPreview(value, limit, info = {}) {
  let text;
  if (Array.isArray(value)) {
    const n = info.batch ?? value.length;
    const head = `[${n} item${n === 1 ? "" : "s"}]`;
    const first = value.find((item) => item !== null && item !== undefined);
    text = first === undefined ? head : `${head} ${pyPreview(first, limit)}`;
  } else if (value === null || value === undefined) {
    text = "None";
  } else if (typeof value === "string") {
    text = Array.from(value).slice(0, limit * 4).join("").split(PY_SPACE).filter(Boolean).join(" ");
  } else {
    text = pyRepr(value, info.dtype);
  }
  const chars = Array.from(text);
  return chars.length <= limit ? text : `${chars.slice(0, limit - 1).join("")}…`;
}

const COMBINED = /^\s*Here is the combined feedback we got for this specific [\s\S]*? and other variables:\s*/;
const SAMPLE = /^Feedback from sample (\d+) of (\d+):\n/gm;

/**
 * afnio_widgets._feedback.feedback_text: feedback without afnio's wrappers.
 * @param {string} text
 * @returns {string}
 */
export function feedbackText(text) {
  for (;;) {
    const stripped = text.replace(COMBINED, "");
    if (stripped === text) break;
    text = stripped;
  }
  const matches = [...text.matchAll(SAMPLE)];
  if (!matches.length) return text.trim();
  /** @type {string[]} */
  const parts = [];
  const head = text.slice(0, matches[0].index).trim();
  if (head) parts.push(feedbackText(head));
  matches.forEach((m, k) => {
    const end = k + 1 < matches.length ? matches[k + 1].index : text.length;
    parts.push(`[${m[1]}] ${feedbackText(text.slice((m.index ?? 0) + m[0].length, end).trim())}`);
  });
  return parts.join(" ");
}

/**
 * afnio_widgets._feedback.feedback_preview.
 * @param {unknown} data
 * @param {number} limit
 */
export function feedbackPreview(data, limit) {
  if (typeof data === "string") return pyPreview(feedbackText(data), limit);
  if (Array.isArray(data)) return pyPreview(data.map((x) => (typeof x === "string" ? feedbackText(x) : x)), limit);
  return pyPreview(data, limit);
}

/**
 * afnio_widgets._dot.dot_escape: quotes and backslashes escaped, lines joined by `\l`, other
 * control characters dropped.
 * @param {string} text
 */
function pyDotEscape(text) {
  const lines = text.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\r\n|\r/g, "\n").split("\n");
  // biome-ignore lint: control characters are what we remove
  const cleaned = lines.map((line) => line.replace(/[\u0000-\u0008\u000a-\u001f]/g, ""));
  return cleaned.length > 1 ? cleaned.join("\\l") : cleaned[0];
}

const DOT_ID = /^([a-zA-Z_][a-zA-Z0-9_]*|-?(\.[0-9]+|[0-9]+(\.[0-9]*)?))$/;
const DOT_KEYWORDS = new Set(["node", "edge", "graph", "digraph", "subgraph", "strict"]);

/**
 * The `graphviz` package's quoting of an identifier or attribute value.
 * @param {string} text
 */
function pyQuote(text) {
  if (DOT_ID.test(text) && !DOT_KEYWORDS.has(text.toLowerCase())) return text;
  return `"${text.replace(/((?:\\\\)*)\\?"/g, '$1\\"')}"`;
}

/**
 * An attribute list as the `graphviz` package writes it: label first, then sorted keys.
 * @param {Record<string, string>} attrs
 */
function pyAttrs(attrs) {
  const { label, ...rest } = attrs;
  const items = label !== undefined ? [`label=${pyQuote(label)}`] : [];
  for (const key of Object.keys(rest).sort()) items.push(`${pyQuote(key)}=${pyQuote(rest[key])}`);
  return items.length ? ` [${items.join(" ")}]` : "";
}

/** @param {string[]} lines */
function pyLabel(...lines) {
  return lines.filter(Boolean).map(pyDotEscape).join("\\n");
}

const DOT_STYLE = {
  parameter: { fillcolor: "#cfe3ff", color: "#2f6fd0" },
  leaf: { fillcolor: "#d9f2d9", color: "#3a8a3a" },
  variable: { fillcolor: "#ffffff", color: "#777777" },
  function: { fillcolor: "#eeeeee", color: "#555555" },
};

/**
 * @param {GraphNode} node
 * @param {number} width
 */
function nodeLabel(node, width) {
  if (node.kind === "function") {
    const calls = (node.calls || []).length;
    const extra = calls ? `${calls} model call${calls !== 1 ? "s" : ""}` : "";
    return pyLabel(node.name + (node.no_grad ? " (no grad)" : ""), extra);
  }
  const flags = [];
  if (node.is_parameter) flags.push("parameter");
  else if (node.is_leaf && node.requires_grad) flags.push("leaf");
  if (node.requires_grad) flags.push("requires_grad");
  if (node.no_grad) flags.push("no grad");
  const grads = node.grad || [];
  const grad = grads.length ? `grad: ${gradPreview(grads[grads.length - 1], width)}` : "";
  // The kernel's 60-character preview, cut further, is what Python's preview gives at `width`
  // (and knows what JSON forgets: 4.0 is a float).
  const data = typeof node.preview === "string" && width <= PREVIEW_CHARS ? cutChars(node.preview, width) : pyPreview(node.data, width, { dtype: node.dtype, batch: node.batch });
  return pyLabel(pyPreview(node.role || "variable", width), data, flags.join(", "), grad);
}

const PREVIEW_CHARS = 60;

/**
 * @param {string} text
 * @param {number} limit
 */
function cutChars(text, limit) {
  const chars = Array.from(text);
  return chars.length <= limit ? text : `${chars.slice(0, limit - 1).join("")}…`;
}

/**
 * @param {import("./contract.js").Gradient} g
 * @param {number} width
 */
function gradPreview(g, width) {
  return typeof g.preview === "string" && width <= PREVIEW_CHARS ? cutChars(g.preview, width) : feedbackPreview(g.data, width);
}

/**
 * The whole graph as DOT, exactly as `afnio_widgets.to_dot(graph).source`.
 * @param {{nodes: Iterable<GraphNode>, edges: Iterable<GraphEdge>}} graph
 * @param {{rankdir?: string, width?: number}} [options]
 * @returns {string}
 */
export function graphDot(graph, options = {}) {
  const width = options.width ?? 40;
  const nodes = [...graph.nodes];
  /** @type {Map<string, string>} */
  const names = new Map(nodes.map((n, i) => [n.id, `n${i}`]));
  const lines = [
    "digraph afnio {",
    `\tgraph${pyAttrs({ rankdir: options.rankdir ?? "TB" })}`,
    `\tnode${pyAttrs({ fontname: "Helvetica", fontsize: "10", style: "filled" })}`,
    `\tedge${pyAttrs({ fontname: "Helvetica", fontsize: "9", color: "#666666" })}`,
  ];
  for (const node of nodes) {
    /** @type {Record<string, string>} */
    let attrs;
    if (node.kind === "function") {
      attrs = { shape: "ellipse", ...DOT_STYLE.function };
    } else {
      const kind = node.is_parameter ? "parameter" : node.is_leaf && node.requires_grad ? "leaf" : "variable";
      attrs = { shape: "box", ...DOT_STYLE[kind] };
    }
    if (node.no_grad) attrs.style = "filled,dashed";
    if (node.kind === "variable" && node.is_root) attrs.penwidth = "2";
    lines.push(`\t${pyQuote(/** @type {string} */ (names.get(node.id)))}${pyAttrs({ label: nodeLabel(node, width), ...attrs })}`);
  }
  for (const edge of graph.edges) {
    const source = names.get(edge.source);
    const target = names.get(edge.target);
    if (!source || !target) continue;
    /** @type {Record<string, string>} */
    const attrs = {};
    if ((edge.kind === "output" || edge.kind === "next") && edge.output_nr) attrs.headlabel = `output ${edge.output_nr}`;
    if (edge.requires_grad === false) attrs.style = "dashed";
    const grads = edge.grad || [];
    if (grads.length) {
      attrs.label = pyLabel(gradPreview(grads[grads.length - 1], width));
      attrs.color = "#c0392b";
    }
    lines.push(`\t${source} -> ${target}${pyAttrs(attrs)}`);
  }
  lines.push("}");
  return `${lines.join("\n")}\n`;
}
