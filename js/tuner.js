// PromptTuner: run, feedback, step, accept/reject/edit, history and compare. Everything drawn
// comes from the widget's synced traits (a saved notebook redraws it); the buttons send one
// "action" message each and the kernel answers by setting traits.

import { clear, h } from "./dom.js";
import { watchKernel } from "./sync.js";
import {
  button,
  enabledActions,
  renderComparison,
  renderGradients,
  renderHistory,
  renderParameters,
  renderResults,
  renderStatus,
  section,
  tunerUsageText,
} from "./tuner-sections.js";

/** @typedef {import("./tuner-sections.js").TunerModel} TunerModel */
/** @typedef {import("./tuner-sections.js").UiState} UiState */
/** @typedef {import("@anywidget/types").AnyModel<TunerModel>} Model */

/** One view of a PromptTuner model. */
class TunerUI {
  /**
   * @param {Model} model
   * @param {HTMLElement} el
   * @param {import("@anywidget/types").Host | undefined} host
   */
  constructor(model, el, host) {
    this.model = model;
    this.host = host;
    this.controller = new AbortController();
    /** @type {UiState} */
    this.ui = { drafts: {}, proposalDrafts: {}, pick: null, graphOpen: false, saved: false };
    this.root = h("div", { class: "afnio-tuner" });
    this.titleEl = h("span", { class: "afnio-title" });
    this.usageEl = h("span", { class: "afnio-usage" });
    this.statusEl = h("div", { class: "afnio-tuner-status", "aria-live": "polite" });
    this.buttons = {
      run: button("Run", "afnio-tuner-run", () => this.act("run"), { title: "Forward and evaluation on the batch" }),
      feedback: button("Feedback", "afnio-tuner-feedback", () => this.act("feedback"), { title: "backward(): each parameter's gradients" }),
      step: button("Step", "afnio-tuner-step", () => this.act("step"), { title: "The optimizer's proposal (not applied yet)" }),
      accept: button("Accept", "afnio-tuner-accept", () => this.act("accept", { edits: this.proposalEdits() }), { title: "Apply the proposal, with your edits" }),
      reject: button("Reject", "afnio-tuner-reject", () => this.act("reject"), { title: "Keep the current text" }),
    };
    this.params = h("div", { class: "afnio-tuner-params" });
    this.results = h("div", { class: "afnio-tuner-results-box" });
    this.grads = h("div", { class: "afnio-tuner-grads-box" });
    this.graphButton = button("Open the run's graph", "afnio-tuner-graph-toggle", () => this.toggleGraph(), { title: "The run's backward graph, with every model call" });
    this.graphBox = h("div", { class: "afnio-tuner-graph", hidden: true });
    this.history = h("div", { class: "afnio-tuner-history-box" });
    this.comparison = h("div", { class: "afnio-tuner-comparison-box" });
    /** @type {string | null} */
    this.graphShown = null;
    /** @type {AbortController | null} */
    this.graphView = null;
    this.wasBusy = false;
    this.root.append(
      h("div", { class: "afnio-toolbar" }, [this.titleEl, h("span", { class: "afnio-spacer" }), this.usageEl]),
      h("div", { class: "afnio-tuner-actions", role: "toolbar", "aria-label": "tuning actions" }, [...Object.values(this.buttons), this.statusEl]),
      section("Parameters", [this.params], "afnio-tuner-params-section"),
      section("Results", [this.results], "afnio-tuner-results-section"),
      section("Feedback", [this.grads, h("div", {}, [this.graphButton]), this.graphBox], "afnio-tuner-feedback-section"),
      section("History", [this.history, this.comparison], "afnio-tuner-history-section"),
    );
    el.append(this.root);
    /** @type {Record<string, () => void>} */
    this.handlers = {
      "change:title": () => this.drawToolbar(),
      "change:usage": () => this.drawToolbar(),
      "change:status": () => this.drawStatus(),
      "change:parameters": () => this.drawParameters(),
      "change:proposal": () => {
        this.ui.proposalDrafts = {};
        this.drawParameters();
        this.drawButtons();
      },
      "change:results": () => {
        this.drawResults();
        this.drawButtons();
      },
      "change:gradients": () => {
        this.drawGradients();
        this.drawButtons();
      },
      "change:graph": () => this.drawGraph(),
      "change:versions": () => this.drawHistory(),
      "change:version": () => {
        this.drawHistory();
        this.drawButtons();
      },
      "change:comparison": () => renderComparison(this.comparison, this.state()),
    };
    for (const [name, fn] of Object.entries(this.handlers)) model.on(name, fn);
    // A notebook reopened without its kernel (or an HTML export) shows the last state; nothing
    // would answer the buttons there.
    this.kernel = watchKernel(model, (status) => {
      this.ui.saved = status === "saved";
      this.root.dataset.kernel = status;
      this.drawAll();
    }, { traits: ["status", "results", "versions"] });
    this.drawAll();
  }

