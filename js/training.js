// TrainingView: metrics charts, parameter history with word diffs, tokens and cost.

import { lineChart, metricCaption } from "./chart.js";
import { diffStats, wordDiff } from "./diff.js";
import { clear, h } from "./dom.js";

/** @typedef {import("./contract.js").TrainingData} TrainingData */
/** @typedef {import("@anywidget/types").AnyModel<{height: number, title: string}>} Model */

/** @returns {TrainingData} */
export function emptyTraining() {
  return {
    format: "afnio-training",
    version: 1,
    status: "idle",
    epoch: null,
    steps: [],
    validation: [],
    epochs: [],
    parameters: {},
    usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, cost: 0, currency: "USD", calls: 0 },
  };
}

/** Front-end copy of a TrainingView's data, fed by snapshot and patch messages. */
export class TrainingStore {
  constructor() {
    this.data = emptyTraining();
    this.rev = 0;
    this.gap = false;
    /** @type {Set<() => void>} */
    this.listeners = new Set();
  }

  /** @param {() => void} fn */
  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** @param {any} msg */
  apply(msg) {
    if (!msg || typeof msg !== "object") return;
    if (msg.type === "snapshot") {
      if (msg.rev < this.rev && !this.gap) return;
      this.data = { ...emptyTraining(), ...msg.data };
      this.rev = msg.rev;
      this.gap = false;
    } else if (msg.type === "patch") {
      if (msg.rev <= this.rev) return;
      if (msg.base !== this.rev) this.gap = true;
      const d = this.data;
      for (const key of /** @type {const} */ (["steps", "validation", "epochs"])) {
        if (Array.isArray(msg[key])) d[key] = [...d[key], ...msg[key]];
      }
      for (const [name, entries] of Object.entries(msg.parameters || {})) {
        d.parameters[name] = [...(d.parameters[name] || []), .../** @type {any[]} */ (entries)];
      }
      if (msg.usage) d.usage = msg.usage;
      if (msg.status) d.status = msg.status;
      if ("epoch" in msg) d.epoch = msg.epoch;
      this.rev = msg.rev;
    } else {
      return;
    }
    for (const fn of [...this.listeners]) fn();
  }
}

/**
 * Tokens, cost and (when known) calls, as one line.
 * @param {import("./contract.js").Usage} u
 */
export function usageText(u) {
  const parts = [`${u.total_tokens.toLocaleString("en-US")} tokens`, `${u.cost.toFixed(4)} ${u.currency}`];
  if (typeof u.calls === "number") parts.push(`${u.calls} model calls`);
  return parts.join(" · ");
}

/**
 * The diff of one parameter version against the previous one, as <del>/<ins> spans.
 * @param {string} before
 * @param {string} after
 */
export function diffView(before, after) {
  const parts = wordDiff(before, after);
  return h("div", { class: "afnio-diff" }, parts.map((p) =>
    p.op === "same" ? h("span", { text: p.text }) : h(p.op === "add" ? "ins" : "del", { text: p.text }),
  ));
}

/**
 * Renders everything into `root`.
 * @param {HTMLElement} root
 * @param {TrainingData} data
 * @param {{height: number, title: string, open: Set<string>}} options
 */
