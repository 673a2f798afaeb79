// @vitest-environment happy-dom
import { describe, expect, it, vi } from "vitest";
import { FakeModel, HOSTILE } from "./test-helpers.js";
import tuner from "./tuner.js";
import { SAVED_TUNER_NOTE, enabledActions, metricsText, renderComparison, renderResults, tunerUsageText } from "./tuner-sections.js";

const idle = { busy: false, action: "", calls: 0, seconds: 0, error: "", message: "" };

/** @param {Record<string, any>} [extra] */
function state(extra = {}) {
  return {
    title: "tuning",
    parameters: [{ name: "system_prompt", role: "system prompt", text: "Label it.", preview: "Label it." }],
    version: 0,
    versions: [{ version: 0, texts: { system_prompt: "Label it." }, source: "initial", parent: null, runs: [] }],
    results: {},
    gradients: {},
    proposal: {},
    comparison: {},
    usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, cost: 0, currency: "USD", calls: 0, unpriced: 0 },
    status: idle,
    graph: null,
    ...extra,
  };
}

const run = {
  run: 1,
  version: 0,
  metrics: { accuracy: 0.5 },
  failed: 1,
  per_example: true,
  rows: [
    { index: 0, input: HOSTILE[0], output: HOSTILE[1], target: "positive", score: 0, explanation: HOSTILE[3], error: null, calls: [{ phase: "forward", sample: 0, response: HOSTILE[2], usage: { total_tokens: 7 } }] },
    { index: 1, input: "Not bad.", output: null, target: null, score: null, explanation: null, error: "ModelCallError: openai gpt-4o-mini failed after 1 attempt: the model is down", calls: [] },
  ],
};

describe("tuner helpers", () => {
  it("formats metrics and usage", () => {
    expect(metricsText({ accuracy: 0.5, loss: 2 })).toBe("accuracy 0.5 · loss 2");
    expect(metricsText({})).toBe("no metrics");
    expect(tunerUsageText({ total_tokens: 1200, cost: 0, currency: "USD", calls: 3, unpriced: 3 })).toBe("1,200 tokens · 0.0000 USD · 3 model calls (3 unpriced)");
  });

  it("enables the buttons the state allows", () => {
    expect(enabledActions(state())).toEqual({ run: true, feedback: false, step: false, accept: false, reject: false });
    expect(enabledActions(state({ results: run }))).toMatchObject({ feedback: true, step: false });
    expect(enabledActions(state({ results: run, version: 1 }))).toMatchObject({ feedback: false });  // a run of an older version
    expect(enabledActions(state({ results: run, gradients: { run: 1, parameters: {} } }))).toMatchObject({ feedback: false, step: true });
    const proposed = state({ results: run, gradients: { run: 1 }, proposal: { parameters: { system_prompt: { before: "a", after: "b" } } } });
    expect(enabledActions(proposed)).toMatchObject({ step: false, accept: true, reject: true });
    expect(enabledActions({ ...proposed, status: { ...idle, busy: true } })).toEqual({ run: false, feedback: false, step: false, accept: false, reject: false });
  });
});

describe("renderResults", () => {
  it("shows each example, a failed one with its error, hostile text as text", () => {
    const box = document.createElement("div");
    renderResults(box, /** @type {any} */ (state({ results: run })));
    const rows = box.querySelectorAll(".afnio-tuner-results > tbody > tr");
    expect(rows.length).toBe(2);
    expect(rows[0].querySelector(".afnio-tuner-input")?.textContent).toBe(HOSTILE[0]);
    expect(rows[0].querySelector(".afnio-tuner-output")?.textContent).toBe(HOSTILE[1]);
    expect(rows[0].querySelector(".afnio-tuner-score")?.textContent).toBe("0");
    expect(rows[1].querySelector(".afnio-tuner-error")?.textContent).toContain("the model is down");
    expect(box.querySelector(".afnio-tuner-metrics")?.textContent).toContain("1 of 2 examples failed");
    expect(rows[0].querySelector(".afnio-tuner-calls summary")?.textContent).toBe("1 forward call");
    expect(box.querySelectorAll("script, img, svg").length).toBe(0);
  });
});

describe("renderComparison", () => {
  it("sets two versions side by side", () => {
    const box = document.createElement("div");
    const side = (/** @type {string} */ output, /** @type {number} */ score) => ({ output, score, explanation: "", error: null });
    renderComparison(box, /** @type {any} */ (state({ comparison: { versions: [0, 2], runs: [3, 4], metrics: [{ accuracy: 0.5 }, { accuracy: 1 }], rows: [
      { index: 1, input: "Not bad.", target: "positive", differs: true, sides: [side("negative", 0), side("positive", 1)] },
      { index: 0, input: "Great.", target: "positive", differs: false, sides: [side("positive", 1), side("positive", 1)] },
    ] } })));
    expect([...box.querySelectorAll("th")].map((th) => th.textContent)).toEqual(["#", "input", "target", "v0 output", "v0 score", "v2 output", "v2 score"]);
    const first = box.querySelector("tbody tr");
    expect(first?.classList.contains("afnio-tuner-differs")).toBe(true);
    expect([...(first?.querySelectorAll("td") || [])].map((td) => td.textContent)).toEqual(["1 ≠", "Not bad.", "positive", "negative", "0", "positive", "1"]);
  });
});

