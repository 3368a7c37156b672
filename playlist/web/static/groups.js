// Colouring the map: each track's group under a mode (its k-means cluster, artist or album),
// the groups' names, sizes and label positions, and their colours in the current theme.

export const MODES = ["cluster", "artist", "album"];

// { of: Int32Array group of each map row, groups: [{name, count, x, y}] largest first }.
// A group's (x, y) is its member nearest to the members' mean: on the map, inside the group.
export function grouping(mode, map, trackOfRow) {
  const n = map.xs.length, of = new Int32Array(n);
  let names;
  if (mode === "cluster") {
    of.set(map.cluster);
    names = map.clusters.slice();
  } else {
    const counts = new Map();
    const keys = new Array(n);
    for (let r = 0; r < n; r++) {
      const t = trackOfRow(r);
      keys[r] = (mode === "artist" ? t && t.artist : t && t.album) || `(no ${mode})`;
      counts.set(keys[r], (counts.get(keys[r]) || 0) + 1);
    }
    names = [...counts.keys()].sort((a, b) => counts.get(b) - counts.get(a) || (a < b ? -1 : a > b ? 1 : 0));
    const index = new Map(names.map((name, g) => [name, g]));
    for (let r = 0; r < n; r++) of[r] = index.get(keys[r]);
  }
  const groups = names.map((name) => ({ name, count: 0, x: 0, y: 0, best: Infinity }));
  for (let r = 0; r < n; r++) { const g = groups[of[r]]; g.count++; g.x += map.xs[r]; g.y += map.ys[r]; }
  const mean = groups.map((g) => [g.x / Math.max(g.count, 1), g.y / Math.max(g.count, 1)]);
  for (let r = 0; r < n; r++) {
    const g = groups[of[r]], [mx, my] = mean[of[r]];
    const d = (map.xs[r] - mx) ** 2 + (map.ys[r] - my) ** 2;
    if (d < g.best) { g.best = d; g.px = map.xs[r]; g.py = map.ys[r]; }
  }
  return { of, groups: groups.map((g) => ({ name: g.name, count: g.count, x: g.px, y: g.py })) };
}

// Well-separated hues (golden-angle steps), lightness and opacity from the theme.
function hue(g) { return (g * 137.508 + 200) % 360; }

export function groupColour(g, theme) {
  return `hsla(${hue(g)}, 68%, ${theme.pointLightness}, ${theme.pointAlpha})`;
}

// The same colour as [r, g, b] (0-255), for drawing pixels directly.
export function groupRgb(g, theme) {
  const s = 0.68, l = parseFloat(theme.pointLightness) / 100, h = hue(g);
  const a = s * Math.min(l, 1 - l);
  const f = (n) => { const k = (n + h / 30) % 12; return Math.round(255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1)))); };
  return [f(0), f(8), f(4)];
}
