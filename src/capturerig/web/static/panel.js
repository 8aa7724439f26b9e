// capturerig panel: vanilla JS, no build step, no CDN. Every value from the server goes in as textContent.
"use strict";

// The views are the server's (web/_views.py): a Snapshot, then ViewPatch deltas. The page renders them and never
// reduces the message stream itself.
const S = {
  rigs: [], views: null, seq: null, socket: null, lagged: 0,
  get run() { return this.views && this.views.run; },
  get board() { return this.views && this.views.board; },
};
const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) node.append(child);
  return node;
}

function toast(text, kind = "error") {
  const box = $("#toast");
  box.textContent = text;
  box.className = kind;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 8000);
}

async function api(method, path, body) {
  const options = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = { detail: text }; }
  if (!response.ok) {
    const detail = data && data.detail ? data.detail : response.statusText;
    throw new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  return data;
}

async function act(button, work) {
  if (button) button.disabled = true;
  try { return await work(); } catch (error) { toast(error.message); return null; }
  finally { if (button) button.disabled = false; updateControls(); }
}

const fmtBytes = (n) => n == null ? "–" : n >= 1e9 ? (n / 1e9).toFixed(1) + " GB" : (n / 1e6).toFixed(1) + " MB";
const fileUrl = (session, path, thumb) =>
  `/api/sessions/${encodeURIComponent(session)}/files/${path.split("/").map(encodeURIComponent).join("/")}` +
  (thumb ? "?thumb=true" : "");
const rigId = (select) => $(select).value || (S.rigs[0] && S.rigs[0].id);
const currentRig = (select) => S.rigs.find((r) => r.id === rigId(select)) || S.rigs[0];

// ---- tabs --------------------------------------------------------------------------------------------------
function showTab() {
  const tab = (location.hash || "#dashboard").slice(1);
  for (const page of $$(".page")) page.hidden = page.id !== tab;
  for (const link of $$("#tabs a[data-tab]")) link.classList.toggle("active", link.dataset.tab === tab);
  if (tab === "packages") loadPackages();
  if (tab === "calibration") loadCalibration();
  if (tab === "session") { loadSessions(); loadSubjects(); }
  if (tab === "lights") loadLights();
}