describe("the widget", () => {
  it("draws from traits, sends actions, keeps proposal edits and follows status", () => {
    const model = new FakeModel(state({ results: run }));
    const el = document.createElement("div");
    const dispose = tuner.render(/** @type {any} */ ({ model, el }));
    const click = (/** @type {string} */ cls) => /** @type {HTMLButtonElement} */ (el.querySelector(cls)).click();
    click(".afnio-tuner-feedback");
    expect(model.sent.at(-1)).toEqual({ type: "action", action: "feedback" });

    model.set("gradients", { run: 1, parameters: { system_prompt: [{ example: 0, text: "Say why.", role: "feedback" }, { example: null, text: "Overall.", role: "feedback" }] }, calls: [] });
    expect(el.querySelector(".afnio-tuner-from")?.textContent).toBe("from example 0");
    click(".afnio-tuner-from");
    expect(el.querySelector('tr[data-index="0"]')?.classList.contains("afnio-tuner-highlight")).toBe(true);

    model.set("proposal", { parameters: { system_prompt: { before: "Label it.", after: "Label it. Explain." } }, calls: [{ phase: "optimizer", response: "{}" }] });
    expect(el.querySelector(".afnio-tuner-proposal ins")?.textContent).toBe(" Explain.");
    expect(el.querySelector(".afnio-tuner-params .afnio-tuner-calls summary")?.textContent).toBe("1 optimizer call");
    const edit = /** @type {HTMLTextAreaElement} */ (el.querySelector(".afnio-tuner-proposal-text"));
    edit.value = "Label it. Explain briefly.";
    edit.dispatchEvent(new Event("input"));
    click(".afnio-tuner-accept");
    expect(model.sent.at(-1)).toEqual({ type: "action", action: "accept", edits: { system_prompt: "Label it. Explain briefly." } });

    const text = /** @type {HTMLTextAreaElement} */ (el.querySelector(".afnio-tuner-text"));
    text.value = HOSTILE[1];
    text.dispatchEvent(new Event("input"));
    click(".afnio-tuner-set");
    expect(model.sent.at(-1)).toEqual({ type: "action", action: "edit", name: "system_prompt", text: HOSTILE[1] });

    model.set("status", { ...idle, busy: true, action: "run", calls: 3, seconds: 1.5 });
    expect(el.querySelector(".afnio-tuner-status")?.textContent).toBe("run: 3 model calls done, 1.5 s…");
    expect(/** @type {HTMLButtonElement} */ (el.querySelector(".afnio-tuner-run")).disabled).toBe(true);
    model.set("status", { ...idle, action: "run", error: "RuntimeError: No run yet." });
    expect(el.querySelector(".afnio-tuner-status [role=alert]")?.textContent).toBe("RuntimeError: No run yet.");

    model.set("versions", [
      { version: 0, texts: { system_prompt: "Label it." }, source: "initial", parent: null, runs: [{ run: 1, metrics: { accuracy: 0.5 }, failed: 0 }] },
      { version: 1, texts: { system_prompt: "Label it. Explain." }, source: "proposal", parent: 0, runs: [] },
    ]);
    model.set("version", 1);
    expect(el.querySelector('tr[data-version="0"] .afnio-tuner-runs')?.textContent).toBe("#1: accuracy 0.5");
    click('tr[data-version="0"] .afnio-tuner-restore');
    expect(model.sent.at(-1)).toEqual({ type: "action", action: "revert", version: 0 });
    click(".afnio-tuner-compare");
    expect(model.sent.at(-1)).toEqual({ type: "action", action: "compare", v1: 0, v2: 1 });
    expect(el.querySelectorAll("script, img").length).toBe(0);

    /** @type {() => void} */ (dispose)();
    expect(model.listenerCount()).toBe(0);
    expect(el.children.length).toBe(0);
  });
});

describe("a saved copy", () => {
  it("shows the saved state with its buttons off until a kernel answers", () => {
    vi.useFakeTimers();
    try {
      const model = new FakeModel(state({ results: run, versions: [
        { version: 0, texts: { system_prompt: "Label it." }, source: "initial", parent: null, runs: [] },
        { version: 1, texts: { system_prompt: "Label it!" }, source: "edit", parent: 0, runs: [] },
      ] }));
      const el = document.createElement("div");
      const dispose = tuner.render(/** @type {any} */ ({ model, el }));
      expect(model.sent[0]).toEqual({ type: "ping" });
      vi.advanceTimersByTime(3000);  // nobody answered
      expect(el.querySelector(".afnio-tuner-status")?.textContent).toBe(SAVED_TUNER_NOTE);
      const disabled = (/** @type {string} */ sel) => /** @type {HTMLButtonElement} */ (el.querySelector(sel)).disabled;
      expect([".afnio-tuner-run", ".afnio-tuner-feedback", ".afnio-tuner-set", ".afnio-tuner-compare"].map(disabled)).toEqual([true, true, true, true]);
      expect(el.querySelectorAll(".afnio-tuner-results > tbody > tr").length).toBe(2);  // still drawn
      model.emit("msg:custom", { type: "pong" });  // a kernel after all (it was busy)
      expect(disabled(".afnio-tuner-run")).toBe(false);
      /** @type {() => void} */ (dispose)();
    } finally {
      vi.useRealTimers();
    }
  });
});
