// GraphView: the anywidget front-end of afnio_widgets.GraphView.

import workerCode from "virtual:layout-worker";
import { buildDrawGraph, fitScale } from "./collapse.js";
import { graphDot, layoutDot } from "./dot.js";
import { h, s } from "./dom.js";
import { TimeoutError, WorkerRunner, bindLayout, chooseEngine, parseLayout } from "./layout.js";
import { renderPanel } from "./panel.js";
import { panZoom } from "./panzoom.js";
import { ReplayBar } from "./replay.js";
import { GraphStore, parseGraph } from "./store.js";
import { drawGraph } from "./svg.js";
import { SAVED_NOTE, watchKernel } from "./sync.js";

/** @typedef {import("./collapse.js").DrawGraph} DrawGraph */
/** @typedef {import("./layout.js").Layout} Layout */

/**
 * The synced traits of afnio_widgets.GraphView.
 * @typedef {object} GraphViewModel
 * @property {number} height
 * @property {number} max_nodes
 * @property {boolean} collapse
 * @property {string} selected
 * @property {string} title
 * @property {"auto" | "dot" | "sfdp"} layout_engine
 * @property {boolean} live
 * @property {boolean} editable
 * @property {string} graph_json What the view draws: a Graph as JSON text.
 */

/** @typedef {import("@anywidget/types").AnyModel<GraphViewModel>} Model */

const LAYOUT_TIMEOUT_MS = 5000;

/**
 * Lays out DOT: the shared worker, or what `useLayoutRunner` installed.
 * @typedef {{run: (dot: string, engine: string, timeoutMs: number) => Promise<string>}} LayoutRunner
 */

/** @type {LayoutRunner | null} */
let runner = null;

/**
 * Replaces the layout runner (tests run Graphviz directly, without a worker).
 * @param {LayoutRunner} replacement
 */
export function useLayoutRunner(replacement) {
  runner = replacement;
}

/** Renders one view of a GraphView model. */
class GraphViewUI {
  /**
   * @param {Model} model
   * @param {HTMLElement} el
   * @param {GraphStore} store
   */
  constructor(model, el, store) {
    this.model = model;
    this.el = el;
    this.store = store;
    this.controller = new AbortController();
    /** @type {Set<string>} */
    this.expanded = new Set();
    this.extraNodes = 0;
    this.autoFit = true;
    /** What to draw now. @type {DrawGraph | null} */
    this.draw = null;
    /** @type {{source: string, names: string[]} | null} */
    this.dot = null;
    /** @type {Layout | null} */
    this.layout = null;
    /** The draw graph on screen (the one `layout` was made or bound for) and its DOT.
     * @type {DrawGraph | null} */
    this.drawn = null;
    /** @type {{source: string, names: string[]} | null} */
    this.laidOut = null;
    this.layoutToken = 0;
    this.layoutBusy = false;
    this.layoutQueued = false;
    this.panelSignature = "";
    /** @type {Set<string>} */
    this.detailsAsked = new Set();
    this.disposed = false;
    /** @type {ResizeObserver | null} */
    this.resizer = null;
    /** @type {import("./sync.js").KernelStatus} */
    this.kernel = "waiting";
    // Focusable (tabindex -1: by a click, not by Tab) so that the arrow keys reach the replay.
    this.root = h("div", { class: "afnio-graphview", tabindex: -1 });
    this.titleEl = h("span", { class: "afnio-title" });
    this.collapseInput = /** @type {HTMLInputElement} */ (h("input", { type: "checkbox", class: "afnio-collapse-input" }));
    this.svg = /** @type {SVGSVGElement} */ (s("svg", { class: "afnio-svg", width: "100%", height: "100%", role: "img", "aria-label": "backward graph" }));
    this.viewport = /** @type {SVGGElement} */ (s("g", { class: "afnio-viewport" }));
    this.overlay = h("div", { class: "afnio-overlay", text: "Waiting for the graph…" });
    this.panel = h("aside", { class: "afnio-panel", hidden: true });
    this.status = h("div", { class: "afnio-status" });
    this.replay = new ReplayBar({
      signal: this.controller.signal,
      onChange: () => this.replay.apply(this.viewport),
      onSelect: (id) => {
        this.model.set("selected", id);
        this.model.save_changes();
      },
    });
    this.pz = panZoom(this.svg, this.viewport, () => {
      this.autoFit = false;
    });
    this.build();
    this.unsubscribe = store.subscribe((change) => this.onStore(change.structural));
    for (const name of ["change:max_nodes", "change:collapse", "change:layout_engine"]) {
      model.on(name, this.onOptions);
    }
    model.on("change:selected", this.onSelected);
    model.on("change:height", this.onHeight);
    model.on("change:title", this.onTitle);
    model.on("change:live", this.onTitle);
    model.on("change:editable", this.onOptions);
    this.kernelWatch = watchKernel(model, (status) => {
      this.kernel = status;
      this.panelSignature = "";
      this.renderPanel();
      this.renderStatus();
    }, { traits: ["graph_json"] });
    this.update();
  }

