// TrainingView: metrics charts, parameter history with word diffs, tokens and cost.

import { lineChart, metricCaption } from "./chart.js";
import { diffStats, wordDiff } from "./diff.js";
import { clear, h } from "./dom.js";

/** @typedef {import("./contract.js").TrainingData} TrainingData */
/** @typedef {import("@anywidget/types").AnyModel<{height: number, title: string, data: TrainingData}>} Model */

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

/**
 * The value of the `data` trait, with defaults for anything missing.
 * @param {Partial<TrainingData> | null | undefined} data
 * @returns {TrainingData}
 */
export function trainingData(data) {
  return { ...emptyTraining(), ...(data && typeof data === "object" ? data : {}) };
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
    const root = h("div", { class: "afnio-training" });
    el.append(root);
    /** @type {Set<string>} */
    const open = new Set();
    let frame = 0;
    const draw = () => {
      frame = 0;
      renderTraining(root, trainingData(model.get("data")), { height: model.get("height") || 260, title: model.get("title") || "", open });
    };
    const schedule = () => {
      if (!frame) frame = requestAnimationFrame(draw);
    };
    for (const name of ["change:data", "change:height", "change:title"]) model.on(name, schedule);
    draw();
    return () => {
      if (frame) cancelAnimationFrame(frame);
      for (const name of ["change:data", "change:height", "change:title"]) model.off(name, schedule);
      root.remove();
    };
  },
};