// ---- live connection: the server's views, a snapshot and then patches (web/_messages.py) ---------------------
function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws?events=false`);  // the views, not the events
  S.socket = socket;
  S.seq = null;  // nothing applies until this connection's snapshot
  socket.onopen = () => { $("#link").textContent = "live"; $("#link").className = "badge on"; };
  socket.onclose = () => {
    if (S.socket !== socket) return;
    $("#link").textContent = "offline"; $("#link").className = "badge off";
    setTimeout(connect, 1000);
  };
  socket.onmessage = (message) => { if (S.socket === socket) onMessage(JSON.parse(message.data)); };
}

function onMessage(m) {
  if (m.kind === "Snapshot") { S.views = m; S.seq = m.seq; setBusy(m.busy); renderAll(); return; }
  if (m.kind === "ClientLagged") { S.lagged = m.dropped; return; }  // a fresh Snapshot follows
  if (m.kind !== "ViewPatch" || S.seq === null || m.seq <= S.seq) return;
  if (m.seq !== S.seq + 1) {  // a patch went missing: start again from a fresh snapshot
    S.seq = null;
    S.socket.close();
    return;
  }
  applyChanges(S.views, m.changes);
  S.seq = m.seq;
  renderChanges(m.changes);
}

// Set each [path, value]: the path's keys from the snapshot's root, missing objects made on the way.
function applyChanges(root, changes) {
  for (const [path, value] of changes) {
    let node = root;
    for (const key of path.slice(0, -1)) {
      if (node[key] === null || typeof node[key] !== "object") node[key] = {};
      node = node[key];
    }
    node[path[path.length - 1]] = value;
  }
}

// Draw what a patch changed. Files landing (a cell and the arrival chips) redraw only themselves.
function renderChanges(changes) {
  let run = false, sheet = false, board = false, finished = false;
  const cells = [];
  for (const [path, value] of changes) {
    const [root, key, take, field, camera] = path;
    if (root === "busy") setBusy(value);
    else if (root === "board") {
      board = true;
      if (key === "lights") { noteLightChange(value); renderLightsVerdict(); }
    } else if (root === "run") {
      if (key === undefined || key === "session" || key === "takes") { sheet = true; run = true; }
      else if (key === "status" && field === "files" && camera !== undefined) cells.push([take, camera]);
      else if (key === "status") { run = true; cells.push(...Object.keys((value || {}).files || {}).map((c) => [take, c])); }
      else if (key === "arrivals" || key === "arrivals_take") renderArrivals();
      else {
        run = true;
        if (key === "lights") renderGovernorRun();
        if (key === "result" && value) finished = true;
      }
    }
  }
  if (board) renderBoard();
  if (sheet) buildSheet(); else for (const [take, camera] of cells) renderCell(take, camera);
  if (run) renderRun();
  if (finished) {
    loadSessions();
    const result = S.run.result;
    if (result.error) toast(`session ${result.state}: ${result.error}`, result.state === "done" ? "info" : "error");
  }
}

function setBusy(owner) {
  $("#busy").textContent = owner ? `busy: ${owner}` : "rig free";
  $("#busy").className = owner ? "badge off" : "badge on";
}

// The lights page keeps a short history of the panel's own light changes (and the governor's verdicts).
function noteLightChange(lights) {
  if (!lights || !lights.verdict) return;
  const history = $("#governor-history");
  history.prepend(el("li", { class: lights.verdict.waited_s > 0 ? "held" : "", text: `${lights.scene}: ${lights.verdict.text}` }));
  while (history.children.length > 12) history.lastChild.remove();
}

// ---- device board ------------------------------------------------------------------------------------------
function dl(pairs) {
  const list = el("dl");
  for (const [key, value] of pairs) list.append(el("dt", { text: key }), el("dd", { text: value == null ? "–" : String(value) }));
  return list;
}

const fmtMs = (n) => n == null ? null : `${n >= 0 ? "+" : ""}${n.toFixed(1)} ms`;

// A tile per capture host of the rig (web/_views.py DeviceBoard.hosts), above the cameras.
function renderHosts(rig) {
  const hosts = rig.hosts || [];
  $("#hosts-block").hidden = hosts.length === 0;
  const box = $("#host-tiles");
  box.replaceChildren();
  for (const host of hosts) {
    const t = (S.board.hosts || {})[host.name] || {};
    const state = t.state || "unknown";
    const cameras = t.cameras || host.cameras;
    const spool = t.spool_files == null ? null : `${t.spool_files} files / ${fmtBytes(t.spool_bytes)}`;
    const disk = t.free_bytes == null ? null :
      `${fmtBytes(t.free_bytes)} free (reserve ${fmtBytes(t.reserve_bytes)})${t.free_bytes < t.reserve_bytes ? " LOW" : ""}`;
    const clock = t.clock_offset_ms == null ? null : `${fmtMs(t.clock_offset_ms)} (rtt ${t.round_trip_ms.toFixed(1)} ms)`;
    const problem = state === "bad" ? (t.problem || t.last_error) : null;
    box.append(el("div", { class: `tile host ${state}`, "data-host": host.name, title: t.url || host.url },
      el("h3", { text: `${host.name} ` }, el("span", { class: "state", text: state })),
      dl([["cameras", `${t.cameras_ok || 0}/${cameras.length} ok: ${cameras.join(" ")}`],
          ["spool", spool], ["disk", disk], ["clock", clock],
          ["version", t.capturerig_version],
          ["last problem", problem || t.last_error || "none"]])));
  }
}

function renderBoard() {
  const rig = currentRig("#dash-rig");
  if (!rig || !S.board) return;
  renderHosts(rig);
  const tiles = $("#camera-tiles");
  tiles.replaceChildren();
  for (const camera of rig.cameras) {
    const t = S.board.tiles[camera.id] || {};
    const drift = t.drift ? Object.entries(t.drift).map(([k, v]) => `${k}: wants ${v.wanted}, reads ${v.reads}`).join("; ") || "none" : null;
    const host = t.host || camera.host;
    tiles.append(el("div", { class: `tile camera ${t.state || ""}`, "data-device": camera.id },
      el("h3", { text: camera.id }, ...(host ? [el("span", { class: "on-host", text: ` @ ${host}` })] : [])),
      dl([["connected", t.connected == null ? "not checked" : t.connected ? "yes" : "no"],
          ["serial", t.serial ? `${t.serial}${t.serial_ok === false ? " (rig: " + camera.serial + ")" : ""}` : camera.serial],
          ["battery", t.battery_percent == null ? null : `${Math.round(t.battery_percent)} %`],
          ["card free", fmtBytes(t.free_bytes)],
          ["settings drift", drift],
          ["preflight", t.preflight ? (t.preflight.ok ? "ok" : "FAILED") : null],
          ["last error", t.last_error ? (host && !t.last_error.includes(host) ? `${t.last_error} (host ${host})` : t.last_error) : "none"]])));
  }
  const lights = $("#light-tiles");
  lights.replaceChildren();
  const levels = (S.board.lights && S.board.lights.levels) || {};
  for (const output of rig.light_outputs) {
    const t = S.board.tiles[output.id] || {};
    lights.append(el("div", { class: `tile output ${t.state || ""}`, "data-device": output.id },
      el("h3", { text: `${output.id} (output)` }),
      dl([["driver", output.driver], ["universes", output.universes.join(", ")],
          ["preflight", t.preflight ? t.preflight.detail : null], ["last error", t.last_error || "none"]])));
  }
  for (const fixture of rig.fixtures) {
    const level = levels[fixture.id] || {};
    lights.append(el("div", { class: "tile fixture", "data-device": fixture.id },
      el("h3", { text: fixture.id }),
      dl([["at", `${fixture.output} u${fixture.universe} @${fixture.address}`], ["profile", `${fixture.profile} ${fixture.mode}`],
          ["intensity", level.intensity == null ? "–" : `${Math.round(level.intensity * 100)} %`]])));
  }
  const body = $("#preflight-results tbody");
  body.replaceChildren();
  for (const result of S.board.preflight.results || []) {
    body.append(el("tr", { "data-device": result.device_id }, el("td", { text: result.device_id }),
      el("td", { class: result.ok ? "result-ok" : "result-bad", text: result.ok ? "ok" : "FAILED" }),
      el("td", { text: result.detail })));
  }
  const p = S.board.preflight;
  $("#preflight-summary").textContent = p.running ? "preflight running…" : p.ok == null ? "" :
    p.ok ? `preflight passed (${p.results.length} checks)` : `preflight FAILED: ${(p.problems || []).length} problem(s)`;
}

// ---- session page --------------------------------------------------------------------------------------------
function renderRun() {
  const r = S.run;
  if (!r) return;
  $("#run-state").textContent = r.state;
  $("#run-reason").textContent = r.reason ? `(${r.reason})` : "";
  $("#current-take").textContent = r.current_take || "–";
  const done = Object.values(r.status).filter((s) => s.status === "verified" || s.status === "skipped").length;
  $("#progress").textContent = `${done}/${r.takes.length}`;
  const ask = r.awaiting_pose;
  $("#pose-confirm").hidden = !ask;
  if (ask) { $("#pose-name").textContent = ask.pose_id; $("#pose-description").textContent = ask.description || ""; }
  renderHold();
  renderArrivals();
  renderSheetState();
  renderFailed();
  const log = $("#messages");
  log.replaceChildren(...r.messages.slice(-40).map((m) => el("li", { class: m.level, text: `${m.level}: ${m.text}` })));
  updateControls();
}

function renderHold() {
  const r = S.run;
  if (!r) return;
  const hold = r.hold || { state: "relax" };
  const cue = $("#hold-cue");
  cue.className = `cue ${hold.state}`;
  $("#hold-word").textContent = hold.state === "hold" ? `HOLD${hold.pose_id ? " — pose " + hold.pose_id : ""}` : "RELAX";
  const seconds = hold.since ? Math.max(0, Date.now() / 1000 - hold.since) : 0;
  $("#hold-timer").textContent = hold.state === "hold"
    ? `${seconds.toFixed(1)} s${hold.expected_s ? " of ~" + hold.expected_s.toFixed(1) + " s" : ""}` : "";
}

function renderArrivals() {
  const r = S.run;
  const box = $("#arrivals");
  if (!r || !r.session) { box.replaceChildren(); return; }
  const cameras = r.session.cameras || [];
  if (box.children.length !== cameras.length)
    box.replaceChildren(...cameras.map((c) => el("span", { class: "chip", "data-camera": c, text: c })));
  for (const chip of box.children) chip.classList.toggle("arrived", Boolean(r.arrivals[chip.dataset.camera]));
}

function buildSheet() {
  const r = S.run;
  const head = $("#contact-sheet thead");
  const body = $("#contact-sheet tbody");
  head.replaceChildren();
  body.replaceChildren();
  if (!r || !r.session) return;
  $("#sheet-name").textContent = `${r.session.name} (${r.session.subject})`;
  const row = el("tr", {}, el("th", { text: "camera" }));
  for (const take of r.takes)
    row.append(el("th", { "data-take": take.id, title: `${take.id}: ${take.lighting_name}`,
                          text: `${take.station} ${take.lighting}${take.bracket !== "b0" ? " " + take.bracket : ""}` }));
  head.append(row);
  for (const camera of r.session.cameras || []) {
    const line = el("tr", {}, el("th", { text: camera }));
    for (const take of r.takes) line.append(el("td", { "data-take": take.id, "data-camera": camera }));
    body.append(line);
  }
  S.sheetFor = r.session.name;
  for (const take of r.takes) for (const camera of r.session.cameras || []) renderCell(take.id, camera);
}

function renderCell(takeId, camera) {
  const r = S.run;
  if (!r || S.sheetFor !== (r.session && r.session.name)) return;
  const cell = $(`#contact-sheet td[data-take="${CSS.escape(takeId)}"][data-camera="${CSS.escape(camera)}"]`);
  const path = ((r.status[takeId] || {}).files || {})[camera];
  if (!cell || !path) return;
  const current = cell.firstChild;
  if (current && current.dataset.path === path) return;
  const img = el("img", { alt: `${camera} ${takeId}`, loading: "lazy", src: fileUrl(r.session.name, path, true), "data-path": path });
  img.addEventListener("click", () => window.open(fileUrl(r.session.name, path, false), "_blank"));
  cell.replaceChildren(img);
}

