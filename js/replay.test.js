// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { ReplayBar, replaySteps } from "./replay.js";
import { edge, fn, variable } from "./test-helpers.js";

/** A Sum over two Adds that ran concurrently (steps 2 and 3 overlap), then an AccumulateGrad. */
function graph() {
  const g = (/** @type {string} */ text) => [{ data: text, role: "feedback", preview: text, backward_id: 1 }];
  const nodes = [variable("root"), fn("sum", { name: "SumBackward0" }), variable("x0"), fn("add0"), variable("x1"), fn("add1", { calls: [{ phase: "backward" }] }), variable("p", { is_leaf: true }), fn("acc", { name: "AccumulateGrad", accumulate: true })];
  const edges = [
    edge("root", "sum", { id: "e0", kind: "output" }),
    edge("sum", "x0", { id: "e1", grad: g("to x0") }),
    edge("sum", "x1", { id: "e2", index: 1, grad: g("to x1") }),
    edge("x0", "add0", { id: "e3", kind: "output" }),
    edge("x1", "add1", { id: "e4", kind: "output" }),
    edge("add0", "p", { id: "e5", grad: g("from add0") }),
    edge("add1", "p", { id: "e6", grad: g("from add1") }),
    edge("p", "acc", { id: "e7", kind: "output" }),
  ];
  const steps = [
    { node: "sum", start: 1, end: 2 },
    { node: "add0", start: 3, end: 6 },
    { node: "add1", start: 4, end: 5 },
    { node: "acc", start: 7, end: 8 },
  ];
  return {
    nodes: new Map(nodes.map((n) => [n.id, n])),
    edges: new Map(edges.map((e) => [e.id, e])),
    backward: { id: 1, status: /** @type {"done"} */ ("done"), error: null, visited: 4, steps },
  };
}

describe("replay", () => {
  it("lists the engine's steps with what each sent and what ran at the same time", () => {
    const steps = replaySteps(graph());
    expect(steps.map((s) => s.name)).toEqual(["SumBackward0", "AddBackward0", "AddBackward0", "AccumulateGrad"]);
    expect(steps[0].sent.map((s) => s.preview)).toEqual(["to x0", "to x1"]);
    expect(steps[1].concurrent).toEqual([2]);
    expect(steps[2].concurrent).toEqual([1]);
    expect(steps[0].concurrent).toEqual([]);
    expect(steps[2].calls).toBe(1);
  });

  it("steps with buttons and arrow keys and marks the drawing", () => {
    const controller = new AbortController();
    /** @type {string[]} */
    const selected = [];
    const viewport = document.createElementNS("http://www.w3.org/2000/svg", "g");
    for (const id of ["sum", "add0", "add1", "acc"]) {
      const n = document.createElementNS("http://www.w3.org/2000/svg", "g");
      n.setAttribute("class", "node");
      n.setAttribute("data-id", id);
      viewport.append(n);
    }
    for (const id of ["e1", "e2", "e5"]) {
      const e = document.createElementNS("http://www.w3.org/2000/svg", "g");
      e.setAttribute("class", "edge");
      e.setAttribute("data-id", id);
      viewport.append(e);
    }
    const bar = new ReplayBar({ signal: controller.signal, onChange: () => bar.apply(viewport), onSelect: (id) => selected.push(id) });
    bar.setGraph(graph());
    expect(bar.el.hidden).toBe(false);
    const key = (/** @type {string} */ k) => bar.onKey(new KeyboardEvent("keydown", { key: k }));
    key("ArrowRight");
    expect(viewport.querySelector(".replay-current")?.getAttribute("data-id")).toBe("sum");
    expect([...viewport.querySelectorAll(".replay-sent")].map((e) => e.getAttribute("data-id"))).toEqual(["e1", "e2"]);
    expect(bar.info.textContent).toContain("∇ to x1");
    /** @type {HTMLButtonElement} */ (bar.el.querySelector(".afnio-replay-next")).click();
    expect(viewport.querySelector(".replay-current")?.getAttribute("data-id")).toBe("add0");
    expect(viewport.querySelector(".replay-concurrent")?.getAttribute("data-id")).toBe("add1");
    expect(viewport.querySelector(".replay-done")?.getAttribute("data-id")).toBe("sum");
    expect(bar.info.textContent).toContain("at the same time as step 3");
    key("ArrowRight");
    /** @type {HTMLButtonElement} */ (bar.el.querySelector(".afnio-replay-calls")).click();
    expect(selected).toEqual(["add1"]);
    key("ArrowLeft");
    expect(bar.label.textContent).toBe("step 2 of 4");
    /** @type {HTMLButtonElement} */ (bar.el.querySelector(".afnio-replay-stop")).click();
    expect(viewport.querySelectorAll(".replay-current, .replay-done, .replay-pending").length).toBe(0);
    bar.dispose();
    controller.abort();
  });

  it("plays at the chosen speed", async () => {
    const controller = new AbortController();
    const viewport = document.createElementNS("http://www.w3.org/2000/svg", "g");
    const bar = new ReplayBar({ signal: controller.signal, onChange: () => bar.apply(viewport), onSelect: () => {} });
    bar.setGraph(graph());
    bar.speedSelect.value = "4";
    bar.speedSelect.dispatchEvent(new Event("change"));
    /** @type {HTMLButtonElement} */ (bar.el.querySelector(".afnio-replay-play")).click();
    expect(bar.index).toBe(0);
    for (let i = 0; i < 100 && bar.index < 3; i++) await new Promise((r) => setTimeout(r, 50));
    expect(bar.index).toBe(3);
    expect(bar.timer).toBe(null);
    bar.dispose();
    controller.abort();
  });
});
