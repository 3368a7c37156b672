// The camera over the map: world (projection) coordinates <-> CSS pixels of the canvas.
// y grows upwards in the world and downwards on screen.

export const view = { cx: 0, cy: 0, scale: 1, width: 1, height: 1, fitScale: 1 };

export function toScreenX(x) { return view.width / 2 + (x - view.cx) * view.scale; }
export function toScreenY(y) { return view.height / 2 - (y - view.cy) * view.scale; }
function toWorld(sx, sy) {
  return [view.cx + (sx - view.width / 2) / view.scale, view.cy - (sy - view.height / 2) / view.scale];
}

// Frame the points (xs[rows], ys[rows]; every row when rows is null) with a margin; a tight
// set is framed at no less than a 20th of the library's extent.
export function frame(xs, ys, rows, extent) {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  const n = rows ? rows.length : xs.length;
  for (let k = 0; k < n; k++) {
    const r = rows ? rows[k] : k;
    x0 = Math.min(x0, xs[r]); x1 = Math.max(x1, xs[r]); y0 = Math.min(y0, ys[r]); y1 = Math.max(y1, ys[r]);
  }
  if (!n) return;
  const least = rows ? extent / 20 : 1e-9;
  const w = Math.max(x1 - x0, least), h = Math.max(y1 - y0, least);
  view.cx = (x0 + x1) / 2; view.cy = (y0 + y1) / 2;
  view.scale = (rows ? 0.6 : 0.9) * Math.min(view.width / w, view.height / h);
  if (!rows) view.fitScale = view.scale;
}

// Zoom by `factor`, keeping the world point under (sx, sy) where it is.
export function zoomAt(sx, sy, factor) {
  const [wx, wy] = toWorld(sx, sy);
  view.scale = Math.min(Math.max(view.scale * factor, view.fitScale / 4), view.fitScale * 4000);
  view.cx = wx - (sx - view.width / 2) / view.scale;
  view.cy = wy + (sy - view.height / 2) / view.scale;
}

export function panBy(dx, dy) { view.cx -= dx / view.scale; view.cy += dy / view.scale; }

// Point radius in CSS pixels: readable at a distance, growing as one zooms in.
export function pointRadius() { return Math.min(7, 3 * Math.max(1, Math.sqrt(view.scale / view.fitScale) * 0.8)); }