  /** @returns {TunerModel} */
  state() {
    const m = this.model;
    return {
      title: m.get("title") || "",
      parameters: m.get("parameters") || [],
      version: m.get("version") || 0,
      versions: m.get("versions") || [],
      results: m.get("results") || {},
      gradients: m.get("gradients") || {},
      proposal: m.get("proposal") || {},
      comparison: m.get("comparison") || {},
      usage: m.get("usage") || /** @type {any} */ ({}),
      status: m.get("status") || /** @type {any} */ ({}),
      graph: m.get("graph") || null,
    };
  }

  /** @param {string} action @param {Record<string, unknown>} [extra] */
  act(action, extra = {}) {
    this.model.send({ type: "action", action, ...extra });
  }

  proposalEdits() {
    /** @type {Record<string, string>} */
    const edits = {};
    const proposal = (this.model.get("proposal") || {}).parameters || {};
    for (const [name, text] of Object.entries(this.ui.proposalDrafts)) {
      if (proposal[name] && text !== proposal[name].after) edits[name] = text;
    }
    return edits;
  }

  drawAll() {
    this.drawToolbar();
    this.drawStatus();
    this.drawParameters();
    this.drawResults();
    this.drawGradients();
    this.drawGraph();
    this.drawHistory();
    renderComparison(this.comparison, this.state());
  }

  drawToolbar() {
    const s = this.state();
    this.titleEl.textContent = s.title || "afnio prompt tuner";
    this.usageEl.textContent = tunerUsageText(s.usage);
  }

  drawStatus() {
    const s = this.state();
    renderStatus(this.statusEl, s, this.ui.saved);
    this.root.dataset.busy = String(Boolean(s.status.busy));
    this.drawButtons();
    // Controls inside sections follow the busy state too.
    for (const el of this.root.querySelectorAll(".afnio-tuner-set, .afnio-tuner-restore, .afnio-tuner-compare")) {
      if (s.status.busy) /** @type {HTMLButtonElement} */ (el).disabled = true;
    }
    if (!s.status.busy && this.wasBusy) {
      this.drawParameters();
      this.drawHistory();
    }
    this.wasBusy = Boolean(s.status.busy);
  }

  drawButtons() {
    const enabled = enabledActions(this.state(), this.ui.saved);
    for (const [name, b] of Object.entries(this.buttons)) {
      /** @type {HTMLButtonElement} */ (b).disabled = !enabled[/** @type {keyof typeof enabled} */ (name)];
    }
  }

  drawParameters() {
    renderParameters(this.params, this.state(), this.ui, (a, e) => this.act(a, e));
  }

  drawResults() {
    renderResults(this.results, this.state());
  }

  drawGradients() {
    renderGradients(this.grads, this.state(), (index) => {
      const row = /** @type {HTMLElement | null} */ (this.results.querySelector(`tr[data-index="${index}"]`));
      if (!row) return;
      for (const el of this.results.querySelectorAll(".afnio-tuner-highlight")) el.classList.remove("afnio-tuner-highlight");
      row.classList.add("afnio-tuner-highlight");
      row.scrollIntoView?.({ block: "nearest" });
    });
  }

  drawHistory() {
    renderHistory(this.history, this.state(), this.ui, (a, e) => this.act(a, e));
  }

  toggleGraph() {
    this.ui.graphOpen = !this.ui.graphOpen;
    this.drawGraph();
  }

  drawGraph() {
    const ref = this.model.get("graph") || null;
    this.graphButton.hidden = !ref;
    this.graphButton.textContent = this.ui.graphOpen ? "Hide the run's graph" : "Open the run's graph";
    this.graphButton.setAttribute("aria-expanded", String(this.ui.graphOpen));
    this.graphBox.hidden = !(ref && this.ui.graphOpen);
    if (!ref || !this.ui.graphOpen || this.graphShown === ref) return;
    this.graphShown = ref;
    this.graphView?.abort();
    clear(this.graphBox);
    if (!this.host) {
      this.graphBox.append(h("p", { class: "afnio-muted", text: "This front-end cannot show a nested widget." }));
      return;
    }
    const view = new AbortController();
    this.graphView = view;
    const box = h("div", { class: "afnio-tuner-graph-view" });
    this.graphBox.append(box);
    this.host.getWidget(ref)
      .then((child) => child.render({ el: box, signal: view.signal }))
      .catch((error) => {
        if (view.signal.aborted) return;
        box.append(h("p", { class: "afnio-error", text: `The graph could not be shown: ${error instanceof Error ? error.message : String(error)}` }));
      });
  }

  dispose() {
    this.kernel.dispose();
    this.controller.abort();
    this.graphView?.abort();
    for (const [name, fn] of Object.entries(this.handlers)) this.model.off(name, fn);
    this.root.remove();
  }
}

export default {
  /** @param {{model: Model, el: HTMLElement, host?: import("@anywidget/types").Host}} props */
  render({ model, el, host }) {
    const view = new TunerUI(model, el, host);
    return () => view.dispose();
  },
};
