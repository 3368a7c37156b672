// The library map: every track coloured by cluster, artist or album, named at a distance
// (groups) and close up (titles); the playlist, its hull, the verbs' picks in order and a
// transition's path on top; the verbs run on the server. Plain canvas 2-D, no libraries.
// Text from the library is only ever set with textContent (or drawn on the canvas).

import * as draw from "./draw.js";
import { inside } from "./geometry.js";
import { MODES, groupColour, groupRgb, grouping } from "./groups.js";
import * as labels from "./labels.js";
import { createPlayer } from "./player.js";
import { onThemeChange, readTheme, theme } from "./theme.js";
import { frame, panBy, pointRadius, toScreenX, toScreenY, view, zoomAt } from "./view.js";

const TITLES_BELOW = 120;   // titles are shown when fewer tracks than this are on screen, else group names
const MAX_LABELS = 120;

const $ = (id) => document.getElementById(id);
const state = {
  tracks: [], byId: new Map(),
  map: null, method: "pca",                 // {ids, xs, ys, cluster, clusters, row: id -> row, order}
  colourBy: "cluster", grouped: null, colours: [], rgb: [], hidden: new Set(),
  playlist: [], grown: [], picks: [], lastOp: null, verdicts: new Map(), target: [],
  selected: null, hover: null, lassoMode: false, lasso: null,
  onScreen: null, labels: [], marks: [], extent: 1,
};
const canvas = $("map");
const ctx = canvas.getContext("2d");
const layer = document.createElement("canvas");   // the library's points (draw.drawPoints)
const layerCtx = layer.getContext("2d");
let layerStale = true;
const player = createPlayer($("player"), () => state.playlist, () => { renderPlaylist(); }, (e) => status(`cannot play: ${e.message}`));

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
}

// The map, with the server's progress shown while it computes (t-SNE of a large library).
async function loadMap(method) {
  busy(true);
  status("loading map…");
  let waiting = true;
  const poll = async () => {
    while (waiting) {
      await new Promise((done) => setTimeout(done, 400));
      try {
        const { progress } = await (await api("/api/progress")).json();
        if (waiting && progress) status(`computing the map: ${progress.stage} (${progress.seconds} s; cached afterwards)`);
      } catch (e) { /* the map's own request reports failures */ }
    }
  };
  poll();
  try {
    const m = await (await api(`/api/map?method=${method}`)).json();
    const n = m.ids.length;
    const map = { ids: m.ids, xs: new Float32Array(n), ys: new Float32Array(n), cluster: Int32Array.from(m.cluster),
                  clusters: m.clusters, row: new Map(m.ids.map((id, r) => [id, r])), order: drawingOrder(n) };
    m.xy.forEach(([x, y], r) => { map.xs[r] = x; map.ys[r] = y; });
    state.map = map;
    state.method = method;
    resize();
    frame(map.xs, map.ys, null);
    state.extent = Math.max(view.width, view.height) / view.scale;
    colourBy(state.colourBy);
    status(`${n} tracks · ${method === "pca" ? "PCA" : "t-SNE"} · ${map.clusters.length} clusters`);
  } catch (e) {
    status(`map failed: ${e.message}`);
  } finally { waiting = false; busy(false); }
}

// A fixed shuffle of the rows (seeded), so where points overlap no group always wins.
function drawingOrder(n) {
  const order = new Uint32Array(n);
  for (let k = 0; k < n; k++) order[k] = k;
  let seed = 12345;
  for (let k = n - 1; k > 0; k--) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const j = seed % (k + 1);
    [order[k], order[j]] = [order[j], order[k]];
  }
  return order;
}

// ------------------------------------------------------------------ colour and legend

function colourBy(mode) {
  state.colourBy = mode;
  $("colour-by").value = mode;
  state.hidden.clear();
  state.grouped = grouping(mode, state.map, (r) => state.byId.get(state.map.ids[r]));
  paint();
  renderLegend();
}

function paint() {
  if (state.grouped) {
    state.colours = state.grouped.groups.map((_, g) => groupColour(g, theme));
    state.rgb = state.grouped.groups.map((_, g) => groupRgb(g, theme));
  }
  layerStale = true;
  render();
}

const LEGEND_GROUPS = 16;

