// Drawing the map on a 2-D canvas. The library's points are drawn into a layer of their own
// (redrawn only when the view, colours or hidden groups change), with level of detail: a
// point whose grid cell (about its radius) is already painted is skipped, so the cost is
// bounded by the canvas's area, not by the library's size. Marks (hulls, paths, playlist,
// numbers, rings) are drawn over that layer on every frame.

import { hull2d } from "./geometry.js";
import { toScreenX, toScreenY, view } from "./view.js";

// Draws the points; returns the rows on screen (hidden groups left out) and their positions.
export function drawPoints(ctx, map, of, hidden, colours, radius) {
  const { width: w, height: h } = view;
  ctx.clearRect(0, 0, w, h);
  const cell = Math.max(1, radius * 0.8);
  const gw = Math.ceil((w + 2 * radius) / cell) + 1, gh = Math.ceil((h + 2 * radius) / cell) + 1;
  const painted = new Uint8Array(gw * gh);
  const n = map.order.length;
  const rows = new Int32Array(n), sx = new Float32Array(n), sy = new Float32Array(n);
  const byGroup = new Map();
  let visible = 0;
  for (let k = 0; k < n; k++) {
    const r = map.order[k], g = of[r];
    if (hidden.has(g)) continue;
    const x = toScreenX(map.xs[r]), y = toScreenY(map.ys[r]);
    if (x < -radius || y < -radius || x > w + radius || y > h + radius) continue;
    rows[visible] = r; sx[visible] = x; sy[visible] = y; visible++;
    const c = Math.floor((x + radius) / cell) * gh + Math.floor((y + radius) / cell);
    if (painted[c]) continue;
    painted[c] = 1;
    let list = byGroup.get(g);
    if (!list) byGroup.set(g, (list = []));
    list.push(x, y);
  }
  for (const [g, list] of byGroup) {
    ctx.fillStyle = colours[g];
    ctx.beginPath();
    for (let k = 0; k < list.length; k += 2) {
      ctx.moveTo(list[k] + radius, list[k + 1]);
      ctx.arc(list[k], list[k + 1], radius, 0, 2 * Math.PI);
    }
    ctx.fill();
  }
  return { rows: rows.subarray(0, visible), sx: sx.subarray(0, visible), sy: sy.subarray(0, visible) };
}

export function hull(ctx, points, stroke, fill) {
  if (points.length < 2) return;
  const ring = hull2d(points);
  ctx.beginPath();
  ring.forEach(([x, y], k) => (k ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
  ctx.closePath();
  ctx.fillStyle = fill; ctx.fill();
  ctx.strokeStyle = stroke; ctx.lineWidth = 2; ctx.stroke();
}

export function path(ctx, points, stroke) {
  if (points.length < 2) return;
  ctx.beginPath();
  points.forEach(([x, y], k) => (k ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
  ctx.strokeStyle = stroke; ctx.lineWidth = 3; ctx.lineJoin = "round"; ctx.stroke();
}

export function dot(ctx, [x, y], radius, fill, stroke, width = 1.5) {
  ctx.beginPath(); ctx.arc(x, y, radius, 0, 2 * Math.PI);
  if (fill) { ctx.fillStyle = fill; ctx.fill(); }
  if (stroke) { ctx.strokeStyle = stroke; ctx.lineWidth = width; ctx.stroke(); }
}

// A numbered badge beside a point: the order of a verb's picks, the steps of a transition.
export function badge(ctx, [x, y], number, fill, ink) {
  const text = String(number);
  ctx.font = "bold 11px system-ui, sans-serif";
  const w = Math.max(16, ctx.measureText(text).width + 8);
  const bx = x + 7, by = y - 19;
  ctx.beginPath(); ctx.roundRect(bx, by, w, 15, 7);
  ctx.fillStyle = fill; ctx.fill();
  ctx.fillStyle = ink; ctx.textAlign = "center"; ctx.textBaseline = "middle";
  ctx.fillText(text, bx + w / 2, by + 8);
  ctx.textAlign = "start"; ctx.textBaseline = "alphabetic";
  return { x: bx, y: by, w, h: 15 };
}

export function loop(ctx, points, stroke) {
  if (points.length < 2) return;
  ctx.beginPath();
  points.forEach(([x, y], k) => (k ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
  ctx.closePath();
  ctx.setLineDash([5, 4]); ctx.strokeStyle = stroke; ctx.lineWidth = 1.5; ctx.stroke(); ctx.setLineDash([]);
}
