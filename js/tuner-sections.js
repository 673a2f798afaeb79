// The PromptTuner's sections, drawn from its synced traits: parameters and proposal, results,
// feedback, history and comparison, the status line. Pure functions of the state; text only.

import { diffStats, wordDiff } from "./diff.js";
import { clear, cut, h } from "./dom.js";
import { callView } from "./panel.js";
import { diffView, usageText } from "./training.js";

/** What a saved copy of the tuner says instead of its status. */
export const SAVED_TUNER_NOTE = "Saved copy: drawn from the notebook's saved widget state; the buttons need a running kernel.";

/** @typedef {import("./contract.js").ModelCall} ModelCall */

/**
 * @typedef {object} TunerRow
 * @property {number} index
 * @property {string} input
 * @property {string | null} output
 * @property {string | null} target
 * @property {number | null} score
 * @property {string | null} explanation
 * @property {string | null} error
 * @property {ModelCall[]} [calls]
 */

/**
 * @typedef {object} TunerModel The synced traits of afnio_widgets.PromptTuner.
 * @property {string} title
 * @property {{name: string, role: string, text: string, preview: string}[]} parameters
 * @property {number} version
 * @property {{version: number, texts: Record<string, string>, source: string, parent: number | null, runs?: {run: number, metrics: Record<string, number>, failed: number}[]}[]} versions
 * @property {{run?: number, version?: number, rows?: TunerRow[], metrics?: Record<string, number>, failed?: number, per_example?: boolean}} results
 * @property {{run?: number, parameters?: Record<string, {example: number | null, text: string, role: string}[]>, calls?: ModelCall[]}} gradients
 * @property {{parameters?: Record<string, {before: string, after: string}>, calls?: ModelCall[]}} proposal
 * @property {{versions?: number[], runs?: number[], metrics?: Record<string, number>[], rows?: {index: number, input: string, target: string | null, differs: boolean, sides: {output: string | null, score: number | null, explanation: string | null, error: string | null}[]}[]}} comparison
 * @property {{prompt_tokens: number, completion_tokens: number, total_tokens: number, cost: number, currency: string, calls: number, unpriced?: number}} usage
 * @property {{busy: boolean, action: string, calls: number, seconds: number, error: string, message: string}} status
 * @property {string | null} graph
 */


/**
 * What the view keeps for itself (never sent to the kernel until an action).
 * @typedef {object} UiState
 * @property {Record<string, string>} drafts Parameter texts being edited, by name.
 * @property {Record<string, string>} proposalDrafts Proposed texts being edited, by name.
 * @property {[number, number] | null} pick The two versions chosen for "compare".
 * @property {boolean} graphOpen
 * @property {boolean} saved No kernel answers: a saved copy, whose buttons are off.
 */

/**
 * A number as short text.
 * @param {number | null | undefined} value
 */
export function numberText(value) {
  if (typeof value !== "number" || !Number.isFinite(value)) return "—";
  return String(Number(value.toPrecision(4)));
}

/**
 * Metrics as one line: "accuracy 0.5 · loss 2".
 * @param {Record<string, number> | undefined} metrics
 */
export function metricsText(metrics) {
  const entries = Object.entries(metrics || {});
  return entries.length ? entries.map(([k, v]) => `${k} ${numberText(v)}`).join(" · ") : "no metrics";
}

/**
 * Tokens, cost and calls so far; unpriced calls said as such.
 * @param {Partial<TunerModel["usage"]>} usage
 */
export function tunerUsageText(usage) {
  /** @type {TunerModel["usage"]} */
  const empty = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, cost: 0, currency: "USD", calls: 0 };
  const u = { ...empty, ...(usage || {}) };
  const text = usageText(u);
  return u.unpriced ? `${text} (${u.unpriced} unpriced)` : text;
}

/**
 * Which buttons can be used now: none in a saved copy or while an action runs; Feedback for a
 * run made with the current version, once.
 * @param {Pick<TunerModel, "status" | "results" | "gradients" | "proposal" | "version">} state
 * @param {boolean} [saved] Whether the view is a saved copy (no kernel).
 */
export function enabledActions(state, saved = false) {
  const busy = Boolean(state.status && state.status.busy) || saved;
  const results = state.results || {};
  const ran = typeof results.run === "number" && results.version === state.version;
  const ok = ran && (results.rows || []).some((r) => !r.error);
  const fed = typeof (state.gradients || {}).run === "number";
  const proposed = Boolean(state.proposal && state.proposal.parameters);
  return {
    run: !busy,
    feedback: !busy && ok && !fed,
    step: !busy && fed && !proposed,
    accept: !busy && proposed,
    reject: !busy && proposed,
  };
}

