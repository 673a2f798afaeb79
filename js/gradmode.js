// GradModeToggle: a switch bound to the `enabled` trait (afnio.set_grad_enabled in the kernel).

import { h } from "./dom.js";

/** @typedef {import("@anywidget/types").AnyModel<{enabled: boolean, label: string}>} Model */

export default {
  /** @param {{model: Model, el: HTMLElement}} props */
  render({ model, el }) {
    const input = /** @type {HTMLInputElement} */ (h("input", { type: "checkbox", role: "switch", class: "afnio-switch-input afnio-grad-mode" }));
    const text = h("span", { class: "afnio-switch-label" });
    const state = h("span", { class: "afnio-chip" });
    const root = h("label", { class: "afnio-switch afnio-gradmode" }, [input, h("span", { class: "afnio-switch-track" }), text, state]);
    const sync = () => {
      input.checked = Boolean(model.get("enabled"));
      text.textContent = model.get("label") || "grad mode";
      state.textContent = input.checked ? "on: operations record a graph" : "off: no graph is recorded";
      root.classList.toggle("off", !input.checked);
    };
    const onChange = () => {
      model.set("enabled", input.checked);
      model.save_changes();
    };
    input.addEventListener("change", onChange);
    model.on("change:enabled", sync);
    model.on("change:label", sync);
    sync();
    el.append(root);
    return () => {
      input.removeEventListener("change", onChange);
      model.off("change:enabled", sync);
      model.off("change:label", sync);
      root.remove();
    };
  },
};
