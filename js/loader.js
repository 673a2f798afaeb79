// The `_esm` of every afnio widget: imports the widget's real code from the shared bundle model
// its `_bundle` trait references (afnio_widgets/_assets.py), once per page, and runs it. The
// bundle is stored once per notebook however many views use it.

/** @typedef {{get: (key: string) => any}} BundleModel */
/** @typedef {{default: {render: (props: any) => any}}} WidgetModule */

/** @type {Map<string, Promise<WidgetModule>>} */
const modules = (/** @type {any} */ (globalThis).__afnioBundles ??= new Map());

/**
 * The bundle model a widget model references (`"IPY_MODEL_<id>"` or the model itself).
 * @param {any} model
 * @returns {Promise<BundleModel>}
 */
async function bundleOf(model) {
  const ref = model.get("_bundle");
  if (ref && typeof ref === "object" && typeof ref.get === "function") return ref;
  if (typeof ref !== "string" || !ref.startsWith("IPY_MODEL_")) {
    throw new Error(`afnio_widgets: this widget has no front-end bundle (_bundle = ${JSON.stringify(ref)}).`);
  }
  return model.widget_manager.get_model(ref.slice("IPY_MODEL_".length));
}

/**
 * Imports a bundle's code (and adds its style sheet to the page), once per page.
 * @param {BundleModel} bundle
 * @returns {Promise<WidgetModule>}
 */
export function importBundle(bundle) {
  const digest = String(bundle.get("digest") || "");
  let found = modules.get(digest);
  if (!found) {
    const css = String(bundle.get("css") || "");
    if (css && typeof document !== "undefined") {
      const style = document.createElement("style");
      style.dataset.afnioBundle = digest;
      style.textContent = css;
      document.head.append(style);
    }
    const url = URL.createObjectURL(new Blob([String(bundle.get("code") || "")], { type: "text/javascript" }));
    found = import(/* @vite-ignore */ url).finally(() => URL.revokeObjectURL(url));
    modules.set(digest, found);
  }
  return found;
}

export default {
  /** @param {{model: any, el: HTMLElement}} props What anywidget gives (passed on as it is). */
  async render(props) {
    const { model, el } = props;
    try {
      const widget = await importBundle(await bundleOf(model));
      return await widget.default.render(props);
    } catch (error) {
      const box = document.createElement("pre");
      box.className = "afnio-missing-bundle";
      box.textContent = `afnio_widgets could not load its front-end: ${error instanceof Error ? error.message : String(error)}`;
      el.append(box);
      return () => box.remove();
    }
  },
};