  build() {
    const signal = this.controller.signal;
    const button = (/** @type {string} */ text, /** @type {string} */ title, /** @type {() => void} */ action, /** @type {string} */ cls) => {
      const b = h("button", { type: "button", class: `afnio-button ${cls}`, title, text });
      b.addEventListener("click", action, { signal });
      return b;
    };
    this.collapseInput.addEventListener("change", () => {
      this.model.set("collapse", this.collapseInput.checked);
      this.model.save_changes();
    }, { signal });
    const toolbar = h("div", { class: "afnio-toolbar" }, [
      this.titleEl,
      h("span", { class: "afnio-spacer" }),
      button("Fit", "Fit the whole graph in view", () => this.fit(), "afnio-fit"),
      button("+", "Zoom in", () => this.zoom(1.25), "afnio-zoom-in"),
      button("−", "Zoom out", () => this.zoom(0.8), "afnio-zoom-out"),
      h("label", { class: "afnio-check", title: "Collapse long chains and wide fans" }, [this.collapseInput, "collapse"]),
      button("DOT", "Download the graph as DOT text (as afnio_widgets.to_dot)", () => this.downloadDot(), "afnio-dot"),
    ]);
    this.svg.append(this.viewport);
    const canvas = h("div", { class: "afnio-canvas" }, [this.svg, this.overlay]);
    this.root.append(toolbar, this.replay.el, h("div", { class: "afnio-body" }, [canvas, this.panel]), this.status);
    this.root.addEventListener("keydown", (event) => this.replay.onKey(event), { signal });
    this.el.append(this.root);
    this.svg.addEventListener("click", (event) => this.onClick(event), { signal });
    this.svg.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        this.onClick(event);
      }
    }, { signal });
    this.onHeight();
    this.onTitle();
    if (typeof ResizeObserver !== "undefined") {
      // A canvas that gets its first size (a view rendered hidden) fits the graph; later
      // resizes (the panel opening, a cell resized) keep the zoom and the centre of the view.
      let last = { w: 0, h: 0 };
      this.resizer = new ResizeObserver(() => {
        const rect = canvas.getBoundingClientRect();
        if (!last.w || !last.h) {
          if (this.autoFit) this.fit();
        } else {
          this.pz.panBy((rect.width - last.w) / 2, (rect.height - last.h) / 2);
        }
        last = { w: rect.width, h: rect.height };
      });
      this.resizer.observe(canvas);
    }
  }

  onOptions = () => this.update();
  onHeight = () => {
    this.root.style.height = `${Math.max(200, this.model.get("height") || 520)}px`;
  };
  onTitle = () => {
    const live = this.model.get("live") ? " · live" : "";
    this.titleEl.textContent = `${this.model.get("title") || "afnio graph"}${live}`;
  };
  onSelected = () => {
    this.panelSignature = "";
    this.renderSelection();
    this.renderPanel();
  };

  /** @param {boolean} structural */
  onStore(structural) {
    if (structural) this.detailsAsked.clear();
    this.update();
  }

  /** Whether the switches act on kernel Variables: a view backed by them, with a kernel. */
  editable() {
    return Boolean(this.model.get("editable")) && this.kernel === "connected";
  }

  /** Recomputes what to draw; lays it out again only if its structure changed. */
  update() {
    if (this.disposed) return;
    this.collapseInput.checked = Boolean(this.model.get("collapse"));
    const draw = buildDrawGraph(this.store, {
      collapse: Boolean(this.model.get("collapse")),
      maxNodes: (this.model.get("max_nodes") || 300) + this.extraNodes,
      expanded: this.expanded,
    });
    this.draw = draw;
    this.replay.setGraph(this.store);
    const { engine, limits } = chooseEngine(draw, this.model.get("layout_engine") || "auto");
    const dot = layoutDot(draw, { engine, limits });
    if (this.layout && this.laidOut && this.laidOut.source === dot.source) {
      // Same shape, maybe other ids (the layout DOT holds none): bind the layout to this graph.
      this.layout = bindLayout(this.layout, dot.names);
      this.laidOut = dot;
      this.drawn = draw;
      this.redraw();
    } else {
      this.dot = dot;
      this.requestLayout(engine);
    }
    this.renderPanel();
    this.renderStatus();
  }

  /** @param {"dot" | "sfdp"} engine */
  requestLayout(engine) {
    if (this.layoutBusy) {
      this.layoutQueued = true;
      return;
    }
    if (!this.draw || !this.dot) return;
    if (!this.draw.nodes.length) {
      this.layout = null;
      this.drawn = null;
      this.laidOut = null;
      while (this.viewport.firstChild) this.viewport.removeChild(this.viewport.firstChild);
      this.overlay.hidden = false;
      this.overlay.textContent = this.store.version ? "The graph is empty." : "Waiting for the graph…";
      return;
    }
    this.layoutBusy = true;
    const token = ++this.layoutToken;
    const dot = this.dot;
    const draw = this.draw;
    const started = performance.now();
    if (!this.layout) {
      this.overlay.hidden = false;
      this.overlay.textContent = `Laying out ${draw.nodes.length} nodes…`;
    }
    runner ??= new WorkerRunner(workerCode);
    const active = runner;
    const preference = this.model.get("layout_engine") || "auto";
    /** @param {string} json @param {string} used */
    const done = (json, used) => {
      if (this.disposed || token !== this.layoutToken) return;
      this.layout = { ...parseLayout(json, dot.names), engine: used, ms: performance.now() - started };
      this.laidOut = dot;
      this.drawn = draw; // not this.draw: it may have changed while the layout ran
      this.overlay.hidden = true;
      this.redraw();
      if (this.autoFit) this.fit();
      this.renderStatus();
    };
    active.run(dot.source, engine, LAYOUT_TIMEOUT_MS)
      .then((json) => done(json, engine))
      .catch((error) => {
        if (engine === "dot" && preference === "auto" && error instanceof TimeoutError) {
          const sfdp = layoutDot(draw, { engine: "sfdp" });
          this.dot = sfdp;
          return active.run(sfdp.source, "sfdp", LAYOUT_TIMEOUT_MS * 2).then((json) => done(json, "sfdp (dot timed out)"));
        }
        throw error;
      })
      .catch((error) => {
        if (this.disposed) return;
        this.overlay.hidden = false;
        this.overlay.textContent = `Layout failed: ${error instanceof Error ? error.message : String(error)}`;
      })
      .finally(() => {
        this.layoutBusy = false;
        if (this.layoutQueued && !this.disposed) {
          this.layoutQueued = false;
          this.update();
        }
      });
  }

  redraw() {
    if (!this.layout || !this.drawn) return;
    drawGraph(this.viewport, this.drawn, this.layout, { selected: this.model.get("selected") || "" });
    this.replay.apply(this.viewport);
    this.pz.setContentSize(this.layout.width, this.layout.height);
    this.pz.setMinScale(fitScale(this.drawn));
    this.root.dataset.shown = String(this.drawn.shown);
    this.root.dataset.total = String(this.drawn.total);
    this.root.dataset.engine = this.layout.engine;
    this.root.dataset.layoutMs = this.layout.ms.toFixed(0);
    this.root.dataset.rev = String(this.store.version);
  }

  fit() {
    this.autoFit = true;
    if (!this.layout) return;
    this.pz.setContentSize(this.layout.width, this.layout.height);
    this.pz.fit();
  }

  /** @param {number} factor */
  zoom(factor) {
    this.autoFit = false;
    this.pz.zoomBy(factor);
  }

  renderSelection() {
    const selected = this.model.get("selected") || "";
    for (const el of this.viewport.querySelectorAll(".selected")) el.classList.remove("selected");
    if (!selected) return;
    for (const el of this.viewport.querySelectorAll("[data-id]")) {
      if (el.getAttribute("data-id") === selected) el.classList.add("selected");
    }
  }

  /** @param {Event} event */
  onClick(event) {
    const target = /** @type {Element | null} */ (event.target instanceof Element ? event.target.closest("[data-id]") : null);
    if (!target) return;
    const id = target.getAttribute("data-id") || "";
    const drawNode = this.drawn?.nodes.find((n) => n.id === id);
    if (drawNode && drawNode.kind === "group") {
      if (drawNode.expand === "more") this.extraNodes += this.model.get("max_nodes") || 300;
      else if (drawNode.expand) this.expanded.add(drawNode.expand);
      this.update();
      return;
    }
    if (drawNode || this.store.edges.has(id)) {
      this.model.set("selected", id);
      this.model.save_changes();
    }
  }

  renderPanel() {
    const id = this.model.get("selected") || "";
    if (!id) {
      this.panel.hidden = true;
      this.panelSignature = "";
      return;
    }
    const item = this.store.item(id);
    const { in: inn, out } = this.store.edgesOf(id);
    const signature = JSON.stringify([item, inn.map((e) => [e.id, (e.grad || []).length]), out.map((e) => [e.id, (e.grad || []).length]), this.editable(), this.kernel]);
    if (signature === this.panelSignature) return;
    this.panelSignature = signature;
    const scroll = this.panel.scrollTop;
    this.panel.hidden = false;
    renderPanel(this.panel, id, {
      item: (x) => this.store.item(x),
      edgesOf: (x) => this.store.edgesOf(x),
      editable: this.editable(),
      readOnly: this.kernel === "saved"
        ? "Read-only: a saved copy, no kernel holds these Variables."
        : this.model.get("editable") ? "Waiting for the kernel…" : undefined,
      onToggle: (node, value) => this.model.send({ type: "set_requires_grad", id: node, value }),
      onSelect: (node) => {
        this.model.set("selected", node);
        this.model.save_changes();
      },
      requestDetails: this.kernel === "saved" ? null : (node) => {
        if (this.detailsAsked.has(node)) return;
        this.detailsAsked.add(node);
        this.model.send({ type: "details", id: node });
      },
      onClose: () => {
        this.model.set("selected", "");
        this.model.save_changes();
      },
    });
    this.panel.scrollTop = scroll;
  }

  renderStatus() {
    const parts = [];
    const draw = this.drawn ?? this.draw;
    if (draw) parts.push(draw.shown < draw.total ? `${draw.shown} of ${draw.total} nodes drawn` : `${draw.total} nodes`);
    if (this.layout) parts.push(`layout ${this.layout.engine} ${this.layout.ms.toFixed(0)} ms`);
    const b = this.store.backward;
    if (b && b.id !== null) {
      const what = b.status === "running" ? "running" : b.status === "error" ? `failed: ${b.error}` : "done";
      parts.push(`backward #${b.id} ${what} (${b.visited} nodes visited)`);
    }
    if (this.kernel === "saved") parts.push(SAVED_NOTE);
    else if (!this.model.get("editable")) parts.push("snapshot (read-only)");
    this.status.textContent = parts.join(" · ");
    this.root.dataset.backward = b ? b.status : "idle";
    this.root.dataset.kernel = this.kernel;
  }

  downloadDot() {
    // The whole graph, exactly as afnio_widgets.to_dot(view).source.
    const source = graphDot({ nodes: this.store.nodes.values(), edges: this.store.edges.values() });
    const url = URL.createObjectURL(new Blob([source], { type: "text/vnd.graphviz" }));
    const a = h("a", { href: url, download: "afnio-graph.dot" });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  dispose() {
    this.disposed = true;
    this.controller.abort();
    this.unsubscribe();
    for (const name of ["change:max_nodes", "change:collapse", "change:layout_engine"]) this.model.off(name, this.onOptions);
    this.model.off("change:selected", this.onSelected);
    this.model.off("change:height", this.onHeight);
    this.model.off("change:title", this.onTitle);
    this.model.off("change:live", this.onTitle);
    this.model.off("change:editable", this.onOptions);
    this.kernelWatch.dispose();
    this.pz.dispose();
    this.replay.dispose();
    this.resizer?.disconnect();
    this.root.remove();
  }
}

