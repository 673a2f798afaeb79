// What every afnio widget view shares (the JS half of afnio_widgets/_sync.py): is a kernel
// behind this widget model, or is the view a saved copy (a notebook reopened without its kernel,
// an HTML export)? What a view draws comes from synced traits either way.

/** @typedef {"waiting" | "connected" | "saved"} KernelStatus */

/** How long a view waits for the kernel before calling itself a saved copy (ms). */
export const SAVED_AFTER_MS = 2500;

/** The one-line note a saved copy shows. */
export const SAVED_NOTE = "Saved copy: drawn from the notebook's saved widget state; switches need a running kernel.";

/**
 * Follows whether a kernel answers for `model`: it sends `{type: "ping"}`; a `pong` (or a
 * change the kernel makes to one of `traits`) means "connected"; no sign of a kernel within
 * `savedAfterMs` means "saved". A kernel busy running a cell answers late: "saved" can still
 * become "connected".
 * @param {{send: (content: any) => void, on: (name: string, fn: (...args: any[]) => void) => void, off: (name: string, fn: (...args: any[]) => void) => void}} model
 * @param {(status: KernelStatus) => void} onChange
 * @param {{traits?: string[], savedAfterMs?: number}} [options]
 * @returns {{status: () => KernelStatus, dispose: () => void}}
 */
export function watchKernel(model, onChange, options = {}) {
  const traits = options.traits || [];
  /** @type {KernelStatus} */
  let status = "waiting";
  /** @param {KernelStatus} next */
  const set = (next) => {
    if (status === next || status === "connected") return;
    status = next;
    onChange(next);
  };
  /** @param {any} msg */
  const onMessage = (msg) => {
    if (msg && msg.type === "pong") set("connected");
  };
  const onTrait = () => set("connected");
  model.on("msg:custom", onMessage);
  for (const name of traits) model.on(`change:${name}`, onTrait);
  const timer = setTimeout(() => set("saved"), options.savedAfterMs ?? SAVED_AFTER_MS);
  try {
    model.send({ type: "ping" });
  } catch {
    // No comm to send on: nothing will answer.
  }
  return {
    status: () => status,
    dispose() {
      clearTimeout(timer);
      model.off("msg:custom", onMessage);
      for (const name of traits) model.off(`change:${name}`, onTrait);
    },
  };
}