function renderSheetState() {
  const r = S.run;
  if (!r || !r.session) { buildSheet(); return; }
  if (S.sheetFor !== r.session.name) buildSheet();
  for (const take of r.takes) {
    const status = (r.status[take.id] || {}).status || "pending";
    for (const node of $$(`#contact-sheet [data-take="${CSS.escape(take.id)}"]`)) {
      node.classList.toggle("failed", status === "failed");
      node.classList.toggle("retrying", status === "retrying");
      node.classList.toggle("running", status === "running");
      node.classList.toggle("verified", status === "verified" || status === "skipped");
      if (node.tagName === "TH") node.title = `${take.id}: ${take.lighting_name}${(r.status[take.id] || {}).error ? " — " + r.status[take.id].error : ""}`;
    }
  }
}

function renderFailed() {
  const r = S.run;
  const box = $("#failed-takes");
  box.replaceChildren();
  if (!r || !r.session) return;
  for (const take of r.takes) {
    const entry = r.status[take.id] || {};
    if (entry.status !== "failed" && entry.status !== "retrying") continue;
    const row = el("div", { class: "failed-take", "data-take": take.id },
      el("b", { text: `${take.id} ${entry.status === "retrying" ? "failed, retrying" : "FAILED"}` }),
      el("span", { text: ` (attempt ${entry.attempt || "?"}): ${entry.error || ""} ` }),
      ...(entry.hosts && entry.hosts.length ? [el("span", { class: "hosts", text: `[host ${entry.hosts.join(", ")}] ` })] : []));
    if (entry.status === "failed" && !r.running)
      row.append(el("button", { class: "reshoot go", text: "Re-shoot", onclick: (e) => reshoot(r.session.name, e.target) }));
    box.append(row);
  }
}

