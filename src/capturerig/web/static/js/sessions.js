// The sessions list, newest start first, with re-shoot of what is missing. A row opens that session read-only, as
// its journal keeps it: its contact sheet (click a cell for the image), its timeline and its files with sizes and
// hashes.
"use strict";

const pad2 = (n) => String(n).padStart(2, "0");
function fmtWhen(seconds) {
  if (typeof seconds !== "number") return "–";  // unreadable, or not a time in a hand-edited session.json
  const d = new Date(seconds * 1000);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}
const fmtSize = (n) => n < 1e3 ? `${n} B` : n < 1e6 ? `${(n / 1e3).toFixed(1)} kB` : fmtBytes(n);

async function loadSessions() {
  const rows = await api("GET", "/api/sessions").catch((e) => { report(e); return []; });
  const body = $("#sessions-list tbody");
  body.replaceChildren();
  const stop = (fn) => (e) => { e.stopPropagation(); fn(e); };
  for (const s of rows) {
    const actions = el("td", {}, el("button", { class: "open", text: "Open", title: "its contact sheet, timeline and files (read-only)",
                                                onclick: stop(() => openPastSession(s.name)) }));
    if (s.state !== "unreadable" && s.takes_verified < s.takes_planned && !(S.run && S.run.running))
      actions.append(" ", el("button", { class: "reshoot", text: "Re-shoot missing", onclick: stop((e) => reshoot(s.name, e.target)) }));
    const state = el("td", { text: s.state, title: s.error || "" });
    if (s.state === "unreadable") { state.className = "unreadable"; state.textContent = `unreadable: ${s.error}`; }
    const row = el("tr", { "data-session": s.name, title: "open this session read-only" },
      el("td", { text: s.name }), el("td", { text: s.subject }), el("td", { text: fmtWhen(s.created_at) }), state,
      el("td", { text: `${s.takes_verified}/${s.takes_planned}` }), actions);
    row.addEventListener("click", () => openPastSession(s.name));
    body.append(row);
  }
  const names = rows.map((s) => s.name);
  for (const select of ["#package-session", "#calib-session"]) fillSelect($(select), names.map((n) => [n, n]));
}

// ---- a past session, read-only ----------------------------------------------------------------------------------
async function openPastSession(name) {
  let view;
  try { view = await api("GET", `/api/sessions/${encodeURIComponent(name)}/view`); } catch (error) { report(error); return; }
  const s = view.session;
  const model = modelOfView(view);
  S.past = { name, model };
  $("#past-title").textContent = s.name;
  $("#past-facts").textContent = `subject ${s.subject} · ${s.rig} / ${s.plan} · started ${fmtWhen(s.created_at)} · ` +
    `${s.state} · ${s.takes_verified}/${s.takes_planned} takes verified · read-only`;
  $("#past-session").hidden = false;
  layoutPastSheet();
  renderPastFiles(name, view.files);
  loadPastTimeline(name);
}

function closePastSession() {
  $("#past-session").hidden = true;
  S.past = null;
}

// The whole sheet at the top of the view: as wide as the view, and no taller than the window leaves it.
function layoutPastSheet() {
  if (!S.past) return;
  const body = $("#past-session .past-body"), head = $("#past-session .past-head");
  const title = $("h3", body).offsetHeight + 24;
  const box = { width: body.clientWidth - 4, height: innerHeight - head.offsetHeight - title - 24 };
  drawSheet($("#past-sheet"), S.past.model, planSheet(S.past.model, box));
}

function renderPastFiles(name, files) {
  const total = files.reduce((sum, f) => sum + f.size, 0);
  $("#past-files-sum").textContent = `${files.length} files, ${fmtSize(total)}`;
  $("#past-files tbody").replaceChildren(...files.map((f) => el("tr", { "data-path": f.path },
    el("td", {}, el("a", { href: fileUrl(name, f.path, false), target: "_blank", rel: "noopener", text: f.path })),
    el("td", { text: f.camera_id || "–" }), el("td", { text: f.take_id || "–" }),
    el("td", { text: f.origin === "recovered" ? "recovered" : String(f.attempt ?? "–"),
               title: f.origin === "recovered" ? "found on disk after a crash, recorded by recovery" : "" }),
    el("td", { text: fmtSize(f.size), title: `${f.size} bytes` }), el("td", { class: "hash", text: f.sha256 }))));
}

async function loadPastTimeline(name) {
  const box = $("#past-timeline");
  if (typeof renderTimeline !== "function") {  // static/js/timeline.js draws it; a panel without it says so
    box.replaceChildren(el("p", { class: "muted", text: "this panel has no timeline view" }));
    return;
  }
  box.replaceChildren(el("p", { class: "muted", text: "reading the timeline…" }));
  try {
    const data = await api("GET", `/api/sessions/${encodeURIComponent(name)}/timeline`);
    if (S.past && S.past.name === name) renderTimeline(box, data.entries);
  } catch (error) {
    if (S.past && S.past.name === name) box.replaceChildren(el("p", { class: "muted", text: `no timeline: ${error.message}` }));
    report(error);
  }
}

on("ready", () => {
  $("#past-close").addEventListener("click", closePastSession);
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && S.past) closePastSession(); });
  window.addEventListener("resize", () => { if (S.past) layoutPastSheet(); });
  on("sheet-aspect", layoutPastSheet);
});
on("tab", (tab) => { if (tab === "session") loadSessions(); else if (S.past) closePastSession(); });
on("finished", loadSessions);