/**
 * @param {string} title
 * @param {(Node | string)[]} children
 * @param {string} cls
 */
export function section(title, children, cls) {
  return h("section", { class: `afnio-tuner-section ${cls}`, "aria-label": title }, [h("h4", { text: title }), ...children]);
}

/**
 * @param {string} text
 * @param {string} cls
 * @param {() => void} onClick
 * @param {{disabled?: boolean, title?: string}} [options]
 */
export function button(text, cls, onClick, options = {}) {
  const b = /** @type {HTMLButtonElement} */ (h("button", { type: "button", class: `afnio-button ${cls}`, title: options.title, text }));
  b.disabled = Boolean(options.disabled);
  b.addEventListener("click", onClick);
  return b;
}

/**
 * The model calls of one row or phase, each expandable as in the GraphView panel.
 * @param {ModelCall[] | undefined} calls
 * @param {string} label
 */
function callsView(calls, label) {
  const list = calls || [];
  if (!list.length) return h("span", { class: "afnio-muted", text: "no model call" });
  return h("details", { class: "afnio-tuner-calls" }, [
    h("summary", { text: `${list.length} ${label} call${list.length === 1 ? "" : "s"}` }),
    ...list.map((c, i) => callView(c, i)),
  ]);
}

/**
 * The parameters: editable text, and the pending proposal as a word diff with its own editor.
 * @param {HTMLElement} box
 * @param {TunerModel} state
 * @param {UiState} ui
 * @param {(action: string, extra?: Record<string, unknown>) => void} act
 */
export function renderParameters(box, state, ui, act) {
  clear(box);
  const busy = Boolean(state.status && state.status.busy) || ui.saved;
  const proposal = (state.proposal && state.proposal.parameters) || {};
  for (const p of state.parameters || []) {
    const editor = /** @type {HTMLTextAreaElement} */ (h("textarea", { class: "afnio-tuner-text", rows: 3, "aria-label": `text of parameter ${p.name}`, "data-name": p.name }));
    editor.value = ui.drafts[p.name] ?? p.text;
    const save = button("Set", "afnio-tuner-set", () => {
      delete ui.drafts[p.name];
      act("edit", { name: p.name, text: editor.value });
    }, { disabled: busy || editor.value === p.text, title: "Set this text in the kernel, as a new version" });
    editor.addEventListener("input", () => {
      ui.drafts[p.name] = editor.value;
      save.disabled = busy || editor.value === p.text;
    });
    const card = h("div", { class: "afnio-tuner-param", "data-name": p.name }, [
      h("div", { class: "afnio-tuner-param-head" }, [h("strong", { text: p.name }), h("span", { class: "afnio-muted", text: p.role ? ` · ${p.role}` : "" })]),
      editor,
      h("div", { class: "afnio-tuner-row-buttons" }, [save]),
    ]);
    const proposed = proposal[p.name];
    if (proposed) {
      const stats = diffStats(wordDiff(proposed.before, proposed.after));
      const edit = /** @type {HTMLTextAreaElement} */ (h("textarea", { class: "afnio-tuner-proposal-text", rows: 3, "aria-label": `proposed text of parameter ${p.name} (editable before accepting)` }));
      edit.value = ui.proposalDrafts[p.name] ?? proposed.after;
      edit.addEventListener("input", () => {
        ui.proposalDrafts[p.name] = edit.value;
      });
      card.append(h("div", { class: "afnio-tuner-proposal" }, [
        h("div", { class: "afnio-tuner-proposal-head", text: proposed.after === proposed.before ? "Proposal: no change" : `Proposal: +${stats.added} −${stats.deleted} words` }),
        diffView(proposed.before, proposed.after),
        edit,
      ]));
    }
    box.append(card);
  }
  if (state.proposal && state.proposal.parameters) box.append(callsView(state.proposal.calls, "optimizer"));
}

/**
 * The results table of the last run.
 * @param {HTMLElement} box
 * @param {TunerModel} state
 */
