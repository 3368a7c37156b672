// The library map: a canvas scatter of every track (PCA or t-SNE), the playlist and its
// hull on top, and the playlist verbs run on the server. No libraries: plain canvas 2-D.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  tracks: [], byId: new Map(), index: new Map(),   // id -> track, id -> row in xy
  xy: null, method: "pca",
  playlist: [], added: new Set(), verdicts: new Map(), target: [],
  selected: null, hover: null, extent: 1,
  view: { cx: 0, cy: 0, scale: 1 },
};
const canvas = $("map");
const ctx = canvas.getContext("2d");

// ------------------------------------------------------------------ server

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const response = await fetch(path, options);
  if (!response.ok) {
    let message = response.statusText;
    try { message = (await response.json()).error || message; } catch (e) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

function status(text) { $("status").textContent = text; }
function busy(on) { document.body.dataset.busy = on ? "1" : ""; }

async function loadLibrary() {
  const lib = await (await api("/api/library")).json();
  state.tracks = lib.tracks;
  lib.tracks.forEach((t) => state.byId.set(t.id, t));
  state.playlist = lib.playlist.slice();
  if (lib.playlist_name) $("name").value = lib.playlist_name.replace(/\.m3u8?$/i, "");
  await loadMap(state.method);
  status(`${lib.tracks.length} tracks · ${lib.root}`);
}

async function loadMap(method) {
  busy(true);
  status(method === "tsne" ? "computing t-SNE (cached afterwards)…" : "loading map…");
  try {
    const map = await (await api(`/api/map?method=${method}`)).json();
    state.method = method;
    state.xy = map.xy;
    state.index = new Map(map.ids.map((id, row) => [id, row]));
    fit();
    render();
    status(`${state.tracks.length} tracks · ${method === "pca" ? "PCA" : "t-SNE"}`);
  } catch (e) {
    status(`map failed: ${e.message}`);
  } finally { busy(false); }
}

// ------------------------------------------------------------------ geometry

function size() {
  const ratio = window.devicePixelRatio || 1;
  const rect = canvas.getBoundingClientRect();
  canvas.width = Math.round(rect.width * ratio);
  canvas.height = Math.round(rect.height * ratio);
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return rect;
}

// Frame the given tracks (default: the whole library), with a margin.
function fit(ids) {
  if (!state.xy || !state.xy.length) return;
  const rows = ids && ids.length ? ids.map((id) => state.index.get(id)).filter((r) => r !== undefined) : null;
  const pts = rows ? rows.map((r) => state.xy[r]) : state.xy;
  const rect = canvas.getBoundingClientRect();
  let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const [x, y] of pts) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  // a single track (or a tight playlist) is framed at no less than a 20th of the library's width
  const least = rows ? state.extent / 20 : 1e-9;
  const w = Math.max(x1 - x0, least), h = Math.max(y1 - y0, least);
  state.view = { cx: (x0 + x1) / 2, cy: (y0 + y1) / 2, scale: (rows ? 0.6 : 0.9) * Math.min(rect.width / w, rect.height / h) };
  if (!rows) state.extent = Math.max(w, h);
}

function toScreen(x, y) {
  const rect = canvas.getBoundingClientRect(), v = state.view;
  return [rect.width / 2 + (x - v.cx) * v.scale, rect.height / 2 - (y - v.cy) * v.scale];
}

function screenOf(id) {
  const row = state.index.get(id);
  return row === undefined ? null : toScreen(state.xy[row][0], state.xy[row][1]);
}

function nearest(sx, sy, radius = 8) {
  let best = null, bestD = radius * radius;
  for (const [id, row] of state.index) {
    const [px, py] = toScreen(state.xy[row][0], state.xy[row][1]);
    const d = (px - sx) ** 2 + (py - sy) ** 2;
    if (d < bestD) { bestD = d; best = id; }
  }
  return best;
}

