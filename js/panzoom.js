// Pan (drag the background) and zoom (wheel, buttons) of an SVG <g> inside an <svg>.

/**
 * @typedef {object} PanZoom
 * @property {() => void} fit Scales and centers the content to fit the view, but never below the
 *   minimum scale (see setMinScale): a graph too large for that is shown from its top.
 * @property {(k: number) => void} setMinScale The smallest scale `fit` picks.
 * @property {(dx: number, dy: number) => void} panBy Moves the content (pixels).
 * @property {(factor: number) => void} zoomBy Zooms around the center.
 * @property {(width: number, height: number) => void} setContentSize
 * @property {() => {x: number, y: number, k: number}} get
 * @property {() => void} dispose Removes the listeners.
 */

/**
 * @param {SVGSVGElement} svg
 * @param {SVGGElement} content
 * @param {() => void} [onUserMove] Called when the user pans or zooms (not on clicks).
 * @returns {PanZoom}
 */
export function panZoom(svg, content, onUserMove = () => {}) {
  let x = 0;
  let y = 0;
  let k = 1;
  let contentW = 1;
  let contentH = 1;
  let minFit = 0.02;
  /** @type {{px: number, py: number, x: number, y: number, id: number} | null} */
  let drag = null;
  let moved = false;

  const apply = () => content.setAttribute("transform", `translate(${x.toFixed(1)},${y.toFixed(1)}) scale(${k.toFixed(4)})`);
  const size = () => {
    const rect = svg.getBoundingClientRect();
    return { w: rect.width || Number(svg.getAttribute("width")) || 600, h: rect.height || 400 };
  };
  /**
   * @param {number} factor
   * @param {number} cx
   * @param {number} cy
   */
  const zoomAt = (factor, cx, cy) => {
    const next = Math.min(8, Math.max(0.02, k * factor));
    const f = next / k;
    x = cx - (cx - x) * f;
    y = cy - (cy - y) * f;
    k = next;
    apply();
  };
  /** @param {WheelEvent} event */
  const onWheel = (event) => {
    event.preventDefault();
    onUserMove();
    const rect = svg.getBoundingClientRect();
    zoomAt(Math.exp(-event.deltaY * 0.0015), event.clientX - rect.left, event.clientY - rect.top);
  };
  /** @param {PointerEvent} event */
  const onDown = (event) => {
    if (event.button !== 0) return;
    drag = { px: event.clientX, py: event.clientY, x, y, id: event.pointerId };
    moved = false;
  };
  /** @param {PointerEvent} event */
  const onMove = (event) => {
    if (!drag || event.pointerId !== drag.id) return;
    const dx = event.clientX - drag.px;
    const dy = event.clientY - drag.py;
    if (!moved && Math.hypot(dx, dy) < 3) return;
    if (!moved) {
      svg.setPointerCapture?.(event.pointerId);
      onUserMove();
    }
    moved = true;
    svg.classList.add("dragging");
    x = drag.x + dx;
    y = drag.y + dy;
    apply();
  };
  /** @param {PointerEvent} event */
  const onUp = (event) => {
    if (!drag || event.pointerId !== drag.id) return;
    drag = null;
    svg.classList.remove("dragging");
    if (moved) {
      // A drag is not a click on whatever is under the pointer.
      const swallow = (/** @type {Event} */ e) => e.stopPropagation();
      svg.addEventListener("click", swallow, { capture: true, once: true });
      setTimeout(() => svg.removeEventListener("click", swallow, { capture: true }), 0);
    }
  };
  svg.addEventListener("wheel", onWheel, { passive: false });
  svg.addEventListener("pointerdown", onDown);
  svg.addEventListener("pointermove", onMove);
  svg.addEventListener("pointerup", onUp);
  svg.addEventListener("pointercancel", onUp);

  return {
    fit() {
      const { w, h } = size();
      const margin = 16;
      k = Math.min(1.25, Math.max(minFit, Math.min((w - 2 * margin) / contentW, (h - 2 * margin) / contentH)));
      x = (w - contentW * k) / 2;
      y = Math.max(margin, (h - contentH * k) / 2);
      if (contentH * k > h - 2 * margin) y = margin; // too tall: show the top (the roots)
      apply();
    },
    setMinScale(value) {
      minFit = Math.max(0.02, Math.min(1.25, value));
    },
    panBy(dx, dy) {
      x += dx;
      y += dy;
      apply();
    },
    zoomBy(factor) {
      const { w, h } = size();
      zoomAt(factor, w / 2, h / 2);
    },
    setContentSize(width, height) {
      contentW = Math.max(1, width);
      contentH = Math.max(1, height);
    },
    get: () => ({ x, y, k }),
    dispose() {
      svg.removeEventListener("wheel", onWheel);
      svg.removeEventListener("pointerdown", onDown);
      svg.removeEventListener("pointermove", onMove);
      svg.removeEventListener("pointerup", onUp);
      svg.removeEventListener("pointercancel", onUp);
    },
  };
}
