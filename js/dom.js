// Tiny DOM builders. Every piece of text goes through textContent: no data ever reaches
// innerHTML, so strings such as "<script>" or "<img onerror=...>" are shown, never run; and
// through `visible`, so that control and bidi characters are shown instead of acting.

const SVG_NS = "http://www.w3.org/2000/svg";

/**
 * Creates an HTML element.
 * @param {string} tag
 * @param {Record<string, string | number | boolean | null | undefined>} [attrs] Attributes;
 *   `class` sets the class, `text` the text content; null/undefined/false are skipped.
 * @param {(Node | string | null | undefined | false)[]} [children] Strings become text nodes.
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, children = []) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === "string" ? document.createTextNode(visible(child)) : child);
  }
  return el;
}

/**
 * Creates an SVG element.
 * @param {string} tag
 * @param {Record<string, string | number | boolean | null | undefined>} [attrs]
 * @returns {SVGElement}
 */
export function s(tag, attrs = {}) {
  const el = /** @type {SVGElement} */ (document.createElementNS(SVG_NS, tag));
  setAttrs(el, attrs);
  return el;
}

/**
 * @param {Element} el
 * @param {Record<string, string | number | boolean | null | undefined>} attrs
 */
function setAttrs(el, attrs) {
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") el.textContent = visible(String(value));
    else if (key === "class") el.setAttribute("class", String(value));
    else if (/^on/i.test(key)) throw new Error(`event handler attributes are not allowed: ${key}`);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
}

/**
 * Removes every child of an element.
 * @param {Element} el
 */
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
}

/**
 * Data as readable text: strings as they are, anything else as indented JSON.
 * @param {unknown} value
 * @returns {string}
 */
export function asText(value) {
  if (typeof value === "string") return value;
  if (value === undefined) return "";
  try {
    return JSON.stringify(value, null, 2);
  } catch {
    return String(value);
  }
}

/**
 * Cuts text to `limit` characters with an ellipsis.
 * @param {string} text
 * @param {number} limit
 * @returns {string}
 */
export function cut(text, limit) {
  const oneLine = text.replace(/\s+/g, " ").trim();
  return oneLine.length <= limit ? oneLine : `${oneLine.slice(0, Math.max(0, limit - 1))}…`;
}

// C0 and C1 controls (but tab and line breaks), DEL, and the invisible characters that reorder
// or hide text: bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069), marks
// (U+200E, U+200F, U+061C), U+200B and U+2060-U+2064, U+FEFF. Joiners (U+200C, U+200D) stay:
// emoji and several scripts need them.
// biome-ignore lint: control characters are what we show
const HIDDEN = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u061c\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;

/**
 * Text with its control and bidi characters made visible as `⟨U+202E⟩`, so that data cannot
 * reorder what is drawn ("evil" shown as "live") or hide part of itself.
 * @param {string} text
 * @returns {string}
 */
export function visible(text) {
  return text.replace(HIDDEN, (c) => `⟨U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}⟩`);
}
