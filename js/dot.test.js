import { describe, expect, it } from "vitest";
import { buildDrawGraph } from "./collapse.js";
import { dotEscape, exportDot, layoutDot } from "./dot.js";
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

describe("export DOT", () => {
  it("escapes labels so hostile text stays one label of one node", async () => {
    const nodes = HOSTILE.map((text, i) => variable(`n${i}`, { role: text, preview: "x" }));
    const draw = buildDrawGraph(graphOf(nodes), { collapse: true, maxNodes: 100, expanded: new Set() });
    const dot = exportDot(draw);
    const out = JSON.parse(await layout(dot, "dot"));
    expect(out.objects.length).toBe(HOSTILE.length);
    const labels = out.objects.map((/** @type {any} */ o) => o.label);
    draw.nodes.forEach((node, i) => {
      // Graphviz keeps label escapes (\\, \n) to apply when drawing; quotes come back unescaped.
      expect(labels[i]).toBe(node.lines.map((line) => line.replace(/\\/g, "\\\\")).join("\\n"));
    });
  });
});
