import { describe, expect, it } from "vitest";
import { buildDrawGraph } from "./collapse.js";
import { dotEscape, feedbackPreview, graphDot, layoutDot } from "./dot.js";
import { layout } from "./layout-worker.js";
import { HOSTILE, comb, variable } from "./test-helpers.js";

/** @param {import("./contract.js").GraphNode[]} nodes */
function graphOf(nodes) {
  return { nodes: new Map(nodes.map((n) => [n.id, n])), edges: new Map(), roots: [] };
}

describe("dotEscape", () => {
  it("escapes quotes and backslashes and keeps line breaks as \\n", () => {
    expect(dotEscape('a"b')).toBe('a\\"b');
    expect(dotEscape("a\\b")).toBe("a\\\\b");
    expect(dotEscape('\\"')).toBe('\\\\\\"');
    expect(dotEscape("a\r\nb\nc")).toBe("a\\nb\\nc");
    expect(dotEscape("bell\u0007tab\t")).toBe("belltab\t");
    expect(dotEscape("a:b")).toBe("a:b");
  });
});

describe("layout DOT", () => {
  it("carries no user text, only generated names and sizes", () => {
    const nodes = HOSTILE.map((text, i) => variable(`n${i}`, { role: text, preview: text }));
    const draw = buildDrawGraph(graphOf(nodes), { collapse: true, maxNodes: 100, expanded: new Set() });
    const { source, names } = layoutDot(draw, { engine: "dot" });
    for (const text of HOSTILE) expect(source).not.toContain(text);
    expect(source).not.toMatch(/label="[^"]/);
    expect(names).toEqual(nodes.map((n) => n.id));
    expect(source.match(/^d\d+ \[/gm)?.length).toBe(HOSTILE.length);
  });

  it("uses cheaper settings when asked", () => {
    const draw = buildDrawGraph(comb(3), { collapse: false, maxNodes: 100, expanded: new Set() });
    expect(layoutDot(draw, { engine: "dot", limits: true }).source).toContain("nslimit=2");
    expect(layoutDot(draw, { engine: "sfdp" }).source).toContain("splines=false");
  });
});

describe("graph DOT (the DOT button)", () => {
  it("escapes labels so hostile text stays one label of one node", async () => {
    const nodes = HOSTILE.map((text, i) => variable(`n${i}`, { role: text, data: "x" }));
    const dot = graphDot({ nodes, edges: [] });
    const out = JSON.parse(await layout(dot, "dot"));
    expect(out.objects.length).toBe(HOSTILE.length);
    out.objects.forEach((/** @type {any} */ o, /** @type {number} */ i) => {
      // Graphviz keeps label escapes (\\, \n) to apply when drawing; quotes come back unescaped.
      expect(o.label.split("\\n")[0]).toBe(HOSTILE[i].replace(/\\/g, "\\\\"));
    });
  });

  it("previews the feedback, not afnio's wrappers", () => {
    const wrapped = "Here is the combined feedback we got for this specific a and other variables: Be brief.";
    expect(feedbackPreview(wrapped, 40)).toBe("Be brief.");
    expect(feedbackPreview(["Feedback from sample 1 of 2:\nShorter.\n\nFeedback from sample 2 of 2:\nLonger."], 60)).toBe("[1 item] [1] Shorter. [2] Longer.");
    // beyond the kernel's 60-character preview, the data itself
    const leaf = variable("n0", { is_leaf: true, grad: [{ data: wrapped, role: "feedback to a", preview: "Be brief.", backward_id: 1 }] });
    expect(graphDot({ nodes: [leaf], edges: [] }, { width: 80 })).toContain("grad: Be brief.");
  });
});
