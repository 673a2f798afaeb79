// The layout module: Graphviz (WebAssembly, inlined by the bundler). Run as a module Web Worker
// it answers {id, dot, engine} messages with {id, json} or {id, error}; imported on the main
// thread (fallback) it exports `layout`.

import { Graphviz } from "@hpcc-js/wasm-graphviz";

/** @type {Promise<Graphviz> | null} */
let loading = null;

/**
 * Lays out DOT text; returns Graphviz's "json0" output (positions, no drawing ops).
 * @param {string} dot
 * @param {string} engine "dot" or "sfdp".
 * @returns {Promise<string>}
 */
export async function layout(dot, engine) {
  loading ??= Graphviz.load();
  const graphviz = await loading;
  return graphviz.layout(dot, /** @type {any} */ ("json0"), /** @type {any} */ (engine));
}

const scope = /** @type {any} */ (globalThis);
if (typeof scope.WorkerGlobalScope !== "undefined" && scope instanceof scope.WorkerGlobalScope) {
  scope.onmessage = async (/** @type {MessageEvent} */ event) => {
    const { id, dot, engine } = event.data || {};
    try {
      scope.postMessage({ id, json: await layout(dot, engine) });
    } catch (error) {
      scope.postMessage({ id, error: String(error instanceof Error ? error.message : error) });
    }
  };
}