function renderLegend() {
  const { groups } = state.grouped;
  const items = groups.slice(0, LEGEND_GROUPS).map((group, g) => {
    const b = document.createElement("button");
    b.dataset.group = g;
    b.title = "show / hide";
    b.className = state.hidden.has(g) ? "off" : "";
    const swatch = document.createElement("span");
    swatch.className = "dot"; swatch.style.background = state.colours[g];
    b.append(swatch, document.createTextNode(`${group.name} (${group.count})`));
    b.addEventListener("click", () => {
      if (state.hidden.has(g)) state.hidden.delete(g); else state.hidden.add(g);
      layerStale = true; renderLegend(); render();
    });
    return b;
  });
  if (groups.length > LEGEND_GROUPS) {
    const more = document.createElement("span");
    more.className = "more"; more.textContent = `+${groups.length - LEGEND_GROUPS} more`;
    items.push(more);
  }
  $("legend-groups").replaceChildren(...items);
}

// ------------------------------------------------------------------ drawing

function resize() {
  const ratio = window.devicePixelRatio || 1;
  const rect = canvas.getBoundingClientRect();
  if (rect.width === view.width && rect.height === view.height && canvas.width === Math.round(rect.width * ratio)) return;
  view.width = rect.width; view.height = rect.height;
  for (const c of [canvas, layer]) { c.width = Math.round(rect.width * ratio); c.height = Math.round(rect.height * ratio); }
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  layerCtx.setTransform(ratio, 0, 0, ratio, 0, 0);
  layerStale = true;
}

function hexRgb(hex) { return [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16)); }

function screenOf(id) {
  const r = state.map && state.map.row.get(id);
  return r === undefined || r === null ? null : [toScreenX(state.map.xs[r]), toScreenY(state.map.ys[r])];
}

let frameRequested = false;
function render() {
  if (frameRequested) return;
  frameRequested = true;
  requestAnimationFrame(() => { frameRequested = false; renderNow(); });
}

function renderNow() {
  resize();
  ctx.clearRect(0, 0, view.width, view.height);
  if (!state.map) return;
  const radius = pointRadius();
  if (layerStale) {
    state.onScreen = draw.drawPoints(layerCtx, state.map, state.grouped.of, state.hidden, state.rgb,
                                     parseFloat(theme.pointAlpha), hexRgb(theme.background), radius);
    layerStale = false;
  }
  ctx.drawImage(layer, 0, 0, view.width, view.height);
  drawMarks(radius);
  renderLabels(radius);
}

function drawMarks(radius) {
  const pts = (ids) => ids.map(screenOf).filter(Boolean);
  const picked = new Set(state.picks);
  draw.hull(ctx, pts(state.target), theme.target);
  draw.hull(ctx, pts(state.grown), theme.playlist);
  state.marks = [];
  if (state.lastOp === "transition" && state.picks.length) {
    // from the playlist's last track, through the bridge, to the target's first
    const from = state.grown[state.grown.length - 1], to = state.target.find((id) => !picked.has(id));
    draw.path(ctx, pts([from, ...state.picks, to].filter((id) => id !== undefined)), theme.path);
  }
  state.target.forEach((id) => { const p = screenOf(id); if (p) draw.dot(ctx, p, radius + 2, theme.target, theme.background); });
  state.playlist.forEach((id) => {
    const p = screenOf(id);
    if (p && !picked.has(id)) draw.dot(ctx, p, radius + 2.5, theme.playlist, theme.background);
  });
  state.picks.forEach((id, k) => {
    const p = screenOf(id);
    if (!p) return;
    draw.dot(ctx, p, radius + 3, theme.added, theme.ink, 1.2);
    const box = draw.badge(ctx, p, k + 1, state.lastOp === "transition" ? theme.path : theme.added, "#fff");
    state.marks.push({ n: k + 1, id, ...box });
  });
  const playing = player.current();
  if (playing !== null && screenOf(playing)) draw.dot(ctx, screenOf(playing), radius + 7, null, theme.ink, 2.5);
  if (state.hover !== null && screenOf(state.hover)) draw.dot(ctx, screenOf(state.hover), radius + 5, null, theme.muted, 1.5);
  if (state.selected !== null && screenOf(state.selected)) draw.dot(ctx, screenOf(state.selected), radius + 6, null, theme.ink, 2);
  if (state.lasso) draw.loop(ctx, state.lasso, theme.ink);
}

