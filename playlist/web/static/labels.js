// Names on the map, as text elements over the canvas (textContent: a title is shown as
// itself, never read as HTML). Placed greedily in priority order; a label that would overlap
// one already placed, or leave the map, is dropped, so none overlap.

import { overlaps } from "./geometry.js";

const FONTS = { group: "600 14px system-ui, sans-serif", title: "12px system-ui, sans-serif" };
const HEIGHT = { group: 18, title: 16 };
const PAD = 2;
const measurer = document.createElement("canvas").getContext("2d");
const widths = new Map();

function width(kind, text) {
  const key = kind + "\u0000" + text;
  let w = widths.get(key);
  if (w === undefined) {
    measurer.font = FONTS[kind];
    w = Math.ceil(measurer.measureText(text).width) + 2;
    if (widths.size > 50000) widths.clear();
    widths.set(key, w);
  }
  return w;
}

// candidates: [{kind: "group"|"title", text, x, y, r}] in priority order; a group label is
// centred on (x, y), a title sits beside its point (right, else left). Returns the placed
// boxes [{kind, text, x, y, w, h}] in CSS pixels of the map.
export function place(candidates, mapWidth, mapHeight, limit) {
  const placed = [];
  for (const c of candidates) {
    if (placed.length >= limit) break;
    const w = width(c.kind, c.text), h = HEIGHT[c.kind];
    const spots = c.kind === "group" ? [[c.x - w / 2, c.y - h / 2]]
      : [[c.x + c.r + 3, c.y - h / 2], [c.x - c.r - 3 - w, c.y - h / 2], [c.x - w / 2, c.y - c.r - h - 1]];
    for (const [x, y] of spots) {
      const box = { kind: c.kind, text: c.text, x, y, w, h };
      const padded = { x: x - PAD, y: y - PAD, w: w + 2 * PAD, h: h + 2 * PAD };
      if (x < 0 || y < 0 || x + w > mapWidth || y + h > mapHeight) continue;
      if (placed.some((b) => overlaps(padded, b))) continue;
      placed.push(box);
      break;
    }
  }
  return placed;
}

// Show the placed boxes in `layer`, reusing its elements.
export function show(layer, boxes) {
  while (layer.children.length < boxes.length) layer.append(document.createElement("span"));
  [...layer.children].forEach((el, k) => {
    const b = boxes[k];
    el.hidden = !b;
    if (!b) return;
    if (el.textContent !== b.text) el.textContent = b.text;
    el.className = b.kind;
    el.style.transform = `translate(${b.x}px, ${b.y}px)`;
  });
}
