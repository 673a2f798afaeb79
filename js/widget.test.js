// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from "vitest";
import { layout } from "./layout-worker.js";
import { FakeModel, HOSTILE, edge, fn, variable } from "./test-helpers.js";
import widget, { useLayoutRunner } from "./widget.js";
import gradmode from "./gradmode.js";
import loader from "./loader.js";
import training from "./training.js";
import { SAVED_NOTE } from "./sync.js";

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

/** @param {Record<string, any>} [extra] */
function graphModel(extra = {}) {
  const { graph: drawn = graph(), ...rest } = extra;
  return new FakeModel({ height: 400, max_nodes: 300, collapse: true, selected: "", title: "t", layout_engine: "auto", live: false, editable: true, graph_json: JSON.stringify(drawn), ...rest });
}

describe("GraphView front-end", () => {
  it("draws the graph trait, selects on click, follows trait changes, and cleans up", async () => {
    const model = graphModel();
    const el = mount();
    const cleanup = /** @type {() => void} */ (await widget.render({ model: /** @type {any} */ (model), el }));
    expect(model.sent).toEqual([{ type: "ping" }]);
    model.emit("msg:custom", { type: "pong" });
    await until(() => el.querySelectorAll(".node").length === 3);
    expect(el.querySelectorAll(".edge").length).toBe(2);
    const root = /** @type {HTMLElement} */ (el.querySelector(".afnio-graphview"));
    expect(root.getAttribute("data-engine")).toBe("dot");
    expect(root.dataset.kernel).toBe("connected");
    expect(el.querySelectorAll("script, img").length).toBe(0);
    expect(el.textContent).toContain(HOSTILE[0].slice(0, 20));

    const leaf = /** @type {SVGGElement} */ (el.querySelector('.node[data-id="n2"]'));
    leaf.dispatchEvent(new MouseEvent("click", { bubbles: true }));
    expect(model.get("selected")).toBe("n2");
    const panel = /** @type {HTMLElement} */ (el.querySelector(".afnio-panel"));
    expect(panel.hidden).toBe(false);
    expect(panel.querySelector(".afnio-data")?.textContent).toBe(HOSTILE[1]);

    const input = /** @type {HTMLInputElement} */ (panel.querySelector("input.afnio-requires-grad"));
    expect(input.disabled).toBe(false);
    input.checked = false;
    input.dispatchEvent(new Event("change"));
    expect(model.sent.at(-1)).toEqual({ type: "set_requires_grad", id: "n2", value: false });
    // refused, with the graph unchanged: the answer flips the switch back
    model.emit("msg:custom", { type: "toggled", id: "n2", error: "RuntimeError: no" });
    expect(/** @type {HTMLInputElement} */ (panel.querySelector("input.afnio-requires-grad")).checked).toBe(true);

    // a state change restyles without a new layout; a new node lays out again
    const g = graph();
    model.set("graph_json", JSON.stringify({ ...g, nodes: g.nodes.map((n) => (n.id === "n1" ? { ...n, state: "running" } : n)) }));
    await until(() => el.querySelector('.node[data-id="n1"]')?.classList.contains("state-running") === true);
    const rev = Number(root.dataset.rev);
    model.set("graph_json", JSON.stringify({ ...g, nodes: [...g.nodes, fn("n3", { name: "AccumulateGrad", accumulate: true })], edges: [...g.edges, edge("n2", "n3", { id: "e2", kind: "output" })] }));
    await until(() => el.querySelectorAll(".node").length === 4);
    expect(Number(root.dataset.rev)).toBe(rev + 1);

    // a partial node asks the kernel for its uncut version, shown when it comes
    model.set("graph_json", JSON.stringify({ ...g, nodes: g.nodes.map((n) => (n.id === "n2" ? { ...n, data: "cut", partial: true } : n)) }));
    await until(() => model.sent.some((m) => m.type === "details"));
    expect(model.sent.at(-1)).toEqual({ type: "details", id: "n2" });
    model.emit("msg:custom", { type: "details", id: "n2", item: variable("n2", { is_leaf: true, data: "the whole text" }) });
    expect(panel.querySelector(".afnio-data")?.textContent).toBe("the whole text");

    cleanup();
    expect(model.listenerCount()).toBe(0);
    expect(el.children.length).toBe(0);
  });

  it("without a kernel, is a saved copy: drawn and clickable, switches off, a note", async () => {
    const g = graph();
    const model = graphModel({ graph: { ...g, nodes: g.nodes.map((n) => (n.id === "n2" ? { ...n, partial: true } : n)) } });
    const el = mount();
    const cleanup = /** @type {() => void} */ (await widget.render({ model: /** @type {any} */ (model), el }));
    await until(() => el.querySelectorAll(".node").length === 3);
    const root = /** @type {HTMLElement} */ (el.querySelector(".afnio-graphview"));
    await until(() => root.dataset.kernel === "saved", 6000);
    expect(el.querySelector(".afnio-status")?.textContent).toContain(SAVED_NOTE);
    el.querySelector('.node[data-id="n2"]')?.dispatchEvent(new MouseEvent("click", { bubbles: true }));
    const panel = /** @type {HTMLElement} */ (el.querySelector(".afnio-panel"));
    expect(panel.querySelector(".afnio-data")?.textContent).toBe(HOSTILE[1]);
    expect(/** @type {HTMLInputElement} */ (panel.querySelector("input.afnio-requires-grad")).disabled).toBe(true);
    expect(panel.querySelector(".afnio-cut")).not.toBeNull();
    expect(panel.querySelector(".afnio-read-only")?.textContent).toBe("Read-only: a saved copy, no kernel holds these Variables.");
    expect(model.sent).toEqual([{ type: "ping" }]);
    // a kernel that answers late (it was running a cell) turns the switches on
    model.emit("msg:custom", { type: "pong" });
    expect(root.dataset.kernel).toBe("connected");
    expect(/** @type {HTMLInputElement} */ (panel.querySelector("input.afnio-requires-grad")).disabled).toBe(false);
    cleanup();
  });

  it("expands a collapsed group when clicked", async () => {
    const nodes = [variable("r", { is_root: true }), fn("s", { name: "SumBackward0" })];
    const edges = [edge("r", "s", { kind: "output" })];
    for (let i = 0; i < 20; i++) {
      nodes.push(variable(`v${i}`, { requires_grad: false }));
      edges.push(edge("s", `v${i}`, { index: i }));
    }
    const model = graphModel({ live: true, graph: { ...graph(), roots: ["r"], nodes, edges } });
    const el = mount();
    const cleanup = /** @type {() => void} */ (await widget.render({ model: /** @type {any} */ (model), el }));
    await until(() => el.querySelector('.node[data-id="fan:s"]') !== null);
    el.querySelector('.node[data-id="fan:s"]')?.dispatchEvent(new MouseEvent("click", { bubbles: true }));
    await until(() => el.querySelectorAll(".node").length === 22);
    expect(model.get("selected")).toBe("");
    cleanup();
  });
});

