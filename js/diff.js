// Word-level diff between two versions of a text (parameter history in TrainingView).

/**
 * @typedef {{op: "same" | "add" | "del", text: string}} DiffPart
 */

/**
 * Splits text into words and the whitespace between them (joined back, they give the text).
 * @param {string} text
 * @returns {string[]}
 */
export function tokenize(text) {
  return text.match(/\s+|[^\s]+/g) || [];
}

const MAX_CELLS = 4_000_000;

/**
 * Word-level diff of `before` → `after`: runs of unchanged, deleted and added tokens.
 * Uses a longest-common-subsequence table after trimming the common prefix and suffix; texts too
 * long for that are shown as one deletion and one addition.
 * @param {string} before
 * @param {string} after
 * @returns {DiffPart[]}
 */
export function wordDiff(before, after) {
  const a = tokenize(before);
  const b = tokenize(after);
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  /** @type {DiffPart[]} */
  const parts = [];
  const push = (/** @type {DiffPart["op"]} */ op, /** @type {string} */ text) => {
    if (!text) return;
    const last = parts[parts.length - 1];
    if (last && last.op === op) last.text += text;
    else parts.push({ op, text });
  };
  push("same", a.slice(0, start).join(""));
  const midA = a.slice(start, endA);
  const midB = b.slice(start, endB);
  const n = midA.length;
  const m = midB.length;
  if (n * m > MAX_CELLS) {
    push("del", midA.join(""));
    push("add", midB.join(""));
  } else {
    // lcs[i][j]: length of the LCS of midA[i:] and midB[j:], one flat array.
    const width = m + 1;
    const lcs = new Uint32Array((n + 1) * width);
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lcs[i * width + j] = midA[i] === midB[j]
          ? lcs[(i + 1) * width + j + 1] + 1
          : Math.max(lcs[(i + 1) * width + j], lcs[i * width + j + 1]);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n && j < m) {
      if (midA[i] === midB[j]) {
        push("same", midA[i]);
        i++;
        j++;
      } else if (lcs[(i + 1) * width + j] >= lcs[i * width + j + 1]) {
        push("del", midA[i++]);
      } else {
        push("add", midB[j++]);
      }
    }
    while (i < n) push("del", midA[i++]);
    while (j < m) push("add", midB[j++]);
  }
  push("same", a.slice(endA).join(""));
  return parts;
}

/**
 * Counts of words added and deleted.
 * @param {DiffPart[]} parts
 * @returns {{added: number, deleted: number}}
 */
export function diffStats(parts) {
  const words = (/** @type {string} */ t) => (t.match(/[^\s]+/g) || []).length;
  let added = 0;
  let deleted = 0;
  for (const p of parts) {
    if (p.op === "add") added += words(p.text);
    if (p.op === "del") deleted += words(p.text);
  }
  return { added, deleted };
}
