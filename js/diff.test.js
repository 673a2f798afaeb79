import { describe, expect, it } from "vitest";
import { diffStats, tokenize, wordDiff } from "./diff.js";

/** @param {import("./diff.js").DiffPart[]} parts @param {"same" | "add" | "del"} drop */
const rebuild = (parts, drop) => parts.filter((p) => p.op !== drop).map((p) => p.text).join("");

describe("wordDiff", () => {
  it("tokenizes words and whitespace losslessly", () => {
    expect(tokenize("a  b\nc")).toEqual(["a", "  ", "b", "\n", "c"]);
    expect(tokenize("")).toEqual([]);
  });

  it("finds added and deleted words", () => {
    const parts = wordDiff("Answer the question.", "Answer the question in one word.");
    expect(parts).toEqual([
      { op: "same", text: "Answer the " },
      { op: "del", text: "question." },
      { op: "add", text: "question in one word." },
    ]);
    expect(diffStats(parts)).toEqual({ added: 4, deleted: 1 });
  });

  it("rebuilds both texts", () => {
    const before = "Classify the sentiment of the message as positive or negative.";
    const after = "Classify the sentiment of each message as positive or negative. Sarcasm counts as negative.";
    const parts = wordDiff(before, after);
    expect(rebuild(parts, "add")).toBe(before);
    expect(rebuild(parts, "del")).toBe(after);
    expect(parts.filter((p) => p.op === "del").map((p) => p.text)).toEqual(["the"]);
  });

  it("handles identical, empty and huge texts", () => {
    expect(wordDiff("same", "same")).toEqual([{ op: "same", text: "same" }]);
    expect(wordDiff("", "new")).toEqual([{ op: "add", text: "new" }]);
    const a = Array.from({ length: 3000 }, (_, i) => `w${i}`).join(" ");
    const b = Array.from({ length: 3000 }, (_, i) => `v${i}`).join(" ");
    const parts = wordDiff(a, b);
    expect(rebuild(parts, "add")).toBe(a);
    expect(rebuild(parts, "del")).toBe(b);
  });
});