function updateControls() {
  const r = S.run;
  const running = Boolean(r && r.running);
  $("#start").disabled = running;
  $("#pause").disabled = !running || r.state === "paused";
  $("#resume").disabled = !running || r.state !== "paused";
  $("#abort").disabled = !running;
}

async function reshoot(name, button) {
  await act(button, () => api("POST", `/api/sessions/${encodeURIComponent(name)}/reshoot`, { confirm_poses: $("#confirm-poses").checked }));
}

async function loadSessions() {
  const rows = await api("GET", "/api/sessions").catch((e) => { toast(e.message); return []; });
  const body = $("#sessions-list tbody");
  body.replaceChildren();
  for (const s of rows) {
    const cell = el("td");
    if (s.takes_verified < s.takes_planned && !(S.run && S.run.running))
      cell.append(el("button", { class: "reshoot", text: "Re-shoot missing", onclick: (e) => reshoot(s.name, e.target) }));
    body.append(el("tr", { "data-session": s.name }, el("td", { text: s.name }), el("td", { text: s.subject }),
      el("td", { text: s.state }), el("td", { text: `${s.takes_verified}/${s.takes_planned}` }), cell));
  }
  const names = rows.map((s) => s.name);
  for (const select of ["#package-session", "#calib-session"]) fillSelect($(select), names.map((n) => [n, n]));
}

