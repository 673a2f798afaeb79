// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { diffView, emptyTraining, renderTraining, trainingData } from "./training.js";
import { HOSTILE } from "./test-helpers.js";

describe("trainingData", () => {
  it("fills in what the trait lacks", () => {
    expect(trainingData(undefined)).toEqual(emptyTraining());
    const data = trainingData({ status: "done", steps: [{ step: 0, epoch: 1, batch: 0, metrics: { loss: 1 } }] });
    expect(data.status).toBe("done");
    expect(data.steps.length).toBe(1);
    expect(data.parameters).toEqual({});
  });
});

describe("renderTraining", () => {
  it("draws charts, the epoch table, diffs and usage, with hostile text as text", () => {
    const data = {
      ...emptyTraining(),
      status: /** @type {const} */ ("running"),
      epoch: 2,
      steps: [0, 1, 2, 3].map((i) => ({ step: i, epoch: i < 2 ? 1 : 2, batch: i % 2, metrics: { loss: 1 / (i + 1), accuracy: i / 4 } })),
      validation: [{ step: 1, epoch: 1, metrics: { loss: 0.4 } }],
      epochs: [{ epoch: 1, metrics: { loss: 0.75, val_loss: 0.4 } }],
      parameters: { [HOSTILE[0]]: [{ step: 0, epoch: 1, text: "Answer." }, { step: 1, epoch: 1, text: `Answer in one word. ${HOSTILE[1]}` }] },
      usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 1500, cost: 0.0123, currency: "USD", calls: 4 },
    };
    const root = document.createElement("div");
    renderTraining(root, data, { height: 150, title: "run", open: new Set() });
    expect(root.querySelectorAll("figure.afnio-figure").length).toBe(2);
    expect(root.querySelectorAll(".afnio-epochs tr").length).toBe(2);
    expect(root.querySelector(".afnio-usage")?.textContent).toBe("1,500 tokens · 0.0123 USD · 4 model calls");
    expect(root.querySelector(".afnio-param h4")?.textContent).toBe(`${HOSTILE[0]} · 2 versions`);
    const diff = root.querySelector(".afnio-diff");
    expect(diff?.querySelector("ins")?.textContent).toContain(HOSTILE[1]);
    expect(root.querySelectorAll("script, img").length).toBe(0);
    expect(root.querySelector(".afnio-version summary")?.textContent).toMatch(/^v1 after step 1 \(epoch 1\): \+\d+ −1 words$/);
  });

  it("diffView marks words", () => {
    const view = diffView("a b c", "a x c");
    expect(view.querySelector("del")?.textContent).toBe("b");
    expect(view.querySelector("ins")?.textContent).toBe("x");
    expect(view.textContent).toBe("a bx c");
  });
});