export function renderResults(box, state) {
  clear(box);
  const r = state.results || {};
  if (typeof r.run !== "number") {
    box.append(h("p", { class: "afnio-muted", text: "No run yet: press Run." }));
    return;
  }
  const rows = r.rows || [];
  const notes = [`run ${r.run} with v${r.version}`, metricsText(r.metrics)];
  if (r.failed) notes.push(`${r.failed} of ${rows.length} example${rows.length === 1 ? "" : "s"} failed${r.per_example ? "; each example ran alone, metrics over those that ran" : ""}`);
  box.append(h("div", { class: "afnio-tuner-metrics", text: notes.join(" · ") }));
  const head = h("tr", {}, ["#", "input", "output", "target", "score", "explanation", "model calls"].map((t) => h("th", { scope: "col", text: t })));
  const body = rows.map((row) => {
    const cells = [h("td", { class: "afnio-tuner-index", text: String(row.index) }), h("td", { class: "afnio-tuner-input" }, [h("div", { class: "afnio-cell", text: row.input })])];
    if (row.error) {
      cells.push(h("td", { class: "afnio-error afnio-tuner-error", colspan: 4, role: "alert", text: row.error }));
    } else {
      cells.push(
        h("td", { class: "afnio-tuner-output" }, [h("div", { class: "afnio-cell", text: row.output ?? "—" })]),
        h("td", { class: "afnio-tuner-target" }, [h("div", { class: "afnio-cell", text: row.target ?? "—" })]),
        h("td", { class: `afnio-tuner-score${row.score === 0 ? " afnio-tuner-zero" : ""}`, text: numberText(row.score) }),
        h("td", { class: "afnio-tuner-explanation" }, [h("div", { class: "afnio-cell", text: row.explanation ?? "" })]),
      );
    }
    cells.push(h("td", {}, [callsView(row.calls, "forward")]));
    return h("tr", { "data-index": String(row.index), class: row.error ? "afnio-tuner-failed" : "" }, cells);
  });
  box.append(h("table", { class: "afnio-tuner-table afnio-tuner-results" }, [h("thead", {}, [head]), h("tbody", {}, body)]));
}

/**
 * The gradients of each parameter, with the example each piece came from.
 * @param {HTMLElement} box
 * @param {TunerModel} state
 * @param {(index: number) => void} showRow
 */
export function renderGradients(box, state, showRow) {
  clear(box);
  const g = state.gradients || {};
  if (typeof g.run !== "number") {
    box.append(h("p", { class: "afnio-muted", text: "No feedback for this run yet: press Feedback." }));
    return;
  }
  for (const [name, items] of Object.entries(g.parameters || {})) {
    const list = items.length
      ? h("ol", { class: "afnio-tuner-grads" }, items.map((item) => h("li", { class: "afnio-grad" }, [
        item.example === null
          ? h("span", { class: "afnio-grad-role", text: "from the whole batch" })
          : button(`from example ${item.example}`, "afnio-link afnio-tuner-from", () => showRow(/** @type {number} */ (item.example)), { title: "Show this example in the table" }),
        h("pre", { class: "afnio-data", text: item.text }),
      ])))
      : h("p", { class: "afnio-muted", text: "No feedback: nothing to change." });
    box.append(h("div", { class: "afnio-tuner-grad-param", "data-name": name }, [h("strong", { text: `${name} (run ${g.run})` }), list]));
  }
  box.append(callsView(g.calls, "backward"));
}

/**
 * Versions with their runs' scores; restore, pick two and compare.
 * @param {HTMLElement} box
 * @param {TunerModel} state
 * @param {UiState} ui
 * @param {(action: string, extra?: Record<string, unknown>) => void} act
 */
