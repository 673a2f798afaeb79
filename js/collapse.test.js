import { describe, expect, it } from "vitest";
import { boxSize, buildDrawGraph, describe as describeNode } from "./collapse.js";
import { comb, fan, fn, variable } from "./test-helpers.js";

const options = (/** @type {Partial<import("./collapse.js").DrawOptions>} */ extra = {}) => ({ collapse: true, maxNodes: 300, expanded: new Set(), ...extra });

describe("describe", () => {
  it("labels and classes of nodes", () => {
    const v = describeNode(variable("a", { is_parameter: true, is_leaf: true, grad: [{ data: "g", role: "r", preview: "g", backward_id: 1 }] }));
    expect(v.lines[2]).toBe("parameter · grad");
    expect(v.classes).toEqual(expect.arrayContaining(["var", "param", "has-grad"]));
    const f = describeNode(fn("f", { calls: [{}, {}], state: "running" }));
    expect(f.lines).toEqual(["AddBackward0", "2 model calls"]);
    expect(f.classes).toEqual(expect.arrayContaining(["fn", "state-running", "has-calls"]));
    expect(describeNode(variable("c", { requires_grad: false, no_grad: true })).classes).toEqual(expect.arrayContaining(["const", "no-grad"]));
  });

  it("sizes boxes from their text", () => {
    expect(boxSize(["abcd"]).width).toBeLessThan(boxSize(["abcdefghijklmnop"]).width);
    expect(boxSize(["a", "b", "c"]).height).toBeGreaterThan(boxSize(["a"]).height);
  });
});

describe("buildDrawGraph", () => {
  it("draws small graphs whole", () => {
    const draw = buildDrawGraph(comb(2), options());
    expect(draw.shown).toBe(draw.total);
    expect(draw.nodes.every((n) => n.kind !== "group")).toBe(true);
    expect(draw.edges.length).toBe(7);
  });

  it("collapses a long chain (with its pendants) into one node, expandable", () => {
    const graph = comb(50);
    const draw = buildDrawGraph(graph, options());
    const chains = draw.nodes.filter((n) => n.id.startsWith("chain:"));
    expect(chains.length).toBe(1);
    expect(chains[0].lines[0]).toMatch(/^chain of \d+ nodes$/);
    expect(draw.nodes.length).toBeLessThan(15);
    const expanded = buildDrawGraph(graph, options({ expanded: new Set([/** @type {string} */ (chains[0].expand)]) }));
    expect(expanded.shown).toBe(graph.nodes.size);
    expect(buildDrawGraph(graph, options({ collapse: false })).shown).toBe(graph.nodes.size);
  });

  it("groups a wide fan of inputs", () => {
    const draw = buildDrawGraph(fan(40), options());
    const group = draw.nodes.find((n) => n.id === "fan:sum");
    expect(group?.lines[0]).toBe("+37 more inputs");
    expect(draw.edges.filter((e) => e.source === "sum").length).toBe(4);
    const open = buildDrawGraph(fan(40), options({ expanded: new Set(["fan:sum"]) }));
    expect(open.nodes.find((n) => n.id === "fan:sum")).toBeUndefined();
    expect(open.shown).toBe(open.total);
  });

  it("opens a wide fan a page of 24 inputs per click", () => {
    const expanded = new Set();
    /** @type {number[]} */
    const inputs = [];
    for (let click = 0; click < 20; click++) {
      const draw = buildDrawGraph(fan(330), options({ expanded, maxNodes: 2000 }));
      inputs.push(draw.edges.filter((e) => e.source === "sum" && e.target !== "fan:sum").length);
      const group = draw.nodes.find((n) => n.id === "fan:sum");
      if (!group) break;
      expect(group.lines[0]).toBe(`+${330 - inputs[inputs.length - 1]} more inputs`);
      expanded.add(/** @type {string} */ (group.expand));
    }
    expect(inputs.slice(0, 4)).toEqual([3, 27, 51, 75]);
    expect(inputs[inputs.length - 1]).toBe(330);
    expect(inputs.length).toBe(15); // 3 + 13 × 24 = 315, then the last 15
  });

  it("never draws more than maxNodes, and says how many are hidden", () => {
    const draw = buildDrawGraph(fan(400), options({ collapse: false, maxNodes: 100 }));
    expect(draw.shown).toBeLessThanOrEqual(100);
    const more = draw.nodes.find((n) => n.id === "more");
    expect(more?.lines[0]).toMatch(/^\+\d+ more nodes$/);
    expect(draw.edges.some((e) => e.target === "more")).toBe(true);
    for (const e of draw.edges) {
      expect(draw.nodes.some((n) => n.id === e.source)).toBe(true);
      expect(draw.nodes.some((n) => n.id === e.target)).toBe(true);
    }
  });

  it("starts from every node nothing points to, oldest first (live views)", () => {
    const graph = fan(3);
    graph.roots = [];
    const draw = buildDrawGraph(graph, options());
    expect(draw.nodes[0].id).toBe("root");
  });

  it("folds a sub-module (nodes sharing a group) into one node in large graphs", () => {
    const graph = fan(30);
    for (let i = 0; i < 30; i++) {
      const add = /** @type {import("./contract.js").FunctionNode} */ (graph.nodes.get(`add${i}`));
      add.group = i % 2 ? "agent.chat" : "agent.chat.inner"; // nested modules fold into their parent
    }
    /** @type {import("./contract.js").FunctionNode} */ (graph.nodes.get("sum")).group = "agent"; // the outermost never folds
    const draw = buildDrawGraph(graph, options({ fanMax: 100 }));
    const module = draw.nodes.find((n) => n.id === "module:agent.chat");
    expect(module?.lines).toEqual(["module agent.chat", "60 nodes", "(click to expand)"]);
    expect(draw.nodes.some((n) => n.id.startsWith("add"))).toBe(false);
    expect(draw.edges.some((e) => e.source === "module:agent.chat" && e.target === "prompt")).toBe(true);
    expect(draw.edges.filter((e) => e.source === "sum" && e.target === "module:agent.chat").length).toBe(1);
    const open = buildDrawGraph(graph, options({ fanMax: 100, expanded: new Set(["module:agent.chat"]) }));
    expect(open.nodes.some((n) => n.id === "add0")).toBe(true);
    const small = buildDrawGraph(fan(3), options());
    expect(small.nodes.some((n) => n.id.startsWith("module:"))).toBe(false);
  });

  it("marks edges that carried gradients", () => {
    const graph = comb(1);
    const first = [...graph.edges.values()][1];
    first.grad = [{ data: "be brief", role: "feedback", preview: "be brief", backward_id: 1 }];
    const draw = buildDrawGraph(graph, options());
    const drawn = draw.edges.find((e) => e.id === first.id);
    expect(drawn?.badge).toBe("∇ be brief");
    expect(drawn?.classes).toContain("has-grad");
  });
});
