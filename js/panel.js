// The side panel: everything about the selected node or edge. All text goes in as text.

import { asText, clear, cut, h } from "./dom.js";

/** @typedef {import("./contract.js").GraphNode} GraphNode */
/** @typedef {import("./contract.js").VariableNode} VariableNode */
/** @typedef {import("./contract.js").FunctionNode} FunctionNode */
/** @typedef {import("./contract.js").GraphEdge} GraphEdge */
/** @typedef {import("./contract.js").Gradient} Gradient */
/** @typedef {import("./contract.js").ModelCall} ModelCall */

/**
 * @typedef {object} PanelContext
 * @property {(id: string) => GraphNode | GraphEdge | undefined} item
 * @property {(id: string) => {out: GraphEdge[], in: GraphEdge[]}} edgesOf
 * @property {boolean} editable Whether switches act on kernel Variables.
 * @property {string} [readOnly] Why they do not (shown under the switch when not editable).
 * @property {(id: string, value: boolean) => void} onToggle
 * @property {(id: string) => void} onSelect
 * @property {((id: string) => void) | null} requestDetails Asks the kernel for the uncut item
 *   (null without a kernel: a saved copy shows what was saved).
 * @property {() => void} onClose
 */

/**
 * Renders the panel for item `id` into `container` (emptied first).
 * @param {HTMLElement} container
 * @param {string} id
 * @param {PanelContext} ctx
 */
export function renderPanel(container, id, ctx) {
  clear(container);
  const item = ctx.item(id);
  const close = h("button", { class: "afnio-panel-close", type: "button", title: "Close", "aria-label": "Close panel", text: "×" });
  close.addEventListener("click", () => ctx.onClose());
  container.append(close);
  if (!item) {
    container.append(h("p", { class: "afnio-muted", text: `Nothing selected (${id} is not in the graph).` }));
    return;
  }
  if (item.partial && ctx.requestDetails) {
    ctx.requestDetails(id);
    container.append(h("p", { class: "afnio-muted afnio-loading", text: "Long texts are cut; loading the full version from the kernel…" }));
  } else if (item.partial) {
    container.append(h("p", { class: "afnio-muted afnio-cut", text: "Long texts are cut in this saved copy." }));
  }
  if ("source" in item) renderEdge(container, item, ctx);
  else if (item.kind === "variable") renderVariable(container, item, ctx);
  else renderFunction(container, item, ctx);
}

/**
 * @param {string} title
 * @param {(Node | string)[]} children
 * @param {string} [cls]
 */
function section(title, children, cls = "") {
  return h("section", { class: `afnio-section ${cls}`.trim() }, [h("h4", { text: title }), ...children]);
}

/** @param {string[]} flags */
function chips(flags) {
  return h("div", { class: "afnio-chips" }, flags.map((f) => h("span", { class: "afnio-chip", text: f })));
}

/**
 * @param {string} id
 * @param {string} label
 * @param {PanelContext} ctx
 */
function link(id, label, ctx) {
  const a = h("button", { class: "afnio-link", type: "button", "data-target": id, text: label });
  a.addEventListener("click", () => ctx.onSelect(id));
  return a;
}

/**
 * Data shown in full: a string as text, a batch as its items (each expandable).
 * @param {unknown} data
 */
export function dataView(data) {
  if (Array.isArray(data)) {
    const list = h("div", { class: "afnio-batch" }, [h("div", { class: "afnio-batch-count", text: `${data.length} item${data.length === 1 ? "" : "s"}` })]);
    data.forEach((entry, i) => {
      const summary = h("summary", { text: `[${i}] ${cut(typeof entry === "string" ? entry : asText(entry), 70)}` });
      list.append(h("details", { class: "afnio-item" }, [summary, h("pre", { class: "afnio-data", text: asText(entry) })]));
    });
    return list;
  }
  return h("pre", { class: "afnio-data", text: data === null ? "None" : asText(data) });
}

/**
 * @param {Gradient[]} grads
 * @param {string} empty
 */
