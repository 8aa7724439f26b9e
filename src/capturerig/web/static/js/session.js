// The session page: start a session, its state, the hold cue, pose confirmation, controls, the estimate, the time
// left, the timeline, and honest word when the connection is lost or a session was interrupted.
"use strict";

// Between the socket closing and the next snapshot the page knows nothing current: it says so, dims what it last
// knew, stops the cue and refuses the controls (a click would only fail).
let linkLost = false;

// Seconds as a technician reads them: "8.4 s", past a minute and a half "12:05 min".
const fmtSeconds = (s) => s < 90 ? `${s.toFixed(1)} s` : `${fmtSince(s)} min`;

function renderRun() {
  const r = S.run;
  $("#session").classList.toggle("stale", linkLost);
  $("#link-lost").hidden = !linkLost;
  if (!r) { updateControls(); return; }
  $("#run-state").textContent = linkLost ? `unknown (last known: ${r.state})` : r.state;
  $("#run-reason").textContent = r.reason ? `(${r.reason})` : "";
  $("#current-take").textContent = r.current_take || "–";
  $("#progress").textContent = `${takesDone(r)}/${r.takes.length}`;
  const ask = r.awaiting_pose;
  $("#pose-confirm").hidden = !ask || linkLost;
  if (ask) renderPoseAsk(ask);
  renderHold();
  renderRemaining();
  const log = $("#messages");
  log.replaceChildren(...r.messages.slice(-40).map((m) => el("li", { class: m.level, text: `${m.level}: ${m.text}` })));
  updateControls();
  loadTimeline();
}

// The question before an operator-confirmed pose, in the server's words: the subject to hold it, the rig to be
// cleared for the clean plates (kind "plate"), or the subject back in the rig after them ("subject_back").
const POSE_YES = { pose: "Yes, shoot", plate: "The rig is clear, shoot the plates", subject_back: "Subject in pose, shoot" };

function renderPoseAsk(ask) {
  const kind = ask.kind || "pose";
  $("#pose-confirm").dataset.kind = kind;
  $("#pose-title").textContent = ask.title || "";
  $("#pose-question").textContent = ask.question || `Is the subject holding pose ${ask.pose_id}?`;
  $("#pose-name").textContent = ask.pose_id;
  $("#pose-description").textContent = ask.description || "";
  $("#pose-yes").textContent = POSE_YES[kind] || POSE_YES.pose;
}

const takesDone = (r) => Object.values(r.status).filter((s) => s.status === "verified" || s.status === "skipped").length;

function renderHold() {
  const r = S.run;
  if (!r) return;
  const cue = $("#hold-cue");
  if (linkLost) {  // no live HOLD timer for a rig the page cannot see
    cue.className = "cue lost";
    $("#hold-word").textContent = "CONNECTION LOST";
    $("#hold-timer").textContent = "the cue is stopped";
    return;
  }
  const hold = r.hold || { state: "relax" };
  cue.className = `cue ${hold.state}`;
  const plates = hold.state === "hold" && hold.pose_id === "plate";  // nobody holds: the rig must stay clear
  $("#hold-word").textContent = plates ? "CLEAN PLATES — keep the rig clear"
    : hold.state === "hold" ? `HOLD${hold.pose_id ? " — pose " + hold.pose_id : ""}` : "RELAX";
  const seconds = hold.since ? Math.max(0, Date.now() / 1000 - hold.since) : 0;
  $("#hold-timer").textContent = hold.state === "hold"
    ? `${seconds.toFixed(1)} s${hold.expected_s ? " of ~" + hold.expected_s.toFixed(1) + " s" : ""}` : "";
}

// Time left: the estimate of every take not yet verified, less what the take under way has already spent (up to
// its own estimate), plus what the session spends after its last take (and before its first, while preflight
// runs). Recomputed as takes verify; the ETA is that from now.
const progress = { session: null, done: -1, at: 0 };

function renderRemaining() {
  const r = S.run;
  const box = $("#remaining");
  const estimate = r && r.session && r.session.estimate;
  if (!r || !r.running || !estimate || linkLost) { box.textContent = ""; return; }
  const pending = r.takes.filter((t) => !["verified", "skipped"].includes((r.status[t.id] || {}).status));
  const done = r.takes.length - pending.length, now = Date.now() / 1000;
  if (progress.session !== r.session.name || progress.done !== done || r.state !== "running") {
    Object.assign(progress, { session: r.session.name, done, at: now });  // the clock of the take under way
  }
  const spent = pending.length ? Math.min(now - progress.at, pending[0].estimate_s || 0) : 0;
  let left = pending.reduce((sum, t) => sum + (t.estimate_s || 0), 0) - spent + estimate.tail_s;
  if (r.state === "idle" || r.state === "preflight") left += estimate.head_s;
  const basis = estimate.source === "modelled" ? "modelled" : `measured, ${estimate.sessions} earlier`;
  box.textContent = r.state === "paused"
    ? `Paused: ~${fmtSeconds(left)} left once resumed`
    : `Remaining ~${fmtSeconds(left)}, ETA ${clockTime(Date.now() / 1000 + left)} (${basis})`;
}

