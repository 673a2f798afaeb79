// @vitest-environment happy-dom
import { describe, expect, it, vi } from "vitest";
import { callView, costText, renderPanel } from "./panel.js";
import { GraphStore } from "./store.js";
import { HOSTILE, edge, fn, variable } from "./test-helpers.js";

/** @param {import("./contract.js").GraphNode[]} nodes @param {import("./contract.js").GraphEdge[]} edges */
function setup(nodes, edges = [], editable = true) {
  const store = new GraphStore();
  store.setGraph({ format: "afnio-graph", version: 1, roots: [], nodes, edges, backward: { id: null, status: "idle", error: null, visited: 0 } });
  /** @type {import("./panel.js").PanelContext & {requestDetails: any, onToggle: any, onSelect: any, onClose: any}} */
  const ctx = {
    item: (/** @type {string} */ id) => store.item(id),
    edgesOf: (/** @type {string} */ id) => store.edgesOf(id),
    editable,
    onToggle: vi.fn(),
    onSelect: vi.fn(),
    requestDetails: vi.fn(),
    onClose: vi.fn(),
  };
  const container = document.createElement("div");
  document.body.append(container);
  return { store, ctx, container };
}

const hostileGrad = HOSTILE.map((text, i) => ({ data: text, role: text, preview: text, backward_id: i }));

describe("panel", () => {
  it("shows hostile data, roles, gradients and calls as text", () => {
    const node = variable("n0", { role: HOSTILE[0], data: HOSTILE.join("\n"), grad: hostileGrad, is_leaf: true });
    const call = { phase: "forward", messages: HOSTILE.map((content) => ({ role: "user", content })), response: HOSTILE[1], parsed: { html: HOSTILE[3] }, usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 }, cost: 0.0012, latency: 0.5, retries: 1, cache_hit: true, error: HOSTILE[2], extra: HOSTILE[4] };
    const { ctx, container } = setup([node, fn("n1", { name: HOSTILE[1], calls: [call] })], [edge("n1", "n0", { grad: hostileGrad })]);
    renderPanel(container, "n0", ctx);
    expect(container.querySelectorAll("script, img, svg, iframe, b").length).toBe(0);
    expect(container.textContent).toContain(HOSTILE.join("\n"));
    expect(container.querySelector(".afnio-panel-title")?.textContent).toBe(HOSTILE[0]);
    expect(container.querySelectorAll(".afnio-gradients .afnio-grad").length).toBe(HOSTILE.length);
    expect(container.innerHTML).toContain("&lt;script&gt;");

    renderPanel(container, "n1", ctx);
    expect(container.querySelectorAll("script, img, svg, iframe, b").length).toBe(0);
    const text = container.textContent || "";
    for (const h of HOSTILE) expect(text).toContain(h);
    expect(text).toContain("7 tokens");
    expect(text).toContain("cache hit");
    expect(container.querySelector(".afnio-call")?.hasAttribute("open")).toBe(true);
    // no attribute anywhere carries the data
    for (const el of container.querySelectorAll("*")) {
      for (const attr of el.getAttributeNames()) expect(el.getAttribute(attr)).not.toMatch(/pwned|javascript:/);
    }
  });

  it("shows a batch as a count plus expandable items", () => {
    const { ctx, container } = setup([variable("n0", { data: ["first", "<i>second</i>"], batch: 2, dtype: "list" })]);
    renderPanel(container, "n0", ctx);
    expect(container.querySelector(".afnio-batch-count")?.textContent).toBe("2 items");
    const items = container.querySelectorAll("details.afnio-item");
    expect(items.length).toBe(2);
    expect(items[1].querySelector("pre")?.textContent).toBe("<i>second</i>");
    expect(container.querySelector("i")).toBeNull();
  });

  it("has a requires_grad switch that reports to the kernel and shows afnio's error", () => {
    const message = "RuntimeError: You can only change `requires_grad` flags of leaf variables.";
    const { ctx, container } = setup([variable("n0", { is_leaf: false, toggle_error: message })]);
    renderPanel(container, "n0", ctx);
    const input = /** @type {HTMLInputElement} */ (container.querySelector("input.afnio-requires-grad"));
    expect(input.checked).toBe(true);
    input.checked = false;
    input.dispatchEvent(new Event("change"));
    expect(ctx.onToggle).toHaveBeenCalledWith("n0", false);
    // the switch shows the kernel's value until the kernel answers, however often it is clicked
    for (let i = 0; i < 3; i++) {
      expect(input.checked).toBe(true);
      input.click();
    }
    expect(input.checked).toBe(true);
    expect(ctx.onToggle).toHaveBeenCalledTimes(4);
    expect(ctx.onToggle).toHaveBeenLastCalledWith("n0", false);
    expect(container.querySelector(".afnio-toggle-error")?.textContent).toBe(message);
  });

  it("disables switches of snapshots and asks for cut texts", () => {
    const { ctx, container } = setup([variable("n0", { partial: true })], [], false);
    renderPanel(container, "n0", ctx);
    expect(/** @type {HTMLInputElement} */ (container.querySelector("input.afnio-requires-grad")).disabled).toBe(true);
    expect(ctx.requestDetails).toHaveBeenCalledWith("n0");
    expect(container.querySelector(".afnio-loading")).not.toBeNull();
  });

  it("says that a saved copy's texts are cut when there is no kernel to ask", () => {
    const { ctx, container } = setup([variable("n0", { partial: true })], [], false);
    renderPanel(container, "n0", { ...ctx, requestDetails: null });
    expect(container.querySelector(".afnio-loading")).toBeNull();
    expect(container.querySelector(".afnio-cut")?.textContent).toBe("Long texts are cut in this saved copy.");
  });

  it("links to neighbours and closes", () => {
    const { ctx, container } = setup([variable("n0"), fn("n1")], [edge("n0", "n1", { kind: "output" })]);
    renderPanel(container, "n1", ctx);
    /** @type {HTMLButtonElement} */ (container.querySelector(".afnio-link")).click();
    expect(ctx.onSelect).toHaveBeenCalledWith("n0");
    /** @type {HTMLButtonElement} */ (container.querySelector(".afnio-panel-close")).click();
    expect(ctx.onClose).toHaveBeenCalled();
    renderPanel(container, "e-missing", ctx);
    expect(container.textContent).toContain("not in the graph");
  });

  it("formats costs", () => {
    expect(costText(0.5)).toBe("$0.500000");
    expect(costText({ amount: 1, currency: "EUR" })).toBe("1.000000 EUR");
    expect(costText(undefined)).toBe("—");
    expect(callView({}, 0).textContent).toContain("call 1");
  });
});
