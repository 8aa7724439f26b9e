// The rig map: a top and a side view of the rig (web/_rigmap.py: rig file + accepted calibration), each device
// coloured by its state on the server's device board, a camera's last image on hover, the full image on click.
// Inline SVG built with createElementNS: no library. One closure: the page scripts share a global scope.
"use strict";

(() => {

const SVG_NS = "http://www.w3.org/2000/svg";
const MAP_VIEWS = { top: "Top view (from above)", side: "Side view (from -y)" };
const STATE_WORDS = { ok: "ok", bad: "failed", unknown: "not checked", busy: "busy" };

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, String(value));
  }
  for (const child of children) node.append(child);
  return node;
}

// A device's state as the map colours it: busy while a session shoots with it, else the board's last word.
function deviceState(item) {
  const board = S.board || { tiles: {}, hosts: {} };
  const run = S.run;
  const shooting = run && run.running && run.state === "running";
  if (shooting && item.kind === "camera") {
    const take = (run.takes || []).find((t) => t.id === run.current_take);
    if (take && take.cameras.includes(item.id) && !(run.arrivals_take === take.id && run.arrivals[item.id])) return "busy";
  }
  if (shooting && (item.kind === "trigger" || item.kind === "turntable")) return "busy";
  const tile = item.kind === "host" ? (board.hosts || {})[item.id] : (board.tiles || {})[item.id];
  const state = tile && tile.state;
  return state === "ok" || state === "bad" ? state : "unknown";
}

function lastImage(id) {
  const tile = ((S.board && S.board.tiles) || {})[id];
  return tile && tile.last_image && tile.last_image.session ? tile.last_image : null;
}

function openLastImage(camera) {
  const image = lastImage(camera);
  if (!image) { toast(`${camera} has no image yet: its last image appears here once a take stores one`, "info"); return; }
  const args = { session: image.session, path: image.path, camera, take: image.take };
  if (typeof openImageViewer === "function") openImageViewer(args);  // static/js/viewer.js, when loaded
  else window.open(fileUrl(image.session, image.path, false), "_blank");
}

// The symbol of one device, in map metres (`unit` is the symbol size for this view's scale). `label` is the text
// beside it: its id, the ids of the devices it hides in this view too, or nothing when a device in front says it.
function deviceSymbol(item, unit, view, label) {
  const [u, v] = item[view];
  const x = u, y = -v;  // SVG's y runs down the screen; the rig's y (top) and z (side) run up
  const g = svg("g", { class: `dev ${item.kind}${item.placed === "not in the rig file" ? " unplaced" : ""}`,
                       "data-device": item.id, tabindex: 0 });
  const where = `${item.placed}${item.note ? ": " + item.note : ""}`;
  const about = [item.kind, item.group, item.host && `on ${item.host}`].filter(Boolean).join(", ");
  g.append(svg("title", { text: `${item.id} (${about}) ${where}` }));
  if (item.kind === "camera") {
    const dir = item[`${view}_dir`];
    if (dir) g.append(svg("line", { class: "facing", x1: x, y1: y, x2: x + dir[0] * unit * 4, y2: y - dir[1] * unit * 4,
                                    "stroke-width": unit * 0.35 }));
    g.append(svg("circle", { class: "mark", cx: x, cy: y, r: unit * 1.1, "stroke-width": unit * 0.3 }));
  } else if (item.kind === "fixture") {
    const r = unit * 1.1;
    g.append(svg("polygon", { class: "mark", points: `${x},${y - r} ${x + r},${y} ${x},${y + r} ${x - r},${y}`,
                              "stroke-width": unit * 0.25 }));
  } else if (item.kind === "turntable") {
    g.append(svg("circle", { class: "mark", cx: x, cy: y, r: unit * 3, "stroke-width": unit * 0.3 }));
  } else {
    const r = unit * 1.2;
    g.append(svg("rect", { class: "mark", x: x - r, y: y - r * 0.7, width: 2 * r, height: 1.4 * r, rx: unit * 0.3,
                           "stroke-width": unit * 0.3 }));
  }
  if (label) g.append(svg("text", { class: "label", x: x + unit * 1.5, y: y - unit * 1.2, "font-size": unit * 1.8, text: label }));
  if (item.kind === "camera") {
    g.addEventListener("mouseenter", (e) => showPeek(item.id, e));
    g.addEventListener("mousemove", (e) => placePeek(e));
    g.addEventListener("mouseleave", hidePeek);
    g.addEventListener("click", () => openLastImage(item.id));
    g.addEventListener("keydown", (e) => { if (e.key === "Enter") openLastImage(item.id); });
  }
  return g;
}