describe("GradModeToggle and TrainingView front-ends", () => {
  it("binds the switch to `enabled` once the kernel answers", async () => {
    const model = new FakeModel({ enabled: true, label: "grad mode" });
    const el = mount();
    const cleanup = /** @type {() => void} */ (await gradmode.render({ model: /** @type {any} */ (model), el }));
    const input = /** @type {HTMLInputElement} */ (el.querySelector("input"));
    expect(input.checked).toBe(true);
    expect(input.disabled).toBe(true);
    model.emit("msg:custom", { type: "pong" });
    expect(input.disabled).toBe(false);
    input.checked = false;
    input.dispatchEvent(new Event("change"));
    expect(model.get("enabled")).toBe(false);
    expect(model.saves).toBe(1);
    model.set("enabled", true);
    expect(input.checked).toBe(true);
    cleanup();
    expect(model.listenerCount()).toBe(0);
  });

  it("draws the data trait and redraws when it changes", async () => {
    const steps = [{ step: 0, epoch: 1, batch: 0, metrics: { loss: 1 } }, { step: 1, epoch: 1, batch: 1, metrics: { loss: 0.5 } }];
    const model = new FakeModel({ height: 150, title: "run", data: { steps } });
    const el = mount();
    const cleanup = /** @type {() => void} */ (await training.render({ model: /** @type {any} */ (model), el }));
    expect(el.querySelector("polyline")).not.toBeNull();
    expect(model.sent).toEqual([]);
    model.set("data", { steps, status: "done", parameters: { p: [{ step: 0, epoch: 1, text: "a" }] } });
    await until(() => el.querySelector(".afnio-param") !== null);
    cleanup();
    expect(model.listenerCount()).toBe(0);
  });
});

describe("loader", () => {
  it("says so when a widget has no bundle to run", async () => {
    const model = new FakeModel({ _bundle: null });
    const el = mount();
    const cleanup = /** @type {() => void} */ (await loader.render({ model, el }));
    expect(el.querySelector(".afnio-missing-bundle")?.textContent).toContain("no front-end bundle");
    cleanup();
    expect(el.children.length).toBe(0);
  });
});
