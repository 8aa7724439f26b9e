// The session page: start a session, its state, the hold cue, pose confirmation, controls and the estimate.
"use strict";

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
  const e = await api("GET", `/api/estimate?rig=${encodeURIComponent(rig)}&plan=${encodeURIComponent(plan)}`).catch((x) => { toast(x.message); return null; });
  if (!e) return;
  const holds = Object.entries(e.hold_s_by_pose).map(([p, s]) => `pose ${p} hold ${s.toFixed(1)} s`).join(", ");
  $("#estimate").textContent = `Estimate: ${e.takes} takes, ${e.images} images, ${holds}; session ${e.session_s.toFixed(1)} s; disk ${fmtBytes(e.disk_bytes)}`;
}

on("snapshot", renderRun);
on("run", renderRun);
on("controls", updateControls);
on("finished", (result) => {
  if (result.error) toast(`session ${result.state}: ${result.error}`, result.state === "done" ? "info" : "error");
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
  setInterval(renderHold, 200);
});
