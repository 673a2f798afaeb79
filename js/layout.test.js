import { describe, expect, it } from "vitest";
import { buildDrawGraph } from "./collapse.js";
import { ROW, badgeWidth, layoutDot } from "./dot.js";
import { chooseEngine, parseLayout } from "./layout.js";
import { layout } from "./layout-worker.js";
import { comb, fan } from "./test-helpers.js";

/** Lays out a draw graph with Graphviz in this process; returns the layout and the time taken. */
async function run(/** @type {import("./collapse.js").DrawGraph} */ draw, /** @type {"dot" | "sfdp"} */ engine) {
  const { limits } = chooseEngine(draw, "auto");
  const dot = layoutDot(draw, { engine, limits });
  const started = performance.now();
  const json = await layout(dot.source, engine);
  return { layout: parseLayout(json, dot.names), ms: performance.now() - started };
}

describe("layout", () => {
  it("places every node and routes every edge (dot)", async () => {
    const draw = buildDrawGraph(comb(5), { collapse: false, maxNodes: 500, expanded: new Set() });
    const { layout: result } = await run(draw, "dot");
    expect(result.nodes.size).toBe(draw.nodes.length);
    expect(result.edges.size).toBe(draw.edges.length);
    for (const box of result.nodes.values()) {
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.y).toBeGreaterThanOrEqual(0);
      expect(box.x).toBeLessThanOrEqual(result.width + 1);
      expect(box.y).toBeLessThanOrEqual(result.height + 1);
    }
    const root = /** @type {import("./layout.js").NodeBox} */ (result.nodes.get(draw.nodes[0].id));
    const leafAcc = /** @type {import("./layout.js").NodeBox} */ (result.nodes.get(draw.nodes[draw.nodes.length - 1].id));
    expect(root.y).toBeLessThan(leafAcc.y); // gradients flow downwards
    for (const path of result.edges.values()) {
      expect(path.d).toMatch(/^M[\d.]+,[\d.]+ C/);
      expect(path.tip).not.toBeNull();
    }
  });

  it("sfdp gives straight edges that stop at the boxes", async () => {
    const draw = buildDrawGraph(fan(10), { collapse: false, maxNodes: 500, expanded: new Set() });
    const { layout: result } = await run(draw, "sfdp");
    expect(result.nodes.size).toBe(draw.nodes.length);
    expect(result.edges.size).toBe(draw.edges.length);
  });

  it("stacks the children of a wide fan in rows, never one long line", async () => {
    const draw = buildDrawGraph(fan(60), { collapse: false, maxNodes: 500, expanded: new Set() });
    const { layout: result } = await run(draw, "dot");
    expect(result.edges.size).toBe(draw.edges.length); // the invisible edges are not drawn
    /** @type {Map<number, number>} */
    const perRow = new Map();
    for (let i = 0; i < 60; i++) {
      const box = /** @type {import("./layout.js").NodeBox} */ (result.nodes.get(`x${i}`));
      perRow.set(Math.round(box.y), (perRow.get(Math.round(box.y)) || 0) + 1);
    }
    expect(Math.max(...perRow.values())).toBeLessThanOrEqual(ROW);
    expect(perRow.size).toBeGreaterThanOrEqual(5);
  });

  it("keeps room for gradient badges: no badge overlaps a node or another badge", async () => {
    // A row of leaves that all got feedback (the badges used to pile up), under a Sum.
    const graph = fan(12);
    for (const e of graph.edges.values()) {
      e.grad = [{ data: "x", role: "feedback", preview: `Here is the feedback for edge ${e.id} of the graph`, backward_id: 1 }];
    }
    const draw = buildDrawGraph(graph, { collapse: false, maxNodes: 500, expanded: new Set() });
    const { layout: result } = await run(draw, "dot");
    /** @typedef {{x0: number, y0: number, x1: number, y1: number, what: string}} Box */
    /** @type {Box[]} */
    const nodes = [...result.nodes.entries()].map(([id, b]) => ({ x0: b.x - b.width / 2, y0: b.y - b.height / 2, x1: b.x + b.width / 2, y1: b.y + b.height / 2, what: id }));
    /** @type {Box[]} */
    const badges = [];
    draw.edges.forEach((e, i) => {
      if (!e.badge) return;
      const label = result.edges.get(`x${i}`)?.label;
      expect(label, e.id).toBeTruthy();
      const w = badgeWidth(e.badge.length);
      const [x, y] = /** @type {[number, number]} */ (label);
      badges.push({ x0: x - w / 2, y0: y - 7, x1: x + w / 2, y1: y + 7, what: e.id });
    });
    expect(badges.length).toBeGreaterThan(30);
    const overlap = (/** @type {Box} */ a, /** @type {Box} */ b) => a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
    const clashes = [];
    for (const [i, a] of badges.entries()) {
      for (const n of nodes) if (overlap(a, n)) clashes.push(`${a.what} over ${n.what}`);
      for (const b of badges.slice(i + 1)) if (overlap(a, b)) clashes.push(`${a.what} over ${b.what}`);
    }
    expect(clashes).toEqual([]);
  });

  it("picks cheaper settings for big or dense graphs", () => {
    const small = buildDrawGraph(comb(3), { collapse: false, maxNodes: 500, expanded: new Set() });
    expect(chooseEngine(small, "auto")).toEqual({ engine: "dot", limits: false });
    const big = buildDrawGraph(fan(60), { collapse: false, maxNodes: 500, expanded: new Set() });
    expect(chooseEngine(big, "auto")).toEqual({ engine: "dot", limits: true });
    expect(chooseEngine(small, "sfdp").engine).toBe("sfdp");
  });

  it("parses splines and falls back to straight edges", () => {
    const json = JSON.stringify({
      bb: "0,0,100,200",
      objects: [
        { _gvid: 0, name: "d0", pos: "50,180", width: "1", height: "0.5" },
        { _gvid: 1, name: "d1", pos: "50,20", width: "1", height: "0.5" },
      ],
      edges: [
        { _gvid: 0, tail: 0, head: 1, id: "x0", pos: "e,50,38 50,162 50,120 50,80 50,48" },
        { _gvid: 1, tail: 0, head: 1, id: "x1" },
      ],
    });
    const result = parseLayout(json, ["a", "b"]);
    expect(result.nodes.get("a")).toEqual({ x: 50, y: 20, width: 72, height: 36 });
    expect(result.edges.get("x0")?.d).toBe("M50.0,38.0 C50.0,80.0 50.0,120.0 50.0,152.0");
    expect(result.edges.get("x0")?.tip).toEqual([50, 162]);
    const straight = result.edges.get("x1");
    expect(straight?.tip?.[1]).toBeCloseTo(162);
  });

  it("lays out 100, 1,000 and 5,000-node graphs within budget (timings logged)", async () => {
    /** @type {Record<string, string>} */
    const timings = {};
    /** @type {[number, boolean, "dot" | "sfdp"][]} */
    const cases = [
      [100, false, "dot"],
      [1000, true, "dot"],
      [1000, false, "dot"],
      [1000, false, "sfdp"],
      [5000, true, "dot"],
      [5000, false, "sfdp"],
    ];
    for (const [n, collapse, engine] of cases) {
      // A batch of n/3 branches sharing one prompt: what a large afnio graph looks like.
      const graph = fan(Math.round(n / 3));
      const draw = buildDrawGraph(graph, { collapse, maxNodes: collapse ? 300 : n + 10, expanded: new Set() });
      const { ms } = await run(draw, engine);
      timings[`${graph.nodes.size} nodes ${collapse ? "collapsed" : "all drawn"}: ${draw.nodes.length} drawn, ${engine}`] = `${ms.toFixed(0)} ms`;
      expect(ms).toBeLessThan(engine === "sfdp" ? 20000 : 5000);
    }
    console.log("layout timings", timings);
  }, 120000);
});
