// DOT text for Graphviz. The layout DOT carries no user text at all: nodes are named d0, d1…
// and sized from the label lines we draw ourselves. The export DOT (toolbar "DOT" button) does
// carry labels, escaped with dotEscape.

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

/**
 * DOT of what is drawn, with escaped labels, for people (the toolbar's "DOT" button).
 * @param {DrawGraph} draw
 * @returns {string}
 */
export function exportDot(draw) {
  /** @type {Map<string, string>} */
  const name = new Map(draw.nodes.map((n, i) => [n.id, `n${i}`]));
  const lines = ["digraph afnio {", 'node [fontname="Helvetica", fontsize=10];'];
  draw.nodes.forEach((n, i) => {
    const shape = n.kind === "function" ? "ellipse" : n.kind === "group" ? "folder" : "box";
    lines.push(`n${i} [shape=${shape}, label=${dotString(n.lines.join("\n"))}];`);
  });
  for (const e of draw.edges) {
    const s = name.get(e.source);
    const t = name.get(e.target);
    if (!s || !t) continue;
    lines.push(e.badge ? `${s} -> ${t} [label=${dotString(e.badge)}];` : `${s} -> ${t};`);
  }
  lines.push("}");
  return lines.join("\n");
}
