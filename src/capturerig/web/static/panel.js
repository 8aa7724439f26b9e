// capturerig panel, the core: helpers, the live connection and the hooks the pages hang on. Vanilla JS, no build
// step, no CDN; classic scripts sharing one global scope, loaded in order (index.html): this file, then one file
// per page in js/. Every value from the server goes in as textContent.
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

// A problem the technician must act on: what went wrong, where (device, camera, file), what to do. It stays on the
// page until dismissed; the same problem shown twice is one panel. The server sends one as {detail, problem}.
function showProblem(problem) {
  const key = `${problem.what}|${problem.where || ""}`;
  const box = $("#problems");
  for (const old of $$(".problem", box)) if (old.dataset.key === key) old.remove();
  const panel = el("div", { class: "problem", role: "alert", "data-key": key },
    el("b", { class: "what", text: problem.what }),
    ...(problem.where ? [el("div", { class: "where", text: problem.where })] : []),
    ...(problem.todo ? [el("div", { class: "todo", text: problem.todo })] : []),
    el("button", { class: "dismiss", text: "Dismiss", onclick: () => panel.remove() }));
  box.prepend(panel);
  return panel;
}

// An error from api(): a structured problem panel when the server sent one, else the short toast.
function report(error) {
  if (error.problem) showProblem(error.problem); else toast(error.message);
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
    const error = new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
    error.status = response.status;
    error.problem = data && data.problem ? data.problem : null;
    throw error;
  }
  return data;
}

async function act(button, work) {
  if (button) button.disabled = true;
  try { return await work(); } catch (error) { report(error); return null; }
  finally { if (button) button.disabled = false; emit("controls"); }
}

const fmtBytes = (n) => n == null ? "–" : n >= 1e9 ? (n / 1e9).toFixed(1) + " GB" : (n / 1e6).toFixed(1) + " MB";
const fileUrl = (session, path, thumb) =>
  `/api/sessions/${encodeURIComponent(session)}/files/${path.split("/").map(encodeURIComponent).join("/")}` +
  (thumb ? "?thumb=true" : "");
const rigId = (select) => $(select).value || (S.rigs[0] && S.rigs[0].id);
const currentRig = (select) => S.rigs.find((r) => r.id === rigId(select)) || S.rigs[0];


// ---- hooks ------------------------------------------------------------------------------------------------------
// A page file says what it draws with on(topic, fn); the core emits the topic when that part of the views changes.
//   "ready"      once, the rigs loaded: wire the page's controls       "tab" (name)   a tab was shown
//   "snapshot"   a fresh snapshot: draw everything                      "board"        the device board changed
//   "lights" (board.lights)  a light change by hand                    "run"          the run changed
//   "run-lights" the session's light change                            "sheet"        the run's takes or session changed
//   "cell" (take, camera)  one file landed                             "arrivals"     the current take's arrivals
//   "finished" (result)  the session ended                             "controls"     after any action: enable buttons
//   "link" (state)  the live connection: "live" or "offline"
//   "viewer-image" (args)  the image viewer shows an image; args.checks is the box for its check results
//   "sheet-marked" (table)  a contact sheet's takes were marked (drawn, or a status changed): badge its cells
const hooks = {};
function on(topic, fn) { (hooks[topic] ||= []).push(fn); }
function emit(topic, ...args) { for (const fn of hooks[topic] || []) fn(...args); }

function fillSelect(select, pairs) {
  const previous = select.value;
  select.replaceChildren(...pairs.map(([value, text]) => el("option", { value, text })));
  if (pairs.some(([value]) => value === previous)) select.value = previous;
}

function dl(pairs) {
  const list = el("dl");
  for (const [key, value] of pairs) list.append(el("dt", { text: key }), el("dd", { text: value == null ? "–" : String(value) }));
  return list;
}

const fmtMs = (n) => n == null ? null : `${n >= 0 ? "+" : ""}${n.toFixed(1)} ms`;

// ---- tabs --------------------------------------------------------------------------------------------------
function showTab() {
  const tab = (location.hash || "#dashboard").slice(1);
  for (const page of $$(".page")) page.hidden = page.id !== tab;
  for (const link of $$("#tabs a[data-tab]")) link.classList.toggle("active", link.dataset.tab === tab);
  emit("tab", tab);
}

// ---- live connection: the server's views, a snapshot and then patches (web/_messages.py) ---------------------
function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws?events=false`);  // the views, not the events
  S.socket = socket;
  S.seq = null;  // nothing applies until this connection's snapshot
  socket.onopen = () => { $("#link").textContent = "live"; $("#link").className = "badge on"; emit("link", "live"); };
  socket.onclose = () => {
    if (S.socket !== socket) return;
    $("#link").textContent = "offline"; $("#link").className = "badge off";
    setBusy(undefined);  // who holds the rig is not known until the next snapshot says
    emit("link", "offline");
    setTimeout(connect, 1000);
  };
  socket.onmessage = (message) => { if (S.socket === socket) onMessage(JSON.parse(message.data)); };
}

function onMessage(m) {
  if (m.kind === "Snapshot") { S.views = m; S.seq = m.seq; setBusy(m.busy); emit("snapshot"); return; }
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

// Say what a patch changed. Files landing (a cell and the arrival chips) redraw only themselves.
function renderChanges(changes) {
  let run = false, sheet = false, board = false, finished = false, runLights = false;
  const cells = [];
  for (const [path, value] of changes) {
    const [root, key, take, field, camera] = path;
    if (root === "busy") setBusy(value);
    else if (root === "board") {
      board = true;
      if (key === "lights") emit("lights", value);
    } else if (root === "run") {
      if (key === undefined || key === "session" || key === "takes") { sheet = true; run = true; }
      else if (key === "status" && take === undefined) { sheet = true; run = true; }  // every take's status anew
      else if (key === "status" && field === "files" && camera !== undefined) cells.push([take, camera]);
      else if (key === "status") { run = true; cells.push(...Object.keys((value || {}).files || {}).map((c) => [take, c])); }
      else if (key === "arrivals" || key === "arrivals_take") emit("arrivals");
      else {
        run = true;
        if (key === "lights") runLights = true;
        if (key === "result" && value) finished = true;
      }
    }
  }
  if (runLights) emit("run-lights");
  if (board) emit("board");
  if (sheet) emit("sheet"); else for (const [take, camera] of cells) emit("cell", take, camera);
  if (run) emit("run");
  if (finished) emit("finished", S.run.result);
}

function setBusy(owner) {  // undefined: not known (offline)
  $("#busy").textContent = owner === undefined ? "rig: unknown" : owner ? `busy: ${owner}` : "rig free";
  $("#busy").className = owner === undefined ? "badge" : owner ? "badge off" : "badge on";
}

// ---- start ----------------------------------------------------------------------------------------------------
async function init() {
  window.addEventListener("hashchange", showTab);
  const rigs = await api("GET", "/api/rigs").catch((e) => { report(e); return []; });
  S.rigs = rigs.filter((r) => !r.problem);  // a rig file with an error comes with its problem: not offered
  S.rigProblems = rigs.filter((r) => r.problem);  // shown by js/problems.js
  for (const select of $$(".rig-select")) fillSelect(select, S.rigs.map((r) => [r.id, r.name]));
  emit("ready");
  connect();
  showTab();
}

document.addEventListener("DOMContentLoaded", init);