function updateControls() {
  const r = S.run;
  const running = Boolean(r && r.running);
  $("#start").disabled = running || linkLost;
  $("#pause").disabled = !running || r.state === "paused" || linkLost;
  $("#resume").disabled = !running || r.state !== "paused" || linkLost;
  $("#abort").disabled = !running || linkLost;
  for (const button of $$("#interrupted button.resume")) button.disabled = running || linkLost;
}

async function reshoot(name, button) {
  await act(button, () => api("POST", `/api/sessions/${encodeURIComponent(name)}/reshoot`, { confirm_poses: $("#confirm-poses").checked }));
  loadInterrupted();  // a session resuming now is not interrupted any more
}

// ---- interrupted sessions: asked on every (re)connection, since that is when the server may have restarted ----
const dismissed = new Set();

async function loadInterrupted() {
  const rows = await api("GET", "/api/sessions/interrupted").catch((error) => { report(error); return null; });
  if (!rows) return;
  const shown = rows.filter((row) => !dismissed.has(row.name));
  const box = $("#interrupted");
  box.replaceChildren(...shown.map((row) => el("div", { class: "interrupted", "data-session": row.name },
    el("span", { class: "what", text: `${row.text.charAt(0).toUpperCase()}${row.text.slice(1)}.` }),
    el("button", { class: "resume go", text: "Resume", title: "shoot the takes its journal cannot prove done, to the end",
                   onclick: (e) => reshoot(row.name, e.target) }),
    el("button", { class: "dismiss", text: "Not now", onclick: () => { dismissed.add(row.name); loadInterrupted(); } }))));
  box.hidden = shown.length === 0;
  updateControls();
}

// ---- the current session's timeline, fetched at most once a second while it changes ------------------------
let timelineDue = null, timelineAsked = 0;

function loadTimeline() {
  const name = S.run && S.run.session && S.run.session.name;
  if (!name) {  // a fresh server that has run nothing yet: no timeline to show
    $("#timeline-name").textContent = "no session yet";
    $("#timeline").replaceChildren();
    return;
  }
  if ($("#timeline-name").textContent !== name) {  // a new session: not a word of the last one's timeline
    $("#timeline-name").textContent = name;
    $("#timeline").replaceChildren();
  }
  if (timelineDue || linkLost) return;
  timelineDue = setTimeout(async () => {
    timelineDue = null;  // a change while this one is asked for asks again: the last word is never missed
    const asked = ++timelineAsked;
    const data = await api("GET", `/api/sessions/${encodeURIComponent(name)}/timeline`).catch((error) => { report(error); return null; });
    if (!data || asked !== timelineAsked || !S.run || !S.run.session || S.run.session.name !== data.session) return;
    const box = $("#timeline");
    const following = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;  // at the newest: stay there
    renderTimeline(box, data.entries);
    if (following) box.scrollTop = box.scrollHeight;
  }, 1000);
}

// ---- starting ---------------------------------------------------------------------------------------------------
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
  const e = await api("GET", `/api/estimate?rig=${encodeURIComponent(rig)}&plan=${encodeURIComponent(plan)}`).catch((x) => { report(x); return null; });
  if (!e) return;
  // The plates are no hold (nobody is in the rig): their time is the empty rig's, said so.
  const holds = Object.entries(e.hold_s_by_pose).map(([p, s]) => p === "plate" ? `clean plates ~${fmtSeconds(s)}`
                                                                                : `pose ${p} hold ~${fmtSeconds(s)}`).join(", ");
  $("#estimate").textContent = `Estimate: ${e.takes} takes, ${e.images} images, ${holds}; session ~${fmtSeconds(e.session_s)} `
    + `(${e.basis}); disk ${fmtBytes(e.disk_bytes)}`;
  $("#estimate").dataset.source = e.source;
}

on("snapshot", () => {
  linkLost = false;  // a fresh snapshot: everything below is current again
  renderRun();
  loadInterrupted();
});
on("run", renderRun);
on("controls", updateControls);
on("link", (state) => {
  if (state !== "offline") return;  // "live" is not yet current: the snapshot that follows is
  linkLost = true;
  renderRun();
});
on("finished", (result) => {
  if (result.error) toast(`session ${result.state}: ${result.error}`, result.state === "done" ? "info" : "error");
  loadEstimate();  // one more session on this rig: the estimate learns from it
  loadInterrupted();
});
on("tab", (tab) => { if (tab === "session") loadSubjects(); });
on("ready", () => {
  fillPlans();
  $("#session-rig").addEventListener("change", fillPlans);
  $("#session-plan").addEventListener("change", loadEstimate);
  $("#subject").addEventListener("input", showConsent);
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
  setInterval(() => { renderHold(); renderRemaining(); }, 200);
});
