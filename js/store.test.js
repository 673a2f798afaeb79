import { describe, expect, it } from "vitest";
import { GraphStore } from "./store.js";
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
  it("applies a snapshot then patches", () => {
    const store = new GraphStore();
    /** @type {boolean[]} */
    const changes = [];
    store.subscribe((c) => changes.push(c.structural));
    store.apply({ type: "snapshot", rev: 3, graph: graph() });
    expect(store.nodes.size).toBe(2);
    store.apply({ type: "patch", base: 3, rev: 4, nodes: [{ id: "n1", state: "running" }], edges: [] });
    expect(/** @type {any} */ (store.nodes.get("n1")).state).toBe("running");
    store.apply({ type: "patch", base: 4, rev: 5, nodes: [variable("n2")], edges: [edge("n1", "n2", { id: "e1" })], backward: { id: 1, status: "running", error: null, visited: 0 } });
    expect(store.edges.size).toBe(2);
    expect(store.backward.status).toBe("running");
    expect(changes).toEqual([true, false, true]);
    expect(store.gap).toBe(false);
    expect(store.edgesOf("n1").out.map((e) => e.id)).toEqual(["e1"]);
  });

  it("notices missed messages and heals with the next snapshot", () => {
    const store = new GraphStore();
    store.apply({ type: "patch", base: 2, rev: 3, nodes: [variable("n5"), { id: "n0", state: "done" }], edges: [] });
    expect(store.gap).toBe(true);
    expect(store.nodes.has("n5")).toBe(true);
    expect(store.nodes.has("n0")).toBe(false);
    store.apply({ type: "snapshot", rev: 1, graph: graph() });
    expect(store.gap).toBe(false);
    expect(store.rev).toBe(1);
    expect(store.nodes.has("n5")).toBe(false);
  });

  it("ignores old messages and keeps details until the item changes", () => {
    const store = new GraphStore();
    store.apply({ type: "snapshot", rev: 2, graph: graph() });
    expect(store.apply({ type: "snapshot", rev: 1, graph: { ...graph(), nodes: [] } })).toBe(false);
    expect(store.apply({ type: "patch", base: 1, rev: 2, nodes: [], edges: [] })).toBe(false);
    store.apply({ type: "details", id: "n0", item: variable("n0", { data: "full text" }) });
    expect(/** @type {any} */ (store.item("n0")).data).toBe("full text");
    store.apply({ type: "patch", base: 2, rev: 3, nodes: [{ id: "n0", role: "new" }], edges: [] });
    expect(/** @type {any} */ (store.item("n0")).data).toBe("data n0");
  });
});