// Devices in `view` back to front (a camera never hidden under the turntable or a light, the nearest camera on
// top), each with its label: where several stand at one spot in this view, the front one names them all.
function layered(map, view) {
  const order = { turntable: 0, host: 1, output: 1, trigger: 1, fixture: 2, camera: 3 };
  const depth = (item) => view === "side" ? item.position[1] : 0;  // seen from -y: a larger y is further away
  const items = map.items.filter((item) => item[view])
    .sort((a, b) => order[a.kind] - order[b.kind] || depth(b) - depth(a));
  const spot = (item) => `${item.kind === "camera" ? "c" : "o"}:${item[view].map((c) => Math.round(c * 20)).join(",")}`;
  const together = new Map();
  for (const item of items) together.set(spot(item), [item.id, ...(together.get(spot(item)) || [])]);
  return items.map((item) => {
    const ids = together.get(spot(item));
    return [item, ids[0] === item.id ? ids.join(" · ") : ""];
  });
}

function drawView(map, view) {
  const [minU, minV, maxU, maxV] = map.views[view].bounds;
  const width = maxU - minU, height = maxV - minV;
  // Views share a height on the page, so a symbol a fixed share of the view's height is the same size in both.
  const unit = height / 60;
  const box = svg("svg", { id: `rig-map-${view}`, viewBox: `${minU} ${-maxV} ${width} ${height}`,
                           preserveAspectRatio: "xMidYMid meet", role: "img", "aria-label": MAP_VIEWS[view] });
  // Axes through the origin (the turntable centre), one metre ticks: the scale a technician checks by eye.
  const axes = svg("g", { class: "axes", "stroke-width": unit * 0.12 });
  axes.append(svg("line", { x1: minU, y1: 0, x2: maxU, y2: 0 }), svg("line", { x1: 0, y1: -minV, x2: 0, y2: -maxV }));
  for (let m = Math.ceil(minU); m <= maxU; m++) if (m !== 0) axes.append(svg("line", { x1: m, y1: -unit * 0.6, x2: m, y2: unit * 0.6 }));
  const [, vAxis] = map.views[view].axes;
  axes.append(svg("text", { x: maxU - unit * 2, y: unit * 2, "font-size": unit * 1.4, text: "x" }),
              svg("text", { x: -unit * 2, y: -maxV + unit * 2, "font-size": unit * 1.4, text: vAxis }),
              svg("text", { x: minU + unit, y: -minV - unit, "font-size": unit * 1.3, text: "ticks: 1 m" }));
  box.append(axes);
  for (const [item, label] of layered(map, view)) box.append(deviceSymbol(item, unit, view, label));
  return el("figure", { class: "map-view" }, box, el("figcaption", { text: MAP_VIEWS[view] }));
}

function drawRigMap(map) {
  S.rigMap = map;
  const cal = map.calibration || {};
  $("#rig-map-note").textContent = `${map.frame}; ${cal.note || ""}`;
  const legend = el("div", { class: "map-legend" },
    ...Object.entries(STATE_WORDS).map(([state, word]) => el("span", { class: `key state-${state}`, text: word })),
    el("span", { class: "key unplaced", text: "dashed: position not in the rig file (drawn in a row in front of the rig)" }),
    el("span", { class: "muted", text: "○ camera (line: its view)  ◇ light  ▭ trigger box, light output, capture host" }));
  // Columns as wide as each view's shape at a common height: neither view is squeezed into half the width.
  const aspect = (view) => { const [u0, v0, u1, v1] = map.views[view].bounds; return ((u1 - u0) / (v1 - v0)).toFixed(3); };
  $("#rig-map").style.gridTemplateColumns = `minmax(0, ${aspect("top")}fr) minmax(0, ${aspect("side")}fr)`;
  $("#rig-map").replaceChildren(drawView(map, "top"), drawView(map, "side"), legend);
  colourRigMap();
}