async function loadSubjects() {
  const data = await api("GET", "/api/subjects").catch(() => null);
  S.subjects = data ? data.subjects : [];
  $("#subject-list").replaceChildren(...S.subjects.map((s) => el("option", { value: s.id, text: `${s.id}: ${s.status}` })));
  showConsent();
}

function showConsent() {
  const badge = $("#consent");
  const id = $("#subject").value;
  const known = (S.subjects || []).find((s) => s.id === id);
  if (known) { badge.textContent = `consent: ${known.status} (${known.detail})`; badge.className = `badge ${known.status}`; }
  else if (S.subjects && S.subjects.length) { badge.textContent = "not in the registry"; badge.className = "badge none"; }
  else { badge.textContent = "consent checked at start"; badge.className = "badge"; }
}

function fillSelect(select, pairs) {
  const previous = select.value;
  select.replaceChildren(...pairs.map(([value, text]) => el("option", { value, text })));
  if (pairs.some(([value]) => value === previous)) select.value = previous;
}

function fillPlans() {
  const rig = currentRig("#session-rig");
  if (!rig) return;
  fillSelect($("#session-plan"), rig.plans.map((p) => [p.id, p.name]));
  loadEstimate();
}

async function loadEstimate() {
  const rig = rigId("#session-rig");
  const plan = $("#session-plan").value;
  if (!rig || !plan) return;
  const e = await api("GET", `/api/estimate?rig=${encodeURIComponent(rig)}&plan=${encodeURIComponent(plan)}`).catch((x) => { toast(x.message); return null; });
  if (!e) return;
  const holds = Object.entries(e.hold_s_by_pose).map(([p, s]) => `pose ${p} hold ${s.toFixed(1)} s`).join(", ");
  $("#estimate").textContent = `Estimate: ${e.takes} takes, ${e.images} images, ${holds}; session ${e.session_s.toFixed(1)} s; disk ${fmtBytes(e.disk_bytes)}`;
}

// ---- lights page -----------------------------------------------------------------------------------------------
async function loadLights() {
  const rig = rigId("#lights-rig");
  const plans = currentRig("#lights-rig").plans;
  if ($("#lights-plan").options.length !== plans.length) fillSelect($("#lights-plan"), plans.map((p) => [p.id, p.name]));
  const plan = $("#lights-plan").value;
  const data = await api("GET", `/api/lights?rig=${encodeURIComponent(rig)}&plan=${encodeURIComponent(plan)}`)
    .catch((e) => { toast(e.message); return null; });
  if (!data) return;
  const limit = data.flash_limit;
  $("#governor-limit").textContent = `at most ${limit.max_flashes} flashes per ${limit.window_s} s (${limit.source})`;
  const sceneButton = (name, box) => el("button", { "data-scene": name, text: name, onclick: (e) => setScene(name, e.target) });
  const scenes = data.scenes.filter((s) => s !== "blackout");
  $("#scenes").replaceChildren(...(scenes.length ? scenes.map((s) => sceneButton(s))
    : [el("span", { class: "muted", text: "this rig has no scenes of its own (blackout is above)" })]));
  $("#plan-states").replaceChildren(...data.plan_states.map((s) => {
    const b = sceneButton(s.id); b.title = s.name; return b; }));
  const sliders = $("#fixtures");
  const fixtures = currentRig("#lights-rig").fixtures;
  sliders.replaceChildren(...fixtures.map((f) => {
    const level = (data.levels[f.id] || {}).intensity || 0;
    const value = el("span", { text: `${Math.round(level * 100)}%` });
    const input = el("input", { type: "range", min: 0, max: 100, step: 1, value: Math.round(level * 100), "data-fixture": f.id });
    input.addEventListener("input", () => { value.textContent = `${input.value}%`; });
    input.addEventListener("change", () => setFixture(f.id, Number(input.value) / 100, input));
    return el("label", { class: "slider" }, el("span", { text: f.id }), input, value);
  }));
  renderLightsVerdict();
}