export function renderHistory(box, state, ui, act) {
  clear(box);
  const versions = state.versions || [];
  const busy = Boolean(state.status && state.status.busy) || ui.saved;
  const names = (state.parameters || []).map((p) => p.name);
  const head = h("tr", {}, ["version", "from", ...names, "runs", ""].map((t) => h("th", { scope: "col", text: t })));
  const body = versions.map((v) => {
    const runs = (v.runs || []).map((r) => `#${r.run}: ${metricsText(r.metrics)}${r.failed ? ` (${r.failed} failed)` : ""}`);
    const current = v.version === state.version;
    return h("tr", { "data-version": String(v.version), class: current ? "afnio-tuner-current" : "" }, [
      h("td", { text: `v${v.version}${current ? " (current)" : ""}` }),
      h("td", { text: v.source }),
      ...names.map((n) => {
        const text = (v.texts || {})[n] ?? "";
        const parent = v.parent !== null && v.parent !== undefined ? versions[v.parent] : null;
        const before = parent ? (parent.texts || {})[n] : undefined;
        const cell = h("td", { class: "afnio-tuner-version-text", title: text }, [h("div", { class: "afnio-cell", text: cut(text, 140) })]);
        if (before !== undefined && before !== text) {
          cell.append(h("details", {}, [h("summary", { text: `diff against v${v.parent}` }), diffView(before, text)]));
        }
        return cell;
      }),
      h("td", { class: "afnio-tuner-runs" }, runs.length ? runs.map((t) => h("div", { text: t })) : [h("span", { class: "afnio-muted", text: "not run" })]),
      h("td", {}, [button("Restore", "afnio-tuner-restore", () => act("revert", { version: v.version }), { disabled: busy || current, title: `Set every parameter to its text in v${v.version}` })]),
    ]);
  });
  box.append(h("table", { class: "afnio-tuner-table afnio-tuner-history" }, [h("thead", {}, [head]), h("tbody", {}, body)]));
  if (versions.length >= 2) {
    const pick = ui.pick || [Math.max(0, state.version - 1), state.version];
    const select = (/** @type {number} */ which) => {
      const el = /** @type {HTMLSelectElement} */ (h("select", { class: `afnio-tuner-pick afnio-tuner-pick-${which}`, "aria-label": which === 0 ? "first version to compare" : "second version to compare" }, versions.map((v) => h("option", { value: String(v.version), text: `v${v.version}` }))));
      el.value = String(pick[which]);
      el.addEventListener("change", () => {
        const next = /** @type {[number, number]} */ ([...(ui.pick || pick)]);
        next[which] = Number(el.value);
        ui.pick = next;
      });
      return el;
    };
    box.append(h("div", { class: "afnio-tuner-compare-bar" }, [
      "Compare ", select(0), " with ", select(1), " ",
      button("Compare", "afnio-tuner-compare", () => {
        const [a, b] = ui.pick || pick;
        act("compare", { v1: a, v2: b });
      }, { disabled: busy, title: "Run the batch with both versions and show them side by side" }),
    ]));
  }
}

/**
 * Two versions side by side, the differing examples first.
 * @param {HTMLElement} box
 * @param {TunerModel} state
 */
export function renderComparison(box, state) {
  clear(box);
  const c = state.comparison || {};
  if (!c.versions) return;
  const [a, b] = c.versions;
  const metrics = c.metrics || [];
  box.append(h("div", { class: "afnio-tuner-metrics", text: `v${a}: ${metricsText(metrics[0])}  |  v${b}: ${metricsText(metrics[1])}` }));
  const head = h("tr", {}, ["#", "input", "target", `v${a} output`, `v${a} score`, `v${b} output`, `v${b} score`].map((t) => h("th", { scope: "col", text: t })));
  const body = (c.rows || []).map((row) => {
    const sides = row.sides.flatMap((side) => side.error
      ? [h("td", { class: "afnio-error", colspan: 2, text: side.error })]
      : [h("td", {}, [h("div", { class: "afnio-cell", text: side.output ?? "—" })]), h("td", { class: "afnio-tuner-score", text: numberText(side.score) })]);
    return h("tr", { "data-index": String(row.index), class: row.differs ? "afnio-tuner-differs" : "" }, [
      h("td", { text: `${row.index}${row.differs ? " ≠" : ""}` }),
      h("td", {}, [h("div", { class: "afnio-cell", text: row.input })]),
      h("td", {}, [h("div", { class: "afnio-cell", text: row.target ?? "—" })]),
      ...sides,
    ]);
  });
  box.append(h("table", { class: "afnio-tuner-table afnio-tuner-comparison" }, [h("thead", {}, [head]), h("tbody", {}, body)]));
}

/**
 * The status line: progress while busy, else the last result or error; in a saved copy, a note.
 * @param {HTMLElement} box
 * @param {TunerModel} state
 * @param {boolean} [saved]
 */
export function renderStatus(box, state, saved = false) {
  clear(box);
  const s = state.status || { busy: false, action: "", calls: 0, seconds: 0, error: "", message: "" };
  box.dataset.busy = String(Boolean(s.busy));
  if (saved) {
    box.append(h("span", { class: "afnio-muted afnio-saved-note", text: SAVED_TUNER_NOTE }));
  } else if (s.busy) {
    box.append(h("span", { class: "afnio-tuner-spinner", "aria-hidden": "true" }), h("span", { text: `${s.action}: ${s.calls} model call${s.calls === 1 ? "" : "s"} done, ${numberText(s.seconds)} s…` }));
  } else if (s.error) {
    box.append(h("span", { class: "afnio-error afnio-tuner-status-error", role: "alert", text: s.error }));
  } else {
    box.append(h("span", { class: "afnio-muted", text: s.message || "Ready." }));
  }
}