export default {
  /** @param {{model: Model, el: HTMLElement}} props */
  render({ model, el }) {
    // Each view keeps its own copy of the graph trait, plus the uncut items it asked for.
    const store = new GraphStore();
    // Updates are taken at most as often as the page can draw them: after taking one, the view
    // waits twice as long as that took (a large graph, a slow machine) and then reads only the
    // latest graph, however many came meanwhile.
    let pending = 0;
    let last = 0;
    let took = 0;
    const take = () => {
      pending = 0;
      const started = performance.now();
      store.setGraph(parseGraph(model.get("graph_json")));
      last = performance.now();
      took = last - started;
    };
    const onGraph = () => {
      if (pending) return;
      pending = window.setTimeout(take, Math.max(0, last + 2 * took - performance.now()));
    };
    /** @param {any} msg */
    const onMessage = (msg) => {
      if (msg && msg.type === "details") store.setDetails(String(msg.id), msg.item);
      // A refused switch may leave the graph unchanged: show the node as it is again.
      if (msg && msg.type === "toggled") view.onSelected();
    };
    store.setGraph(parseGraph(model.get("graph_json")));
    const view = new GraphViewUI(model, el, store);
    model.on("change:graph_json", onGraph);
    model.on("msg:custom", onMessage);
    return () => {
      window.clearTimeout(pending);
      model.off("change:graph_json", onGraph);
      model.off("msg:custom", onMessage);
      view.dispose();
    };
  },
};