// Light changes go out one after another, in the order the technician asked for them.
let lightQueue = Promise.resolve();
function queueLight(work) { lightQueue = lightQueue.then(work, work); return lightQueue; }

function setScene(name, button) {
  return queueLight(() => act(button, () => api("POST", "/api/lights/scene",
                                                { name, rig: rigId("#lights-rig"), plan: $("#lights-plan").value || null })));
}

function setFixture(id, level, input) {
  const levels = {}; levels[id] = { intensity: level, red: 1, green: 1, blue: 1, white: 1 };
  return queueLight(() => act(input, () => api("POST", "/api/lights/fixtures", { rig: rigId("#lights-rig"), levels })));
}

function renderLightsVerdict() {
  const lights = S.board && S.board.lights;
  if (!lights || !lights.verdict) return;
  const box = $("#governor");
  box.className = `verdict ${lights.verdict.waited_s > 0 ? "held" : ""}`;
  $("#governor-verdict").textContent = `${lights.scene}: ${lights.verdict.text}`;
  for (const input of $$("#fixtures input[data-fixture]")) {
    const level = ((lights.levels || {})[input.dataset.fixture] || {}).intensity;
    if (level != null && document.activeElement !== input) {
      input.value = Math.round(level * 100); input.nextSibling.textContent = `${input.value}%`;
    }
  }
}

function renderGovernorRun() {
  const l = S.run && S.run.lights;
  if (!l) return;
  $("#governor").className = `verdict ${l.governor_wait_s > 0 ? "held" : ""}`;
  $("#governor-verdict").textContent = `session take ${l.take_id}: ${l.lighting_id}` +
    (l.governor_wait_s > 0 ? `, held back ${l.governor_wait_s.toFixed(2)} s` : ", no wait needed");
}

// ---- calibration page ----------------------------------------------------------------------------------------
async function loadCalibration() {
  await loadSessions();
  const desk = await api("GET", "/api/calibration").catch((e) => { toast(e.message); return null; });
  if (!desk) return;
  const box = $("#calib-kinds");
  box.replaceChildren(...desk.kinds.map((k) => {
    const report = el("div", { class: "calib-report" });
    const current = desk.current[k.kind];
    const card = el("div", { class: "card", "data-kind": k.kind }, el("h3", { text: k.title }),
      el("p", { class: "muted current", text: current ? `rig ${desk.rig} uses ${current}` : `rig ${desk.rig}: none accepted yet (nominal values)` }));
    if (!k.available) { card.append(el("p", { class: "muted", text: "not available in this build" })); return card; }
    const session = () => $("#calib-session").value;
    card.append(
      el("button", { class: "go", text: "Run", onclick: (e) => act(e.target, async () => showReport(report, await api("POST", `/api/calibration/${k.kind}/${encodeURIComponent(session())}`), session())) }),
      " ",
      el("button", { text: "Show last report", onclick: (e) => act(e.target, async () => showReport(report, await api("GET", `/api/calibration/${k.kind}/${encodeURIComponent(session())}`), session())) }),
      " ",
      el("button", { class: "accept", text: "Accept as the rig's calibration",
                     onclick: (e) => act(e.target, async () => { const a = await api("POST", `/api/calibration/${k.kind}/${encodeURIComponent(session())}/accept`); toast(`installed: ${a.installed_at}`, "info"); loadCalibration(); }) }),
      report);
    return card;
  }));
}

function showReport(box, report, session) {
  const plots = report.plots || [];
  const summary = { ...report }; delete summary.plots;
  const verdict = el("p", { class: report.ok ? "result-ok verdict-line" : "result-bad verdict-line",
                            text: report.ok ? "every quality check passed" : "a quality check FAILED: see the report" });
  box.replaceChildren(verdict, el("pre", { class: "report", text: JSON.stringify(summary, null, 2) }),
    ...plots.map((p) => el("img", { src: fileUrl(session, p, false), alt: p })));
}