// Group names at a distance; titles of the tracks on screen once few are (playlist first).
function renderLabels(radius) {
  const candidates = [];
  const on = state.onScreen;
  if (on.rows.length < TITLES_BELOW) {
    // the hovered track first, then the playlist and target, then from the middle outwards
    const first = [state.hover, ...state.playlist, ...state.target].map((id) => state.map.row.get(id)).filter((r) => r !== undefined);
    const middle = (k) => (on.sx[k] - view.width / 2) ** 2 + (on.sy[k] - view.height / 2) ** 2;
    const rest = [...on.rows.keys()].sort((a, b) => middle(a) - middle(b)).map((k) => on.rows[k]);
    const seen = new Set();
    for (const r of [...first, ...rest]) {
      if (seen.has(r) || state.hidden.has(state.grouped.of[r])) continue;
      seen.add(r);
      const t = state.byId.get(state.map.ids[r]);
      const x = toScreenX(state.map.xs[r]), y = toScreenY(state.map.ys[r]);
      if (t) candidates.push({ kind: "title", text: t.label, x, y, r: radius + 3 });
    }
  } else {
    state.grouped.groups.forEach((g, k) => {
      if (!state.hidden.has(k) && g.count > 1) candidates.push({ kind: "group", text: g.name, x: toScreenX(g.x), y: toScreenY(g.y) });
    });
  }
  state.labels = labels.place(candidates, view.width, view.height, MAX_LABELS);
  labels.show($("labels"), state.labels);
}

// The track drawn nearest to (sx, sy), within `reach` pixels.
function nearest(sx, sy, reach = 9) {
  const on = state.onScreen;
  if (!on) return null;
  let best = null, bestD = reach * reach;
  for (let k = 0; k < on.rows.length; k++) {
    const d = (on.sx[k] - sx) ** 2 + (on.sy[k] - sy) ** 2;
    if (d < bestD) { bestD = d; best = on.rows[k]; }
  }
  return best === null ? null : state.map.ids[best];
}

// ------------------------------------------------------------------ the lists

function label(id) { const t = state.byId.get(id); return t ? t.label : `#${id}`; }

