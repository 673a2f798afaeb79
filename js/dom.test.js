// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { asText, cut, h, s, visible } from "./dom.js";
import { HOSTILE } from "./test-helpers.js";

describe("dom builders", () => {
  it("put text in as text", () => {
    for (const text of HOSTILE) {
      const el = h("div", { text });
      expect(el.textContent).toBe(text);
      expect(el.children.length).toBe(0);
      const svgText = s("text", { text });
      expect(svgText.textContent).toBe(text);
      expect(svgText.children.length).toBe(0);
    }
    const el = h("p", {}, ["<b>x</b>", h("span", { text: "<i>y</i>" })]);
    expect(el.querySelectorAll("b, i").length).toBe(0);
  });

  it("show control and bidi characters instead of letting them act", () => {
    expect(visible("\u202Elive")).toBe("⟨U+202E⟩live");
    expect(visible("a\u0000b\u200Bc\u2067d\uFEFF")).toBe("a⟨U+0000⟩b⟨U+200B⟩c⟨U+2067⟩d⟨U+FEFF⟩");
    expect(visible("tab\tand\nline, emoji 👩\u200D💻")).toBe("tab\tand\nline, emoji 👩\u200D💻");
    expect(h("div", { text: "\u202Eevil" }).textContent).toBe("⟨U+202E⟩evil");
    expect(h("p", {}, ["\u202Eevil"]).textContent).toBe("⟨U+202E⟩evil");
    expect(s("tspan", { text: "x\u202Ey" }).textContent).toBe("x⟨U+202E⟩y");
  });

  it("refuse event-handler attributes", () => {
    expect(() => h("div", { onclick: "alert(1)" })).toThrow(/not allowed/);
    expect(() => s("svg", { ONLOAD: "x" })).toThrow(/not allowed/);
  });

  it("format values", () => {
    expect(asText({ a: 1 })).toBe('{\n  "a": 1\n}');
    expect(asText("x")).toBe("x");
    expect(cut("a   b\nc", 10)).toBe("a b c");
    expect(cut("abcdefghijk", 5)).toBe("abcd…");
  });
});