// ---- packages page ---------------------------------------------------------------------------------------------
async function loadPackages() {
  await loadSessions();
  const rows = await api("GET", "/api/packages").catch((e) => { toast(e.message); return []; });
  const body = $("#packages-list tbody");
  body.replaceChildren(...rows.map((p) => {
    const v = p.verification;
    const verified = v ? (v.ok ? "ok" : `${v.problem_count} problem(s)`) : "not yet";
    return el("tr", { "data-package": p.name }, el("td", { text: p.name }), el("td", { text: String(p.files) }),
      el("td", { text: fmtBytes(p.bytes) }), el("td", { class: v ? (v.ok ? "result-ok" : "result-bad") : "", text: verified }),
      el("td", {}, el("button", { class: "verify", text: "Verify", onclick: (e) => verifyPackage(p.name, e.target) }), " ",
        el("a", { class: "download", href: `/api/packages/${encodeURIComponent(p.name)}/download`, text: "Download" })));
  }));
}

async function verifyPackage(name, button) {
  const report = await act(button, () => api("POST", `/api/packages/${encodeURIComponent(name)}/verify`));
  if (!report) return;
  const box = $("#verify-report");
  box.hidden = false;
  box.textContent = report.ok ? `${name}: every file matches its manifest (${report.seconds} s)`
    : `${name}: ${report.problem_count} problem(s)\n` + report.problems.join("\n");
  loadPackages();
}

// ---- wiring ----------------------------------------------------------------------------------------------------
function renderAll() { renderBoard(); buildSheet(); renderRun(); }

async function init() {
  window.addEventListener("hashchange", showTab);
  S.rigs = await api("GET", "/api/rigs").catch((e) => { toast(e.message); return []; });
  for (const select of $$(".rig-select")) fillSelect(select, S.rigs.map((r) => [r.id, r.name]));
  fillPlans();
  $("#session-rig").addEventListener("change", fillPlans);
  $("#session-plan").addEventListener("change", loadEstimate);
  $("#dash-rig").addEventListener("change", renderBoard);
  $("#lights-rig").addEventListener("change", () => { $("#lights-plan").replaceChildren(); loadLights(); });
  $("#lights-plan").addEventListener("change", loadLights);
  $("#subject").addEventListener("input", showConsent);
  $("#check-cameras").addEventListener("click", (e) => act(e.target, () => api("POST", `/api/devices/check?rig=${encodeURIComponent(rigId("#dash-rig"))}`)));
  $("#run-preflight").addEventListener("click", (e) => act(e.target, () => api("POST", `/api/preflight?rig=${encodeURIComponent(rigId("#dash-rig"))}`)));
  $("#start-form").addEventListener("submit", (e) => {
    e.preventDefault();
    act($("#start"), () => api("POST", "/api/sessions", { subject: $("#subject").value, rig: rigId("#session-rig"),
                                                          plan: $("#session-plan").value, confirm_poses: $("#confirm-poses").checked }));
  });
  $("#pause").addEventListener("click", (e) => act(e.target, () => api("POST", "/api/run/pause")));
  $("#resume").addEventListener("click", (e) => act(e.target, () => api("POST", "/api/run/resume")));
  $("#abort").addEventListener("click", (e) => act(e.target, () => api("POST", "/api/run/abort")));
  $("#pose-yes").addEventListener("click", (e) => act(e.target, () => api("POST", "/api/run/confirm-pose", { confirmed: true })));
  $("#pose-no").addEventListener("click", (e) => act(e.target, () => api("POST", "/api/run/confirm-pose", { confirmed: false })));
  $("#blackout").addEventListener("click", (e) => queueLight(() => act(e.target, () => api("POST", `/api/lights/blackout?rig=${encodeURIComponent(rigId("#lights-rig"))}`))));
  $("#build-package").addEventListener("click", (e) => act(e.target, async () => {
    const built = await api("POST", "/api/packages", { session: $("#package-session").value });
    toast(`package ${built.name}: ${built.images} images in ${built.seconds} s`, "info");
    loadPackages();
  }));
  setInterval(renderHold, 200);
  connect();
  showTab();
}

document.addEventListener("DOMContentLoaded", init);