function renderPlaylist() {
  const picked = new Set(state.picks);
  const playing = player.current();
  $("playlist").replaceChildren(...state.playlist.map((id) => {
    const li = document.createElement("li");
    li.dataset.id = id;
    if (picked.has(id)) li.classList.add("added");
    if (id === playing) li.classList.add("playing");
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
    play.addEventListener("click", () => player.play(id));
    const drop = document.createElement("button"); drop.textContent = "✕"; drop.title = "remove";
    drop.addEventListener("click", () => toggle(id));
    li.append(play, drop);
    return li;
  }));
  $("count").textContent = state.playlist.length;
  $("target-count").textContent = state.target.length;
  $("now-playing").textContent = playing === null ? "" : label(playing);
  $("play-pause").textContent = playing !== null && !$("player").paused ? "pause" : "play";
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

// A new playlist (or one edited by hand) has no picks: its hull is its own.
function setPlaylist(ids) {
  state.playlist = ids;
  state.grown = ids.slice();
  state.picks = []; state.lastOp = null;
  state.verdicts.clear();
  renderPlaylist();
}

function toggle(id) {
  const at = state.playlist.indexOf(id);
  setPlaylist(at >= 0 ? state.playlist.filter((x) => x !== id) : state.playlist.concat([id]));
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

function showTooltip(id, sx, sy) {
  const tip = $("tooltip");
  tip.hidden = id === null;
  if (id === null) return;
  const t = state.byId.get(id) || {};
  $("tip-title").textContent = t.title || label(id);
  $("tip-artist").textContent = t.artist || "";
  $("tip-album").textContent = t.album || "";
  const cover = $("tip-cover");  // shown once it loads: most files have no cover (404)
  if (cover.dataset.id !== String(id)) { cover.hidden = true; cover.dataset.id = id; cover.src = `/api/cover/${id}`; }
  const left = Math.min(sx + 14, view.width - tip.offsetWidth - 4);
  tip.style.left = `${Math.max(0, left)}px`;
  const below = sy + 12 + tip.offsetHeight <= view.height - 4;
  tip.style.top = `${Math.max(0, below ? sy + 12 : sy - 12 - tip.offsetHeight)}px`;
}

// ------------------------------------------------------------------ the verbs

function numberOf(input) { const v = parseInt(input.value, 10); return Number.isFinite(v) ? v : null; }

async function runOp(op) {
  if (!state.playlist.length) { status("add tracks to the playlist first (click the map, lasso or search)"); return; }
  if (op === "transition" && !state.target.length) { status("load or set a target playlist first"); return; }
  const body = { op, ids: state.playlist, n: numberOf($("n")) || 10, target: op === "transition" ? state.target : [] };
  const cap = numberOf($("cap"));
  if (cap) body.max_per_artist = cap;
  busy(true); status(`${op}…`);
  try {
    const result = await (await api("/api/op", body)).json();
    const picks = result.picks.map((p) => p.id);
    const grown = state.playlist.slice();
    state.verdicts.clear();
    result.picks.forEach((p) => state.verdicts.set(p.id, `${p.verdict} ${p.distance.toFixed(2)}`));
    if (op === "fill") state.playlist = picks;
    else if (op === "transition") state.playlist = grown.concat(picks, state.target.filter((id) => !picks.includes(id)));
    else state.playlist = grown.concat(picks.filter((id) => !grown.includes(id)));
    state.grown = grown; state.picks = picks; state.lastOp = op;
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

// ------------------------------------------------------------------ view changes

function moved() { layerStale = true; render(); }
function fitLibrary() { if (state.map) { frame(state.map.xs, state.map.ys, null); moved(); } }
function fitPlaylist() {
  const rows = state.playlist.concat(state.target).map((id) => state.map.row.get(id)).filter((r) => r !== undefined);
  if (rows.length) { frame(state.map.xs, state.map.ys, rows, state.extent); moved(); }
}

function setLassoMode(on) {
  state.lassoMode = on;
  $("lasso").setAttribute("aria-pressed", String(on));
  canvas.classList.toggle("lasso", on);
}

function finishLasso() {
  const loop = state.lasso;
  state.lasso = null;
  if (!loop || loop.length < 3) { render(); return; }
  const on = state.onScreen, have = new Set(state.playlist), inLoop = [];
  for (let k = 0; k < on.rows.length; k++) if (inside(on.sx[k], on.sy[k], loop)) inLoop.push(state.map.ids[on.rows[k]]);
  const add = inLoop.filter((id) => !have.has(id)).sort((a, b) => a - b);
  setPlaylist(state.playlist.concat(add));
  status(`lasso: ${add.length} tracks added`);
}

// ------------------------------------------------------------------ pointer, wheel, keys

const pointers = new Map();   // pointerId -> [x, y]
let gesture = null;           // {kind: "pan" | "lasso" | "pinch", ...}

function local(e) { const rect = canvas.getBoundingClientRect(); return [e.clientX - rect.left, e.clientY - rect.top]; }

canvas.addEventListener("pointerdown", (e) => {
  canvas.setPointerCapture(e.pointerId);
  const p = local(e);
  pointers.set(e.pointerId, p);
  if (pointers.size === 2) {
    const [a, b] = [...pointers.values()];
    gesture = { kind: "pinch", distance: Math.hypot(a[0] - b[0], a[1] - b[1]) };
    state.lasso = null;
  } else if (pointers.size === 1) {
    gesture = { kind: state.lassoMode || e.shiftKey ? "lasso" : "pan", start: p, last: p, moved: false };
    if (gesture.kind === "lasso") state.lasso = [p];
  }
});

canvas.addEventListener("pointermove", (e) => {
  const p = local(e);
  if (!pointers.has(e.pointerId)) {
    const id = nearest(p[0], p[1]);
    if (id !== state.hover) { state.hover = id; render(); }
    showTooltip(id, p[0], p[1]);
    return;
  }
  pointers.set(e.pointerId, p);
  if (!gesture) return;
  if (gesture.kind === "pinch" && pointers.size === 2) {
    const [a, b] = [...pointers.values()];
    const distance = Math.hypot(a[0] - b[0], a[1] - b[1]);
    if (gesture.distance > 0) zoomAt((a[0] + b[0]) / 2, (a[1] + b[1]) / 2, distance / gesture.distance);
    gesture.distance = distance;
    moved();
    return;
  }
  if (Math.abs(p[0] - gesture.start[0]) + Math.abs(p[1] - gesture.start[1]) > 3) gesture.moved = true;
  if (gesture.kind === "lasso") { state.lasso.push(p); render(); return; }
  if (gesture.moved) { panBy(p[0] - gesture.last[0], p[1] - gesture.last[1]); gesture.last = p; $("tooltip").hidden = true; moved(); }
});

function pointerEnd(e) {
  if (!pointers.delete(e.pointerId)) return;
  const g = gesture;
  if (pointers.size > 0) return;
  gesture = null;
  if (!g) return;
  if (g.kind === "lasso" && g.moved) { finishLasso(); return; }
  state.lasso = null;
  if (!g.moved && g.kind !== "pinch" && e.type === "pointerup") {
    const [x, y] = local(e);
    const id = nearest(x, y);
    if (id !== null) { select(id); toggle(id); }
  }
  render();
}
canvas.addEventListener("pointerup", pointerEnd);
canvas.addEventListener("pointercancel", pointerEnd);
canvas.addEventListener("pointerleave", () => { if (!pointers.size) { state.hover = null; $("tooltip").hidden = true; render(); } });
canvas.addEventListener("wheel", (e) => {
  e.preventDefault();
  const [x, y] = local(e);
  zoomAt(x, y, Math.exp(-e.deltaY * 0.0015));
  moved();
}, { passive: false });
window.addEventListener("resize", () => { resize(); render(); });
$("tip-cover").addEventListener("load", (e) => { e.target.hidden = false; });
onThemeChange(() => { if (state.grouped) { paint(); renderLegend(); } });

const KEYS = {
  "+": () => { zoomAt(view.width / 2, view.height / 2, 1.25); moved(); },
  "=": () => KEYS["+"](),
  "-": () => { zoomAt(view.width / 2, view.height / 2, 0.8); moved(); },
  ArrowLeft: () => { panBy(60, 0); moved(); }, ArrowRight: () => { panBy(-60, 0); moved(); },
  ArrowUp: () => { panBy(0, 60); moved(); }, ArrowDown: () => { panBy(0, -60); moved(); },
  f: fitLibrary, z: fitPlaylist,
  l: () => setLassoMode(!state.lassoMode),
  c: () => colourBy(MODES[(MODES.indexOf(state.colourBy) + 1) % MODES.length]),
  e: () => runOp("extend"), t: () => runOp("transition"),
  " ": () => player.toggle(), n: () => player.next(), p: () => player.previous(),
  Escape: () => { state.lasso = null; gesture = null; setLassoMode(false); state.selected = null; renderSelected(); render(); },
};
document.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey || e.target.closest("input, select, textarea")) return;
  const action = KEYS[e.key.length === 1 ? e.key.toLowerCase() : e.key];
  if (!action || !state.map) return;
  e.preventDefault();
  action();
});

$("method").addEventListener("change", (e) => loadMap(e.target.value));
$("colour-by").addEventListener("change", (e) => colourBy(e.target.value));
$("reset-view").addEventListener("click", fitLibrary);
$("zoom-playlist").addEventListener("click", fitPlaylist);
$("lasso").addEventListener("click", () => setLassoMode(!state.lassoMode));
$("search").addEventListener("input", (e) => search(e.target.value));
$("sel-play").addEventListener("click", () => state.selected !== null && player.play(state.selected));
$("sel-toggle").addEventListener("click", () => state.selected !== null && toggle(state.selected));
$("sel-check").addEventListener("click", checkSelected);
$("clear").addEventListener("click", () => setPlaylist([]));
$("use-as-target").addEventListener("click", () => { state.target = state.playlist.slice(); renderPlaylist(); });
$("load").addEventListener("change", async (e) => {
  try {
    const got = await readM3u(e.target);
    if (got) { $("name").value = got.name.replace(/\.m3u8?$/i, ""); setPlaylist(got.ids); }
  } catch (err) { status(`load failed: ${err.message}`); }
});
$("load-target").addEventListener("change", async (e) => {
  try { const got = await readM3u(e.target); if (got) { state.target = got.ids; renderPlaylist(); } } catch (err) { status(`load failed: ${err.message}`); }
});
document.querySelectorAll("button[data-op]").forEach((b) => b.addEventListener("click", () => runOp(b.dataset.op)));
$("prev").addEventListener("click", () => player.previous());
$("next").addEventListener("click", () => player.next());
$("play-pause").addEventListener("click", () => player.toggle());
$("save").addEventListener("click", save);

// For tests and benchmarks: where things are drawn (CSS pixels from the canvas's corner).
window.mynaMap = {
  state, view, screenOf,
  // a synchronous frame after moving the view by (dx, dy) pixels; its milliseconds
  frameAfterPan(dx, dy) {
    const start = performance.now();
    panBy(dx, dy); layerStale = true; renderNow();
    return performance.now() - start;
  },
  toScreen: (x, y) => [toScreenX(x), toScreenY(y)],
};

readTheme();
loadLibrary()
  .then(() => { state.grown = state.playlist.slice(); renderPlaylist(); document.body.dataset.ready = "1"; })
  .catch((e) => status(`cannot load the library: ${e.message}`));
