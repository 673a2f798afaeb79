// GradModeToggle: a switch bound to the `enabled` trait (afnio.set_grad_enabled in the kernel).

import { h } from "./dom.js";
import { SAVED_NOTE, watchKernel } from "./sync.js";

/** @typedef {import("@anywidget/types").AnyModel<{enabled: boolean, label: string}>} Model */

export default {
  /** @param {{model: Model, el: HTMLElement}} props */
  render({ model, el }) {
    const input = /** @type {HTMLInputElement} */ (h("input", { type: "checkbox", role: "switch", class: "afnio-switch-input afnio-grad-mode" }));
    const text = h("span", { class: "afnio-switch-label" });
    const state = h("span", { class: "afnio-chip" });
    const note = h("span", { class: "afnio-muted afnio-saved-note", hidden: true, text: SAVED_NOTE });
    const root = h("label", { class: "afnio-switch afnio-gradmode" }, [input, h("span", { class: "afnio-switch-track" }), text, state, note]);
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
    // A saved copy has no kernel to switch: the switch is off until one answers.
    input.disabled = true;
    const kernel = watchKernel(model, (status) => {
      input.disabled = status !== "connected";
      note.hidden = status !== "saved";
      root.dataset.kernel = status;
    });
    input.addEventListener("change", onChange);
    model.on("change:enabled", sync);
    model.on("change:label", sync);
    sync();
    el.append(root);
    return () => {
      kernel.dispose();
      input.removeEventListener("change", onChange);
      model.off("change:enabled", sync);
      model.off("change:label", sync);
      root.remove();
    };
  },
};
