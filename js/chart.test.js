// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { lineChart, metricCaption, metricDirection, ticks } from "./chart.js";

describe("chart", () => {
  it("says which direction of a metric is better (afnio's loss is a score)", () => {
    expect(metricCaption("loss")).toBe("loss (higher is better)");
    expect(metricDirection("val_accuracy")).toBe("higher");
    expect(metricDirection("error_rate")).toBe("lower");
    expect(metricDirection("total_tokens")).toBe("lower");
    expect(metricCaption("temperature")).toBe("temperature");
  });

  it("chooses round ticks", () => {
    expect(ticks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(ticks(0, 97, 4)).toEqual([0, 50]);
    expect(ticks(3, 3)).toEqual([3]);
  });

  it("draws one line per series and points for validation", () => {
    const svg = lineChart(
      [
        { name: "train <b>loss</b>", points: [[0, 1], [1, 0.5], [2, 0.25]] },
        { name: "validation loss", points: [[2, 0.3]], dots: true },
      ],
      { width: 300, height: 150, epochs: [1.5] },
    );
    expect(svg.querySelectorAll("polyline").length).toBe(1);
    expect(svg.querySelectorAll("circle").length).toBe(1);
    expect(svg.querySelectorAll(".afnio-epoch").length).toBe(1);
    expect(svg.textContent).toContain("train <b>loss</b>");
    expect(svg.querySelector("b")).toBeNull();
  });

  it("says when there is nothing to draw", () => {
    expect(lineChart([], { width: 100, height: 50 }).textContent).toBe("No metrics yet.");
  });
});
