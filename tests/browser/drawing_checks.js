// Measurements of a drawn GraphView, run in the page by tests/browser/drawing_checks.py.
({
  overlaps: (view) => {
    const box = (el) => { const r = el.getBoundingClientRect(); return {x0: r.left, y0: r.top, x1: r.right, y1: r.bottom}; };
    const hit = (a, b) => a.x0 < b.x1 - 0.5 && b.x0 < a.x1 - 0.5 && a.y0 < b.y1 - 0.5 && b.y0 < a.y1 - 0.5;
    const nodes = [...view.querySelectorAll('.node')].map((n) => ({id: n.dataset.id, shape: box(n.querySelector('.afnio-shape')), label: box(n.querySelector('.afnio-label'))}));
    const badges = [...view.querySelectorAll('.afnio-badge rect')].map((r) => ({id: r.closest('.edge').dataset.id, shape: box(r)}));
    const clashes = [];
    badges.forEach((b, i) => {
      for (const n of nodes) if (hit(b.shape, n.shape)) clashes.push(`badge ${b.id} over node ${n.id}`);
      for (const c of badges.slice(i + 1)) if (hit(b.shape, c.shape)) clashes.push(`badge ${b.id} over badge ${c.id}`);
    });
    for (const n of nodes) {
      for (const m of nodes) if (m !== n && hit(n.label, m.shape)) clashes.push(`label of ${n.id} over node ${m.id}`);
    }
    return {clashes, badges: badges.length, nodes: nodes.length};
  },
  contrast: (view) => {
    const parse = (c) => {
      // "rgb(r, g, b)", "rgba(r, g, b, a)", or "color(srgb r g b / a)" (0-1) for color-mix()
      const srgb = c.startsWith('color(srgb');
      const m = c.replace('color(srgb', '').match(/[\d.e-]+/g).map(Number);
      const k = srgb ? 255 : 1;
      return {r: m[0] * k, g: m[1] * k, b: m[2] * k, a: m.length > 3 ? m[3] : 1};
    };
    const over = (top, under, alpha) => { const a = top.a * alpha; return {r: top.r * a + under.r * (1 - a), g: top.g * a + under.g * (1 - a), b: top.b * a + under.b * (1 - a), a: 1}; };
    const lum = (c) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }; return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
    const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
    const canvas = parse(getComputedStyle(view).backgroundColor);
    return [...view.querySelectorAll('.node')].map((n) => {
      const shape = n.querySelector('.afnio-shape');
      const s = getComputedStyle(shape);
      const fill = s.fill === 'none' ? {r: 0, g: 0, b: 0, a: 0} : parse(s.fill);
      const bg = over(fill, canvas, Number(s.fillOpacity));
      const worst = Math.min(...[...n.querySelectorAll('.afnio-label tspan')].map((t) => {
        const ts = getComputedStyle(t);
        return ratio(over(parse(ts.fill), bg, Number(ts.fillOpacity)), bg);
      }));
      return {id: n.dataset.id, classes: n.getAttribute('class'), ratio: Math.round(worst * 100) / 100};
    });
  },
  labelPx: (view) => {
    const sizes = [...view.querySelectorAll('.afnio-label')].map((t) =>
      parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a);
    return sizes.length ? Math.min(...sizes) : null;
  },
})