// Recolour only: a patch must not rebuild the drawing (hover and focus stay).
function colourRigMap() {
  if (!S.rigMap) return;
  const byId = new Map(S.rigMap.items.map((item) => [item.id, item]));
  for (const g of $$("#rig-map g.dev")) {
    const item = byId.get(g.dataset.device);
    if (!item) continue;
    const state = deviceState(item);
    for (const s of Object.keys(STATE_WORDS)) g.classList.toggle(`state-${s}`, s === state);
    g.dataset.state = STATE_WORDS[state];
    const check = (((S.board && S.board.tiles) || {})[item.id] || {}).last_check;
    for (const v of ["warn", "fail"]) g.classList.toggle(`qc-${v}`, Boolean(check && check.verdict === v));
  }
  const peek = $("#rig-map-peek");
  if (!peek.hidden) fillPeek(peek.dataset.camera);
}

function fillPeek(camera) {
  const peek = $("#rig-map-peek");
  const image = lastImage(camera);
  const item = S.rigMap && S.rigMap.items.find((i) => i.id === camera);
  const state = item ? STATE_WORDS[deviceState(item)] : "";
  const tile = ((S.board && S.board.tiles) || {})[camera] || {};
  const shown = peek.querySelector("img");
  const caption = el("div", { class: "caption", text: `${camera}: ${state}` });
  const error = tile.state === "bad" && tile.last_error ? el("div", { class: "error", text: tile.last_error }) : null;
  const when = image ? el("div", { class: "muted", text: `last image: take ${image.take}, ${fmtClock(image.at)} (click: full image)` })
    : el("div", { class: "muted", text: "no image yet" });
  let img = null;
  if (image) {
    const src = fileUrl(image.session, image.path, true);
    img = shown && shown.dataset.path === image.path ? shown : el("img", { src, alt: `${camera} last image`, "data-path": image.path });
  }
  const check = tile.last_check;  // the per-image checks' word on its last checked picture
  const checked = check ? el("div", { class: `qc ${check.verdict}`, text: check.verdict === "ok"
    ? `last checked image (take ${check.take}): every check passed`
    : `last checked image (take ${check.take}): ${check.reasons.join("; ") || check.verdict}` }) : null;
  peek.dataset.camera = camera;
  peek.replaceChildren(...[img, caption, error, checked, when].filter(Boolean));
}

function showPeek(camera, event) {
  fillPeek(camera);
  $("#rig-map-peek").hidden = false;
  placePeek(event);
}

function placePeek(event) {
  const peek = $("#rig-map-peek");
  const area = $("#rig-map-block").getBoundingClientRect();
  const left = Math.min(event.clientX - area.left + 16, area.width - 220);
  peek.style.left = `${Math.max(0, left)}px`;
  peek.style.top = `${event.clientY - area.top + 16}px`;
}

function hidePeek() { $("#rig-map-peek").hidden = true; }

const fmtClock = (at) => at == null ? "–" : new Date(at * 1000).toLocaleTimeString();

async function loadRigMap() {
  const rig = rigId("#dash-rig");
  if (!rig) return;
  try {
    const map = await api("GET", `/api/rigs/${encodeURIComponent(rig)}/map`);
    if (rig !== rigId("#dash-rig")) return;  // the technician chose another rig meanwhile
    drawRigMap(map);
    if (map.problem) showProblem(map.problem);
  } catch (error) {
    $("#rig-map").replaceChildren(el("p", { class: "muted", text: `no rig map: ${error.message}` }));
    report(error);
  }
}

on("ready", () => $("#dash-rig").addEventListener("change", loadRigMap));
on("tab", (tab) => { if (tab === "dashboard") loadRigMap(); });  // a calibration accepted meanwhile shows
on("board", colourRigMap);
on("run", colourRigMap);
on("arrivals", colourRigMap);
on("snapshot", colourRigMap);
})();
