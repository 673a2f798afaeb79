import { describe, expect, it } from "vitest";
import { GraphStore, parseGraph } from "./store.js";
import { edge, fn, variable } from "./test-helpers.js";

/** @returns {import("./contract.js").Graph} */
const graph = () => ({
  format: "afnio-graph",
  version: 1,
  roots: ["n0"],
  nodes: [variable("n0"), fn("n1")],
  edges: [edge("n0", "n1", { id: "e0", kind: "output" })],
  backward: { id: null, status: "idle", error: null, visited: 0 },
});

describe("GraphStore", () => {
  it("takes the graph trait and says which changes need a new layout", () => {
    const store = new GraphStore();
    /** @type {boolean[]} */
    const changes = [];
    store.subscribe((c) => changes.push(c.structural));
    store.setGraph(graph());
    expect(store.nodes.size).toBe(2);
    store.setGraph({ ...graph(), nodes: [variable("n0"), fn("n1", { state: "running" })] });
    expect(/** @type {any} */ (store.nodes.get("n1")).state).toBe("running");
    const g = graph();
    store.setGraph({ ...g, nodes: [...g.nodes, variable("n2")], edges: [...g.edges, edge("n1", "n2", { id: "e1" })], backward: { id: 1, status: "running", error: null, visited: 0 } });
    expect(store.edges.size).toBe(2);
    expect(store.backward.status).toBe("running");
    store.setGraph({ ...g, roots: ["n1"] });
    expect(changes).toEqual([true, false, true, true]);
    expect(store.version).toBe(4);
    expect(store.edgesOf("n1").in.map((e) => e.id)).toEqual(["e0"]);
  });

  it("reads a missing, empty or unreadable trait as an empty graph", () => {
    expect(parseGraph(JSON.stringify(graph()))?.nodes?.length).toBe(2);
    expect([parseGraph(""), parseGraph(undefined), parseGraph("{cut"), parseGraph("3")]).toEqual([null, null, null, null]);
    const store = new GraphStore();
    store.setGraph(undefined);
    store.setGraph(/** @type {any} */ ({}));
    expect(store.nodes.size).toBe(0);
    expect(store.backward.status).toBe("idle");
  });

  it("keeps details until the item changes", () => {
    const store = new GraphStore();
    store.setGraph(graph());
    store.setDetails("n0", variable("n0", { data: "full text" }));
    expect(/** @type {any} */ (store.item("n0")).data).toBe("full text");
    store.setGraph(graph());
    expect(/** @type {any} */ (store.item("n0")).data).toBe("full text");
    store.setGraph({ ...graph(), nodes: [variable("n0", { role: "new" }), fn("n1")] });
    expect(/** @type {any} */ (store.item("n0")).data).toBe("data n0");
  });
});