// Andrew's monotone chain: the convex hull of 2-D points, counter-clockwise.
function hull2d(points) {
  const p = points.slice().sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  if (p.length < 3) return p;
  const cross = (o, a, b) => (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  const lower = [], upper = [];
  for (const q of p) { while (lower.length >= 2 && cross(lower[lower.length - 2], lower[lower.length - 1], q) <= 0) lower.pop(); lower.push(q); }
  for (const q of p.reverse()) { while (upper.length >= 2 && cross(upper[upper.length - 2], upper[upper.length - 1], q) <= 0) upper.pop(); upper.push(q); }
  return lower.slice(0, -1).concat(upper.slice(0, -1));
}

// ------------------------------------------------------------------ drawing

function drawHull(ids, stroke, fill) {
  const pts = ids.map(screenOf).filter(Boolean);
  if (pts.length < 2) return;
  const ring = hull2d(pts);
  ctx.beginPath();
  ring.forEach(([x, y], k) => (k ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
  ctx.closePath();
  ctx.fillStyle = fill; ctx.fill();
  ctx.strokeStyle = stroke; ctx.lineWidth = 1.5; ctx.stroke();
}

function dot(id, radius, fill, stroke) {
  const p = screenOf(id);
  if (!p) return;
  ctx.beginPath(); ctx.arc(p[0], p[1], radius, 0, 2 * Math.PI);
  ctx.fillStyle = fill; ctx.fill();
  if (stroke) { ctx.strokeStyle = stroke; ctx.lineWidth = 1.2; ctx.stroke(); }
}

function render() {
  const rect = size();
  ctx.clearRect(0, 0, rect.width, rect.height);
  if (!state.xy) return;
  ctx.fillStyle = "#b9bec8";
  for (const [, row] of state.index) {
    const [x, y] = toScreen(state.xy[row][0], state.xy[row][1]);
    if (x >= -2 && y >= -2 && x <= rect.width + 2 && y <= rect.height + 2) ctx.fillRect(x - 1.5, y - 1.5, 3, 3);
  }
  drawHull(state.target, "#2b9348", "rgba(43, 147, 72, 0.08)");
  // the hull of the playlist the last verb grew (its picks are drawn on top, in orange)
  drawHull(state.playlist.filter((id) => !state.added.has(id)), "#1f5fbf", "rgba(31, 95, 191, 0.10)");
  state.target.forEach((id) => dot(id, 4.5, "#2b9348", "#fff"));
  state.playlist.forEach((id) => (state.added.has(id) ? null : dot(id, 5, "#1f5fbf", "#fff")));
  state.playlist.forEach((id) => (state.added.has(id) ? dot(id, 6, "#e8590c", "#222") : null));
  if (state.hover !== null) dot(state.hover, 8, "rgba(0, 0, 0, 0)", "#555");
  if (state.selected !== null) dot(state.selected, 9, "rgba(0, 0, 0, 0)", "#000");
}

// ------------------------------------------------------------------ the lists

function label(id) { const t = state.byId.get(id); return t ? t.label : `#${id}`; }

function renderPlaylist() {
  const list = $("playlist");
  list.replaceChildren(...state.playlist.map((id) => {
    const li = document.createElement("li");
    li.dataset.id = id;
    if (state.added.has(id)) li.classList.add("added");
    const text = document.createElement("span");
    text.className = "label"; text.textContent = label(id);
    text.addEventListener("click", () => select(id));
    li.append(text);
    if (state.verdicts.has(id)) {
      const v = document.createElement("span");
      v.className = "verdict"; v.textContent = state.verdicts.get(id);
      li.append(v);
    }
    const play = document.createElement("button"); play.textContent = "▶"; play.title = "play";
    play.addEventListener("click", () => playTrack(id));
    const drop = document.createElement("button"); drop.textContent = "✕"; drop.title = "remove";
    drop.addEventListener("click", () => toggle(id));
    li.append(play, drop);
    return li;
  }));
  $("count").textContent = state.playlist.length;
  $("target-count").textContent = state.target.length;
  renderSelected();
  render();
}

function renderSelected() {
  const box = $("selected");
  box.hidden = state.selected === null;
  if (state.selected === null) return;
  $("selected-label").textContent = label(state.selected);
  $("sel-toggle").textContent = state.playlist.includes(state.selected) ? "remove" : "add";
}

function select(id) {
  if (state.selected !== id) $("sel-verdict").textContent = "";
  state.selected = id;
  renderSelected();
  render();
}

function toggle(id) {
  const at = state.playlist.indexOf(id);
  if (at >= 0) { state.playlist.splice(at, 1); state.added.delete(id); state.verdicts.delete(id); }
  else state.playlist.push(id);
  renderPlaylist();
}

function playTrack(id) {
  const player = $("player");
  player.src = `/audio/${id}`;
  player.dataset.track = id;
  player.play().catch((e) => status(`cannot play: ${e.message}`));
}

function search(text) {
  const q = text.trim().toLowerCase();
  const hits = q ? state.tracks.filter((t) => t.label.toLowerCase().includes(q)).slice(0, 50) : [];
  $("results").replaceChildren(...hits.map((t) => {
    const li = document.createElement("li");
    li.dataset.id = t.id; li.textContent = t.label;
    li.addEventListener("click", () => { select(t.id); if (!state.playlist.includes(t.id)) toggle(t.id); });
    return li;
  }));
}

// ------------------------------------------------------------------ the verbs

function numberOf(input) { const v = parseInt(input.value, 10); return Number.isFinite(v) ? v : null; }

async function runOp(op) {
  if (!state.playlist.length) { status("add tracks to the playlist first (click the map or search)"); return; }
  if (op === "transition" && !state.target.length) { status("load or set a target playlist first"); return; }
  const body = { op, ids: state.playlist, n: numberOf($("n")) || 10, target: op === "transition" ? state.target : [] };
  const cap = numberOf($("cap"));
  if (cap) body.max_per_artist = cap;
  busy(true); status(`${op}…`);
  try {
    const result = await (await api("/api/op", body)).json();
    const picks = result.picks.map((p) => p.id);
    result.picks.forEach((p) => state.verdicts.set(p.id, `${p.verdict} ${p.distance.toFixed(2)}`));
    if (op === "fill") state.playlist = picks;
    else if (op === "transition") state.playlist = state.playlist.concat(picks, state.target.filter((id) => !picks.includes(id)));
    else state.playlist = state.playlist.concat(picks.filter((id) => !state.playlist.includes(id)));
    state.added = new Set(picks);
    const refused = Object.entries(result.refused).map(([why, n]) => `${n}× ${why}`).join(", ");
    $("op-info").textContent = `${op}: ${picks.length} added · span ${result.hull.rank} of ${result.hull.dim}` +
      (refused ? ` · refused ${refused}` : "");
    status(`${op}: ${picks.length} tracks added`);
    renderPlaylist();
  } catch (e) { status(`${op} failed: ${e.message}`); } finally { busy(false); }
}

async function checkSelected() {
  if (state.selected === null || !state.playlist.length) return;
  try {
    const result = await (await api("/api/op", { op: "check", ids: state.playlist, tracks: [state.selected] })).json();
    const p = result.picks[0];
    $("sel-verdict").textContent = `${p.verdict} (distance ${p.distance.toFixed(2)})`;
  } catch (e) { $("sel-verdict").textContent = e.message; }
}

async function readM3u(input) {
  const file = input.files[0];
  input.value = "";
  if (!file) return null;
  // the bytes, not text: the server reads legacy .m3u encodings (cp1252...) as the CLI does
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = "";
  for (let k = 0; k < bytes.length; k += 0x8000) binary += String.fromCharCode(...bytes.subarray(k, k + 0x8000));
  const result = await (await api("/api/resolve", { name: file.name, data: btoa(binary) })).json();
  status(`${file.name}: ${result.ids.length} tracks` + (result.skipped.length ? `, ${result.skipped.length} skipped` : ""));
  return { name: file.name, ids: result.ids };
}

async function save() {
  if (!state.playlist.length) { status("the playlist is empty"); return; }
  const name = $("name").value.trim() || "playlist";
  try {
    const blob = await (await api("/api/save", { ids: state.playlist, name })).blob();
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = `${name.replace(/\.m3u8?$/i, "")}.m3u8`;
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    status(`saved ${a.download} (${state.playlist.length} tracks)`);
  } catch (e) { status(`save failed: ${e.message}`); }
}

// ------------------------------------------------------------------ events

let drag = null;
canvas.addEventListener("mousedown", (e) => { drag = { x: e.offsetX, y: e.offsetY, moved: false, view: { ...state.view } }; });
window.addEventListener("mouseup", (e) => {
  if (drag && !drag.moved && e.target === canvas) {
    const id = nearest(e.offsetX, e.offsetY);
    if (id !== null) { select(id); toggle(id); }
  }
  drag = null;
});
canvas.addEventListener("mousemove", (e) => {
  if (drag) {
    const dx = e.offsetX - drag.x, dy = e.offsetY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
    if (drag.moved) {
      state.view.cx = drag.view.cx - dx / state.view.scale;
      state.view.cy = drag.view.cy + dy / state.view.scale;
      render();
    }
    return;
  }
  const id = nearest(e.offsetX, e.offsetY);
  const tip = $("tooltip");
  if (id !== state.hover) { state.hover = id; render(); }
  tip.hidden = id === null;
  if (id !== null) { tip.textContent = label(id); tip.style.left = `${e.offsetX + 12}px`; tip.style.top = `${e.offsetY + 10}px`; }
});
canvas.addEventListener("mouseleave", () => { state.hover = null; $("tooltip").hidden = true; render(); });
canvas.addEventListener("wheel", (e) => {
  e.preventDefault();
  const rect = canvas.getBoundingClientRect(), v = state.view;
  const factor = Math.exp(-e.deltaY * 0.0015);
  // keep the point under the cursor in place
  const wx = v.cx + (e.offsetX - rect.width / 2) / v.scale, wy = v.cy - (e.offsetY - rect.height / 2) / v.scale;
  v.scale *= factor;
  v.cx = wx - (e.offsetX - rect.width / 2) / v.scale;
  v.cy = wy + (e.offsetY - rect.height / 2) / v.scale;
  render();
}, { passive: false });
window.addEventListener("resize", render);

$("method").addEventListener("change", (e) => loadMap(e.target.value));
$("reset-view").addEventListener("click", () => { fit(); render(); });
$("zoom-playlist").addEventListener("click", () => { fit(state.playlist.concat(state.target)); render(); });
$("search").addEventListener("input", (e) => search(e.target.value));
$("sel-play").addEventListener("click", () => state.selected !== null && playTrack(state.selected));
$("sel-toggle").addEventListener("click", () => state.selected !== null && toggle(state.selected));
$("sel-check").addEventListener("click", checkSelected);
$("clear").addEventListener("click", () => { state.playlist = []; state.added.clear(); state.verdicts.clear(); renderPlaylist(); });
$("use-as-target").addEventListener("click", () => { state.target = state.playlist.slice(); renderPlaylist(); });
$("load").addEventListener("change", async (e) => {
  try {
    const got = await readM3u(e.target);
    if (got) { state.playlist = got.ids; state.added.clear(); state.verdicts.clear(); $("name").value = got.name.replace(/\.m3u8?$/i, ""); renderPlaylist(); }
  } catch (err) { status(`load failed: ${err.message}`); }
});
$("load-target").addEventListener("change", async (e) => {
  try { const got = await readM3u(e.target); if (got) { state.target = got.ids; renderPlaylist(); } } catch (err) { status(`load failed: ${err.message}`); }
});
document.querySelectorAll("button[data-op]").forEach((b) => b.addEventListener("click", () => runOp(b.dataset.op)));
$("save").addEventListener("click", save);

// For tests and scripts: where a track is drawn (CSS pixels from the canvas's corner).
window.mynaMap = { screenOf, state };

loadLibrary().then(() => { renderPlaylist(); document.body.dataset.ready = "1"; }).catch((e) => status(`cannot load the library: ${e.message}`));
