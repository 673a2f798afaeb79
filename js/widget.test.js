// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from "vitest";
import { layout } from "./layout-worker.js";
import { FakeModel, HOSTILE, edge, fn, variable } from "./test-helpers.js";
import widget, { useLayoutRunner } from "./widget.js";
import gradmode from "./gradmode.js";
import training from "./training.js";

useLayoutRunner({ run: (dot, engine) => layout(dot, engine) });

/** @param {() => boolean} check */
async function until(check, ms = 10000) {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > ms) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

const graph = () => ({
  format: "afnio-graph",
  version: 1,
  roots: ["n0"],
  nodes: [variable("n0", { role: HOSTILE[0], is_root: true }), fn("n1"), variable("n2", { is_leaf: true, preview: HOSTILE[1], data: HOSTILE[1] })],
  edges: [edge("n0", "n1", { id: "e0", kind: "output" }), edge("n1", "n2", { id: "e1" })],
  backward: { id: null, status: "idle", error: null, visited: 0 },
});

/** @type {HTMLElement[]} */
const mounted = [];
afterEach(() => {
  for (const el of mounted.splice(0)) el.remove();
});

function mount() {
  const el = document.createElement("div");
  document.body.append(el);
  mounted.push(el);
  return el;
}

describe("GraphView front-end", () => {
  it("asks for a snapshot, draws it, selects on click, and cleans up", async () => {
    const model = new FakeModel({ height: 400, max_nodes: 300, collapse: true, selected: "", title: "t", layout_engine: "auto", live: false, editable: true });
    const el = mount();
    const cleanup = /** @type {() => void} */ (await widget.render({ model: /** @type {any} */ (model), el }));
    expect(model.sent).toEqual([{ type: "ready", rev: 0 }]);
    model.emit("msg:custom", { type: "snapshot", rev: 1, graph: graph() });
    await until(() => el.querySelectorAll(".node").length === 3);
    expect(el.querySelectorAll(".edge").length).toBe(2);
    expect(el.querySelector(".afnio-graphview")?.getAttribute("data-engine")).toBe("dot");
    expect(el.querySelectorAll("script, img").length).toBe(0);
    expect(el.textContent).toContain(HOSTILE[0].slice(0, 20));

    const leaf = /** @type {SVGGElement} */ (el.querySelector('.node[data-id="n2"]'));
    leaf.dispatchEvent(new MouseEvent("click", { bubbles: true }));
    expect(model.get("selected")).toBe("n2");
    const panel = /** @type {HTMLElement} */ (el.querySelector(".afnio-panel"));
    expect(panel.hidden).toBe(false);
    expect(panel.querySelector(".afnio-data")?.textContent).toBe(HOSTILE[1]);

    const input = /** @type {HTMLInputElement} */ (panel.querySelector("input.afnio-requires-grad"));
    input.checked = false;
    input.dispatchEvent(new Event("change"));
    expect(model.sent.at(-1)).toEqual({ type: "set_requires_grad", id: "n2", value: false });

    // a state change restyles without a new layout; a new node lays out again
    model.emit("msg:custom", { type: "patch", base: 1, rev: 2, nodes: [{ id: "n1", state: "running" }], edges: [] });
    await until(() => el.querySelector('.node[data-id="n1"]')?.classList.contains("state-running") === true);
    model.emit("msg:custom", { type: "patch", base: 2, rev: 3, nodes: [fn("n3", { name: "AccumulateGrad", accumulate: true })], edges: [edge("n2", "n3", { id: "e2", kind: "output" })] });
    await until(() => el.querySelectorAll(".node").length === 4);

    // a missed patch asks for a snapshot
    expect(model.sent.filter((m) => m.type === "ready").length).toBe(1);
    model.emit("msg:custom", { type: "patch", base: 7, rev: 8, nodes: [], edges: [] });
    expect(model.sent.at(-1)).toEqual({ type: "ready", rev: 8 });

    cleanup();
    expect(model.listenerCount()).toBe(0);
    expect(el.children.length).toBe(0);
  });

  it("expands a collapsed group when clicked", async () => {
    const nodes = [variable("r", { is_root: true }), fn("s", { name: "SumBackward0" })];
    const edges = [edge("r", "s", { kind: "output" })];
    for (let i = 0; i < 20; i++) {
      nodes.push(variable(`v${i}`, { requires_grad: false }));
      edges.push(edge("s", `v${i}`, { index: i }));
    }
    const model = new FakeModel({ height: 400, max_nodes: 300, collapse: true, selected: "", title: "", layout_engine: "auto", live: true, editable: true });
    const el = mount();
    const cleanup = /** @type {() => void} */ (await widget.render({ model: /** @type {any} */ (model), el }));
    model.emit("msg:custom", { type: "snapshot", rev: 1, graph: { ...graph(), roots: ["r"], nodes, edges } });
    await until(() => el.querySelector('.node[data-id="fan:s"]') !== null);
    el.querySelector('.node[data-id="fan:s"]')?.dispatchEvent(new MouseEvent("click", { bubbles: true }));
    await until(() => el.querySelectorAll(".node").length === 22);
    expect(model.get("selected")).toBe("");
    cleanup();
  });
});

describe("GradModeToggle and TrainingView front-ends", () => {
  it("binds the switch to `enabled`", async () => {
    const model = new FakeModel({ enabled: true, label: "grad mode" });
    const el = mount();
    const cleanup = /** @type {() => void} */ (await gradmode.render({ model: /** @type {any} */ (model), el }));
    const input = /** @type {HTMLInputElement} */ (el.querySelector("input"));
    expect(input.checked).toBe(true);
    input.checked = false;
    input.dispatchEvent(new Event("change"));
    expect(model.get("enabled")).toBe(false);
    expect(model.saves).toBe(1);
    model.set("enabled", true);
    expect(input.checked).toBe(true);
    cleanup();
    expect(model.listenerCount()).toBe(0);
  });

  it("asks for a snapshot and draws it", async () => {
    const model = new FakeModel({ height: 150, title: "run" });
    const el = mount();
    const cleanup = /** @type {() => void} */ (await training.render({ model: /** @type {any} */ (model), el }));
    expect(model.sent).toEqual([{ type: "ready" }]);
    model.emit("msg:custom", { type: "snapshot", rev: 1, data: { steps: [{ step: 0, epoch: 1, batch: 0, metrics: { loss: 1 } }, { step: 1, epoch: 1, batch: 1, metrics: { loss: 0.5 } }] } });
    await until(() => el.querySelector("polyline") !== null);
    cleanup();
    expect(model.listenerCount()).toBe(0);
  });
});