export function renderTraining(root, data, options) {
  clear(root);
  const u = data.usage;
  const status = data.status === "running" && data.epoch !== null ? `running · epoch ${data.epoch}` : data.status;
  root.append(h("div", { class: "afnio-toolbar" }, [
    h("span", { class: "afnio-title", text: options.title || "afnio training" }),
    h("span", { class: `afnio-chip afnio-status-${data.status}`, text: status }),
    h("span", { class: "afnio-spacer" }),
    h("span", { class: "afnio-usage", text: usageText(u) }),
  ]));

  const names = [...new Set([...data.steps, ...data.validation].flatMap((r) => Object.keys(r.metrics)))];
  const epochStarts = [];
  for (let i = 1; i < data.steps.length; i++) {
    if (data.steps[i].epoch !== data.steps[i - 1].epoch) epochStarts.push(i - 0.5);
  }
  const charts = h("div", { class: "afnio-charts" });
  if (!names.length) charts.append(h("p", { class: "afnio-muted", text: "No metrics yet: they appear after the first training step." }));
  for (const name of names) {
    const train = data.steps.filter((r) => name in r.metrics).map((r) => /** @type {[number, number]} */ ([r.step, r.metrics[name]]));
    const val = data.validation.filter((r) => name in r.metrics).map((r) => /** @type {[number, number]} */ ([r.step, r.metrics[name]]));
    const series = [];
    if (train.length) series.push({ name: `train ${name}`, points: train });
    if (val.length) series.push({ name: `validation ${name}`, points: val, dots: true });
    charts.append(h("figure", { class: "afnio-figure", "data-metric": name }, [
      h("figcaption", { text: metricCaption(name) }),
      lineChart(series, { width: 360, height: Math.max(140, options.height), epochs: epochStarts }),
    ]));
  }
  root.append(charts);

  if (data.epochs.length) {
    const keys = [...new Set(data.epochs.flatMap((e) => Object.keys(e.metrics)))];
    root.append(h("table", { class: "afnio-epochs" }, [
      h("tr", {}, [h("th", { text: "epoch" }), ...keys.map((k) => h("th", { text: k }))]),
      ...data.epochs.map((e) => h("tr", {}, [
        h("td", { text: e.epoch === null ? "" : String(e.epoch) }),
        ...keys.map((k) => h("td", { text: k in e.metrics ? String(Number(e.metrics[k].toPrecision(4))) : "" })),
      ])),
    ]));
  }

  const params = h("div", { class: "afnio-params" });
  for (const [name, versions] of Object.entries(data.parameters)) {
    const latest = versions[versions.length - 1];
    const card = h("section", { class: "afnio-param", "data-name": name }, [
      h("h4", { text: `${name} · ${versions.length} version${versions.length === 1 ? "" : "s"}` }),
      h("pre", { class: "afnio-data afnio-param-latest", text: latest ? latest.text : "" }),
    ]);
    for (let i = versions.length - 1; i >= 1; i--) {
      const v = versions[i];
      const stats = diffStats(wordDiff(versions[i - 1].text, v.text));
      const key = `${name}:${i}`;
      const details = h("details", { class: "afnio-version", open: options.open.has(key) || i === versions.length - 1 }, [
        h("summary", { text: `v${i} after step ${v.step}${v.epoch !== null ? ` (epoch ${v.epoch})` : ""}: +${stats.added} −${stats.deleted} words` }),
        diffView(versions[i - 1].text, v.text),
      ]);
      details.addEventListener("toggle", () => {
        if (/** @type {HTMLDetailsElement} */ (details).open) options.open.add(key);
        else options.open.delete(key);
      });
      card.append(details);
    }
    params.append(card);
  }
  if (Object.keys(data.parameters).length) root.append(h("h4", { class: "afnio-params-title", text: "Parameters" }), params);
}

export default {
  /** @param {{model: Model, el: HTMLElement}} props */
  render({ model, el }) {
    const store = new TrainingStore();
    const root = h("div", { class: "afnio-training" });
    el.append(root);
    /** @type {Set<string>} */
    const open = new Set();
    let frame = 0;
    const draw = () => {
      frame = 0;
      renderTraining(root, store.data, { height: model.get("height") || 260, title: model.get("title") || "", open });
    };
    const schedule = () => {
      if (!frame) frame = requestAnimationFrame(draw);
    };
    /** @param {any} msg */
    const onMessage = (msg) => {
      store.apply(msg);
      if (store.gap) model.send({ type: "ready" });
    };
    const unsubscribe = store.subscribe(schedule);
    model.on("msg:custom", onMessage);
    model.on("change:height", schedule);
    model.on("change:title", schedule);
    model.send({ type: "ready" });
    draw();
    return () => {
      unsubscribe();
      if (frame) cancelAnimationFrame(frame);
      model.off("msg:custom", onMessage);
      model.off("change:height", schedule);
      model.off("change:title", schedule);
      root.remove();
    };
  },
};
