// Drawing the map on a 2-D canvas. The library's points are drawn into a layer of their own
// (redrawn only when the view, colours or hidden groups change), as pixels, with level of
// detail: a point whose grid cell (about its radius) is already painted is skipped, so the
// cost is bounded by the canvas's area, not by the library's size. Marks (hulls, paths, playlist,
// numbers, rings) are drawn over that layer on every frame.

import { hull2d } from "./geometry.js";
import { toScreenX, toScreenY, view } from "./view.js";

// The pixels a disc of `radius` device pixels covers, with the share of each it covers
// (its antialiased edge): [dx, dy, coverage, ...].
const stamps = new Map();
function stamp(radius) {
  const key = radius.toFixed(2);
  if (!stamps.has(key)) {
    const out = [], reach = Math.ceil(radius + 0.5);
    for (let dy = -reach; dy <= reach; dy++) {
      for (let dx = -reach; dx <= reach; dx++) {
        const cover = Math.min(1, radius + 0.5 - Math.hypot(dx, dy));
        if (cover > 0) out.push(dx, dy, cover);
      }
    }
    stamps.set(key, out);
  }
  return stamps.get(key);
}

// Draws the points into `ctx`'s canvas pixel by pixel (ImageData: ~10^5 discs in tens of
// milliseconds, where canvas paths take ten times that); colours are [r, g, b] per group,
// painted with `alpha` over `background` ([r, g, b]). Returns the rows on screen (hidden
// groups left out) and their positions in CSS pixels.
export function drawPoints(ctx, map, of, hidden, colours, alpha, background, radius) {
  const { width: w, height: h } = view;
  const W = ctx.canvas.width, H = ctx.canvas.height, ratio = W / w;
  const image = ctx.createImageData(W, H), px = image.data;
  px.set(background.concat(255));
  new Uint32Array(px.buffer).fill(new Uint32Array(px.buffer, 0, 1)[0]);  // every pixel as the first
  const disc = stamp(radius * ratio);
  const cell = Math.max(1, radius * 0.8);
  const gw = Math.ceil((w + 2 * radius) / cell) + 1, gh = Math.ceil((h + 2 * radius) / cell) + 1;
  const painted = new Uint8Array(gw * gh);
  const n = map.order.length;
  const rows = new Int32Array(n), sx = new Float32Array(n), sy = new Float32Array(n);
  let visible = 0;
  for (let k = 0; k < n; k++) {
    const r = map.order[k], g = of[r];
    if (hidden.has(g)) continue;
    const x = toScreenX(map.xs[r]), y = toScreenY(map.ys[r]);
    if (x < -radius || y < -radius || x > w + radius || y > h + radius) continue;
    rows[visible] = r; sx[visible] = x; sy[visible] = y; visible++;
    const c = Math.floor((x + radius) / cell) * gh + Math.floor((y + radius) / cell);
    if (painted[c]) continue;  // level of detail: this spot is painted already
    painted[c] = 1;
    const [cr, cg, cb] = colours[g];
    const X = Math.round(x * ratio), Y = Math.round(y * ratio);
    for (let s = 0; s < disc.length; s += 3) {
      const px_ = X + disc[s], py_ = Y + disc[s + 1];
      if (px_ < 0 || py_ < 0 || px_ >= W || py_ >= H) continue;
      const i = (py_ * W + px_) * 4, a = alpha * disc[s + 2];
      px[i] += (cr - px[i]) * a; px[i + 1] += (cg - px[i + 1]) * a; px[i + 2] += (cb - px[i + 2]) * a;
    }
  }
  ctx.putImageData(image, 0, 0);
  return { rows: rows.subarray(0, visible), sx: sx.subarray(0, visible), sy: sy.subarray(0, visible) };
}

// The convex hull of the points, outlined in `colour` and tinted with it.
export function hull(ctx, points, colour) {
  if (points.length < 2) return;
  const ring = hull2d(points);
  ctx.beginPath();
  ring.forEach(([x, y], k) => (k ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
  ctx.closePath();
  ctx.fillStyle = colour; ctx.globalAlpha = 0.12; ctx.fill(); ctx.globalAlpha = 1;
  ctx.strokeStyle = colour; ctx.lineWidth = 2; ctx.stroke();
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