function gradientList(grads, empty) {
  if (!grads.length) return h("p", { class: "afnio-muted", text: empty });
  return h("ol", { class: "afnio-grads" }, grads.map((g) =>
    h("li", { class: "afnio-grad" }, [
      h("div", { class: "afnio-grad-role", text: `${g.role || "gradient"}${g.backward_id ? ` · backward #${g.backward_id}` : ""}` }),
      dataView(g.data),
    ]),
  ));
}

/**
 * @param {HTMLElement} container
 * @param {VariableNode} node
 * @param {PanelContext} ctx
 */
function renderVariable(container, node, ctx) {
  container.append(h("h3", { class: "afnio-panel-title", text: node.role || "(no role)" }));
  container.append(h("div", { class: "afnio-panel-sub", text: `Variable ${node.id} · ${node.dtype}${node.batch !== null ? ` · batch of ${node.batch}` : ""} · shape ${node.shape}` }));
  const flags = [];
  if (node.is_parameter) flags.push("parameter");
  if (node.is_leaf) flags.push("leaf");
  else flags.push("non-leaf");
  if (node.is_root) flags.push("root");
  if (node.retains_grad) flags.push("retains grad");
  if (node.no_grad) flags.push("computed without grad");
  container.append(chips(flags));

  const input = /** @type {HTMLInputElement} */ (h("input", {
    type: "checkbox",
    role: "switch",
    class: "afnio-switch-input afnio-requires-grad",
    "data-id": node.id,
    checked: node.requires_grad,
    disabled: !ctx.editable,
  }));
  input.checked = Boolean(node.requires_grad);
  input.addEventListener("change", () => {
    // The switch shows the kernel's value, never the click's: it moves when the kernel's answer
    // arrives (a refused switch never moves, however often it is clicked).
    const wanted = input.checked;
    input.checked = Boolean(node.requires_grad);
    ctx.onToggle(node.id, wanted);
  });
  const toggle = h("label", { class: "afnio-switch" }, [input, h("span", { class: "afnio-switch-track" }), h("span", { text: "requires_grad" })]);
  const toggleBox = [toggle];
  if (!ctx.editable) toggleBox.push(h("p", { class: "afnio-muted afnio-read-only", text: ctx.readOnly || "Read-only: this view was reopened from a snapshot." }));
  else if (!node.is_leaf) toggleBox.push(h("p", { class: "afnio-muted", text: "Only leaf Variables can change requires_grad; afnio refuses for this one." }));
  if (node.toggle_error) toggleBox.push(h("div", { class: "afnio-error afnio-toggle-error", role: "alert", text: node.toggle_error }));
  container.append(section("Autodiff", toggleBox));

  container.append(section(node.truncated ? "Data (cut: very long)" : "Data", [dataView(node.data)]));

  const incoming = ctx.edgesOf(node.id).in.filter((e) => (e.grad || []).length);
  const received = [gradientList(node.grad || [], node.is_leaf ? "No gradient yet: call backward()." : "No gradient seen yet.")];
  container.append(section("Gradients", received, "afnio-gradients"));
  if (incoming.length) {
    const parts = incoming.map((e) => {
      const from = ctx.item(e.source);
      const name = from && "name" in from ? from.name : e.source;
      return h("div", { class: "afnio-edge-grads" }, [h("div", { class: "afnio-grad-from" }, ["from ", link(e.source, name, ctx)]), gradientList(e.grad, "")]);
    });
    container.append(section("Along edges", parts));
  }
  const { out } = ctx.edgesOf(node.id);
  const producers = out.filter((e) => e.kind === "output");
  if (producers.length) {
    const target = ctx.item(producers[0].target);
    const title = target && "accumulate" in target && target.accumulate ? "Gradients stored by" : "Produced by";
    container.append(section(title, producers.map((e) => h("div", {}, [link(e.target, String(nameOf(ctx, e.target)), ctx), ` (output ${e.output_nr})`]))));
  }
}

/**
 * @param {PanelContext} ctx
 * @param {string} id
 */
function nameOf(ctx, id) {
  const item = ctx.item(id);
  if (!item) return id;
  if ("name" in item) return item.name;
  if ("role" in item) return item.role || id;
  return id;
}

/**
 * @param {HTMLElement} container
 * @param {FunctionNode} node
 * @param {PanelContext} ctx
 */
function renderFunction(container, node, ctx) {
  container.append(h("h3", { class: "afnio-panel-title", text: node.name }));
  container.append(h("div", { class: "afnio-panel-sub", text: `Backward node ${node.id}${node.sequence_nr !== null ? ` · sequence_nr ${node.sequence_nr}` : ""} · ${node.state}` }));
  const flags = [];
  if (node.accumulate) flags.push("accumulates into a leaf");
  if (node.no_grad) flags.push("ran without grad: no backward node");
  if (node.group) flags.push(`module ${node.group}`);
  if (flags.length) container.append(chips(flags));
  const { out, in: inn } = ctx.edgesOf(node.id);
  const outputs = inn.filter((e) => e.kind === "output");
  if (outputs.length) container.append(section("Outputs", outputs.map((e) => h("div", {}, [`output ${e.output_nr}: `, link(e.source, String(nameOf(ctx, e.source)), ctx)]))));
  const inputs = out.filter((e) => e.kind !== "output");
  if (inputs.length) {
    container.append(section("Inputs (next_functions)", inputs.map((e) => h("div", { class: "afnio-input" }, [
      `${e.index ?? "?"}: `,
      link(e.target, String(nameOf(ctx, e.target)), ctx),
      e.requires_grad ? ` (output ${e.output_nr})` : " (no grad)",
      ...(e.grad && e.grad.length ? [gradientList(e.grad, "")] : []),
    ]))));
  }
  const calls = node.calls || [];
  container.append(section(`Model calls (${calls.length})`, calls.length ? calls.map((c, i) => callView(c, i)) : [h("p", { class: "afnio-muted", text: "No model call." })], "afnio-calls"));
}

/**
 * @param {HTMLElement} container
 * @param {GraphEdge} edge
 * @param {PanelContext} ctx
 */
function renderEdge(container, edge, ctx) {
  container.append(h("h3", { class: "afnio-panel-title", text: `Edge ${edge.id}` }));
  container.append(h("div", { class: "afnio-panel-sub" }, [link(edge.source, String(nameOf(ctx, edge.source)), ctx), " → ", link(edge.target, String(nameOf(ctx, edge.target)), ctx)]));
  container.append(chips([edge.kind, `output_nr ${edge.output_nr}`, ...(edge.index !== null ? [`input ${edge.index}`] : []), edge.requires_grad ? "carries gradients" : "no gradient"]));
  container.append(section("Gradients along this edge", [gradientList(edge.grad || [], "None yet.")], "afnio-gradients"));
}

/**
 * A number shown with a unit, or "—".
 * @param {unknown} value
 * @param {(n: number) => string} format
 */
function num(value, format) {
  return typeof value === "number" && Number.isFinite(value) ? format(value) : "—";
}

/**
 * Cost as text: a number or {amount, currency}.
 * @param {ModelCall["cost"]} cost
 */
export function costText(cost) {
  if (typeof cost === "number") return `$${cost.toFixed(6)}`;
  if (cost && typeof cost === "object" && typeof cost.amount === "number") {
    return `${cost.amount.toFixed(6)} ${cost.currency || ""}`.trim();
  }
  return "—";
}

/**
 * One model call: a summary line, then messages, response and the numbers.
 * @param {ModelCall} call
 * @param {number} i
 */
export function callView(call, i) {
  const usage = call.usage || {};
  const tokens = usage.total_tokens ?? (typeof usage.prompt_tokens === "number" && typeof usage.completion_tokens === "number" ? usage.prompt_tokens + usage.completion_tokens : undefined);
  const summary = [
    `call ${i + 1}`,
    call.phase || "",
    tokens !== undefined ? `${tokens} tokens` : "",
    call.cost !== undefined ? costText(call.cost) : "",
    num(call.latency, (n) => `${n.toFixed(2)} s`),
    call.cache_hit ? "cache hit" : "",
    call.error ? "error" : "",
  ].filter((x) => x && x !== "—").join(" · ");
  const body = [];
  if (call.error) body.push(h("div", { class: "afnio-error", text: asText(call.error) }));
  const messages = Array.isArray(call.messages) ? call.messages : [];
  if (messages.length) {
    body.push(h("div", { class: "afnio-messages" }, messages.map((m) => h("div", { class: "afnio-message" }, [
      h("div", { class: "afnio-message-role", text: String(m && m.role ? m.role : "message") }),
      h("pre", { class: "afnio-data", text: asText(m && "content" in m ? m.content : m) }),
    ]))));
  }
  if (call.response !== undefined && call.response !== null) body.push(h("div", { class: "afnio-response" }, [h("div", { class: "afnio-message-role", text: "response" }), h("pre", { class: "afnio-data", text: asText(call.response) })]));
  if (call.parsed !== undefined && call.parsed !== null) body.push(h("div", {}, [h("div", { class: "afnio-message-role", text: "parsed" }), h("pre", { class: "afnio-data", text: asText(call.parsed) })]));
  const rows = [
    ["prompt tokens", usage.prompt_tokens],
    ["completion tokens", usage.completion_tokens],
    ["total tokens", tokens],
    ["cost", call.cost !== undefined ? costText(call.cost) : undefined],
    ["latency", num(call.latency, (n) => `${n.toFixed(3)} s`)],
    ["retries", call.retries],
    ["cache hit", call.cache_hit === undefined ? undefined : call.cache_hit ? "yes" : "no"],
  ].filter(([, v]) => v !== undefined && v !== null && v !== "—");
  body.push(h("table", { class: "afnio-kv" }, rows.map(([k, v]) => h("tr", {}, [h("th", { text: String(k) }), h("td", { text: String(v) })]))));
  if (call.completion_args && Object.keys(call.completion_args).length) {
    body.push(h("details", {}, [h("summary", { text: "completion arguments" }), h("pre", { class: "afnio-data", text: asText(call.completion_args) })]));
  }
  const known = new Set(["phase", "messages", "completion_args", "response", "parsed", "usage", "cost", "latency", "retries", "cache_hit", "error"]);
  const rest = Object.fromEntries(Object.entries(call).filter(([k]) => !known.has(k)));
  if (Object.keys(rest).length) body.push(h("details", {}, [h("summary", { text: "more" }), h("pre", { class: "afnio-data", text: asText(rest) })]));
  return h("details", { class: "afnio-call", open: i === 0 }, [h("summary", { text: summary }), ...body]);
}
