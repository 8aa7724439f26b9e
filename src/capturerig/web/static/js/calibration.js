// The calibration page: shoot a calibration plan (board or chart) with live coverage coaching, solve a session with
// progress, read its report (verdict table first, then the plots, the whole report behind "details") and accept it
// as the rig's calibration. Shoots and solves are server jobs (web/_calibration_jobs.py) this page polls.
"use strict";

const calib = { desk: null, shoot: null, solve: null, shown: null, timers: {} };
const CALIB_POLL_MS = 500;
const CALIB_REGIONS = [["top-left", "top", "top-right"], ["left", "centre", "right"], ["bottom-left", "bottom", "bottom-right"]];
const CALIB_STATUS_WORDS = { none: "needs the board", more: "needs more", good: "enough" };

const calibSeconds = (s) => s == null ? null : s >= 60 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${Math.round(s)} s`;
const calibDate = (t) => t == null ? "an unknown time" : new Date(t * 1000).toLocaleString();

async function loadCalibration() {
  const rig = rigId("#calib-rig");
  if (!rig) return;
  let desk;
  try { desk = await api("GET", `/api/calibration?rig=${encodeURIComponent(rig)}`); } catch (error) { report(error); return; }
  if (!calib.desk || calib.desk.rig_id !== desk.rig_id) $("#calib-confirm").checked = !desk.simulated;  // a real studio waits for you
  calib.desk = desk;
  renderCalibCurrent(desk);
  fillSelect($("#calib-kind"), desk.kinds.filter((k) => k.available).map((k) => [k.kind, k.title]));
  fillCalibPlans();
  await loadCalibSessions();
  for (const job of desk.jobs) calibFollow(job);  // a page opened (or reloaded) while a shoot or solve runs
}

function renderCalibCurrent(desk) {
  const parts = desk.kinds.map((k) => {
    const current = desk.current[k.kind];
    if (!current) return `${k.kind}: none accepted yet (nominal values)`;
    return current.session ? `${k.kind} from session ${current.session}, accepted ${calibDate(current.accepted_at)}`
                           : `${k.kind}: installed by hand`;
  });
  $("#calib-current").textContent = `Rig ${desk.rig} uses — ${parts.join(" · ")}`;
}

function fillCalibPlans() {
  if (!calib.desk) return;
  const target = $("#calib-target").value;
  const plans = calib.desk.plans[target] || [];
  fillSelect($("#calib-plan"), plans.map((p) => [p.id, target === "board"
    ? `${p.name} (${p.frames} board positions)` : `${p.name} (${p.takes} take${p.takes === 1 ? "" : "s"})`]));
  const plan = plans.find((p) => p.id === $("#calib-plan").value);
  updateCalibButtons();
  $("#calib-plan-note").textContent = !plan ? `this rig has no ${target} plan beside its rig file`
    : target === "board" ? `board ${plan.board}: ${plan.frames} positions, at least ${plan.min_views} good views per camera; ` +
                           "sweep the capture volume, then bring the board close to every camera, tilted"
    : "a ColorChecker on a stand in front of every camera, house lights on, fixtures dark";
}

// One shoot and one solve at a time: their buttons wait for the job (act() re-enables a button when its request ends).
function updateCalibButtons() {
  const plans = calib.desk ? calib.desk.plans[$("#calib-target").value] || [] : [];
  $("#calib-shoot").disabled = !plans.length || Boolean(calib.shoot && calib.shoot.state === "running");
  $("#calib-solve").disabled = Boolean(calib.solve && calib.solve.state === "running");
}

async function loadCalibSessions() {
  const rows = await api("GET", "/api/sessions").catch((error) => { report(error); return []; });
  const select = $("#calib-session");
  fillSelect(select, rows.filter((s) => s.state !== "unreadable").map((s) =>
    [s.name, `${s.name} · ${s.plan} · ${s.state} ${s.takes_verified}/${s.takes_planned}`]));
  return rows;
}

// ---- jobs: poll one until it ends ----------------------------------------------------------------------------------
function calibFollow(job) {
  calib[job.what] = job;
  renderCalibJob(job);
  clearTimeout(calib.timers[job.what]);
  if (job.state === "running") calib.timers[job.what] = setTimeout(() => calibPoll(job.id, job.what), CALIB_POLL_MS);
  else calibJobEnded(job);
}

async function calibPoll(id, what) {
  let job;
  try { job = await api("GET", `/api/calibration/jobs/${encodeURIComponent(id)}`); } catch (error) {
    if (error.status === 404) { report(error); return; }  // the server restarted: the job is gone
    calib.timers[what] = setTimeout(() => calibPoll(id, what), 4 * CALIB_POLL_MS);  // the connection is down: try again
    return;
  }
  if (calib[what] && calib[what].id !== id) return;  // a newer job took over
  calibFollow(job);
}

function renderCalibJob(job) {
  renderCalibProgress($(job.what === "shoot" ? "#calib-shoot-progress" : "#calib-solve-progress"), job);
  if (job.what === "shoot") { renderCalibCoaching(job); renderCalibAwaiting(); $("#calib-abort").hidden = job.state !== "running"; }
  updateCalibButtons();
}

function renderCalibProgress(box, job) {
  box.hidden = false;
  box.className = `calib-progress ${job.state}${job.fraction == null && job.state === "running" ? " unknown" : ""}`;
  box.setAttribute("role", "progressbar");
  const percent = Math.round(100 * (job.fraction || 0));
  box.setAttribute("aria-valuenow", String(percent));
  const what = job.what === "shoot" ? `shooting the ${job.kind}` : `solving ${job.kind}`;
  const timing = job.state === "running"
    ? [job.fraction == null ? null : `${percent} %`, `${calibSeconds(job.elapsed_s)} so far`,
       job.eta_s == null ? null : `about ${calibSeconds(job.eta_s)} left`].filter(Boolean).join(" · ")
    : `${job.state === "done" ? "finished" : "stopped"} after ${calibSeconds(job.elapsed_s)}`;
  const fill = el("div", { class: "fill" });
  fill.style.width = `${job.state === "done" ? 100 : percent}%`;
  const stage = job.state === "failed" ? `${job.stage}: the problem panel says why and what to do` : job.stage;
  const steps = job.state !== "running" && (job.stages || []).length
    ? [el("ol", { class: "stages muted" }, ...job.stages.map((s) => el("li", { text: `${s.stage} (at ${calibSeconds(s.at_s)})` })))]
    : [];
  box.replaceChildren(el("div", { class: "track" }, fill),
    el("div", { class: "line" }, el("span", { class: "stage", text: `${what}: ${stage}` }),
      el("span", { class: "timing muted", text: timing })), ...steps);
}

function calibJobEnded(job) {
  if (job.state === "failed") { if (job.problem) showProblem(job.problem); return; }
  if (job.what === "shoot") {
    loadCalibSessions().then(() => {
      $("#calib-session").value = job.session;
      $("#calib-kind").value = job.kind === "board" ? "geometry" : "colour";
    });
    toast(`session ${job.session} shot: solve it below`, "info");
  } else if (job.report) {
    showCalibReport(job.report, job.session, job.kind);
  }
}

// ---- coaching ------------------------------------------------------------------------------------------------------
function renderCalibCoaching(job) {
  const coach = job.coaching;
  $("#calib-coaching-block").hidden = !coach;
  if (!coach) return;
  $("#calib-coaching-session").textContent = `session ${job.session}`;
  const good = coach.cameras.filter((c) => c.status === "good").length;
  $("#calib-coaching-summary").textContent = `${coach.takes_done} of ${coach.takes_total} board positions shot · ` +
    `${good} of ${coach.cameras.length} cameras have what the solver needs` +
    (coach.ready ? " · every camera is covered" : job.state === "running" ? " · follow each camera's advice below" : "");
  $("#calib-coaching").replaceChildren(...coach.cameras.map((c) => calibCoachTile(c, coach.min_coverage)));
}

function calibCoachTile(c, minCoverage) {
  const regions = el("div", { class: "regions", title: "where in its image the board's corners have been seen" });
  c.regions.forEach((row, i) => row.forEach((share, j) => {
    const cell = el("span", { title: `${CALIB_REGIONS[i][j]}: ${Math.round(100 * share)} %` });
    cell.style.opacity = String(0.08 + 0.92 * share);
    regions.append(cell);
  }));
  const meter = (share) => { const bar = el("i"); bar.style.width = `${Math.min(100, Math.round(100 * share))}%`; return el("div", { class: "meter" }, bar); };
  return el("div", { class: `coach-cam ${c.status}`, "data-camera": c.camera },
    el("h4", {}, el("span", { text: c.camera }), el("span", { class: "status", text: CALIB_STATUS_WORDS[c.status] || c.status })),
    regions,
    el("div", { class: "meters" },
      el("span", { class: "views", text: `good views ${c.views} / ${c.min_views}` }), meter(c.views / Math.max(1, c.min_views)),
      el("span", { class: "covered", text: `image covered ${Math.round(100 * c.covered)} % (needs ${Math.round(100 * minCoverage)} %)` }),
      meter(c.covered / Math.max(0.01, minCoverage))),
    el("div", { class: "todo", text: c.todo }));
}

// The run waits for the technician at a board position (plan poses are operator-confirmed).
function renderCalibAwaiting() {
  const ask = S.run && S.run.awaiting_pose;
  const ours = calib.shoot && calib.shoot.state === "running" && S.run && S.run.session && S.run.session.name === calib.shoot.session;
  $("#calib-awaiting").hidden = !(ask && ours);
  if (ask && ours) { $("#calib-awaiting-pose").textContent = ask.pose_id; $("#calib-awaiting-text").textContent = ask.description || ""; }
}

// ---- the report ----------------------------------------------------------------------------------------------------
function showCalibReport(rep, session, kind) {
  calib.shown = { session, kind, ok: Boolean(rep.ok) };
  $("#calib-report").hidden = false;
  $("#calib-report-title").textContent = `${kind === "geometry" ? "Geometry" : "Colour"} of session ${session}`;
  const verdict = $("#calib-report-verdict");
  verdict.textContent = rep.ok ? "every quality check passed" : "a quality check failed: see the red rows";
  verdict.className = rep.ok ? "result-ok" : "result-bad";
  $("#calib-verdicts thead th:nth-child(2)").textContent = kind === "colour" ? "ΔE00 (leave-one-out)" : "RMS px";
  const rows = rep.table || Object.entries(rep.cameras || {}).map(([camera, c]) => ({ camera, rms_px: c.rms_px, views: c.views }));
  $("#calib-verdicts tbody").replaceChildren(...rows.map((r) => {
    const figure = kind === "colour" ? r.de00 : r.rms_px;
    return el("tr", { class: `${r.verdict || ""}${r.camera === "whole rig" ? " rig" : ""}`, "data-camera": r.camera },
      el("td", { text: r.camera }), el("td", { class: "num", text: figure == null ? "–" : figure.toFixed(3) }),
      el("td", { class: "num", text: r.views == null ? "–" : String(r.views) }),
      el("td", { class: "num", text: r.gates == null ? "–" : `${r.gates_passed} of ${r.gates}` }),
      el("td", { class: "verdict-word", text: r.verdict || "–" }), el("td", { class: "reason", text: r.reason || "" }));
  }));
  $("#calib-accept").disabled = !rep.ok;
  $("#calib-accept-note").textContent = rep.ok ? `installs it as rig ${calib.desk ? calib.desk.rig : ""}'s ${kind} calibration; packages use it from then on`
                                                : "a calibration that failed a check cannot be accepted: shoot again where the table says";
  $("#calib-plots").replaceChildren(...(rep.plots || []).map((path) => {
    const name = path.split("/").pop();
    const img = el("img", { src: fileUrl(session, path, false), alt: name, onclick: () => zoomCalibPlot(img.src, name) });
    return el("figure", {}, img, el("figcaption", { text: name }));
  }));
  $("#calib-details pre").textContent = JSON.stringify(rep, null, 2);
  $("#calib-details").open = false;
  $("#calib-report").scrollIntoView({ block: "start" });
}

function zoomCalibPlot(src, name) {
  const dialog = $("#calib-zoom");
  const img = $("img", dialog);
  img.src = src;
  img.alt = name;
  dialog.showModal();
}

async function acceptCalibReport(button) {
  const shown = calib.shown;
  if (!shown) return;
  await act(button, async () => {
    await api("POST", `/api/calibration/${shown.kind}/${encodeURIComponent(shown.session)}/accept?rig=${encodeURIComponent(rigId("#calib-rig"))}`);
    toast(`${shown.kind} of session ${shown.session} is now the rig's calibration`, "info");
    $("#calib-accept-note").textContent = `accepted: rig ${calib.desk ? calib.desk.rig : ""} uses this ${shown.kind} calibration`;
    await loadCalibration();
  });
}

// ---- wiring --------------------------------------------------------------------------------------------------------
on("ready", () => {
  $("#calib-target").addEventListener("change", fillCalibPlans);
  $("#calib-plan").addEventListener("change", fillCalibPlans);
  $("#calib-rig").addEventListener("change", loadCalibration);
  $("#calib-shoot-form").addEventListener("submit", (e) => {
    e.preventDefault();
    act($("#calib-shoot"), async () => calibFollow(await api("POST", "/api/calibration/shoot", {
      target: $("#calib-target").value, plan: $("#calib-plan").value, rig: rigId("#calib-rig"),
      confirm_positions: $("#calib-confirm").checked })));
  });
  $("#calib-solve").addEventListener("click", (e) => act(e.target, async () => {
    const session = $("#calib-session").value;
    if (!session) { toast("shoot a calibration first: there is no session to solve"); return; }
    calibFollow(await api("POST", `/api/calibration/${$("#calib-kind").value}/${encodeURIComponent(session)}/solve?rig=${encodeURIComponent(rigId("#calib-rig"))}`));
  }));
  $("#calib-last").addEventListener("click", (e) => act(e.target, async () => {
    const session = $("#calib-session").value, kind = $("#calib-kind").value;
    showCalibReport(await api("GET", `/api/calibration/${kind}/${encodeURIComponent(session)}`), session, kind);
  }));
  $("#calib-accept").addEventListener("click", (e) => acceptCalibReport(e.target));
  $("#calib-awaiting-yes").addEventListener("click", (e) => act(e.target, () => api("POST", "/api/run/confirm-pose", { confirmed: true })));
  $("#calib-abort").addEventListener("click", (e) => act(e.target, () => api("POST", "/api/run/abort")));
  $("#calib-awaiting-no").addEventListener("click", (e) => act(e.target, () => api("POST", "/api/run/confirm-pose", { confirmed: false })));
  const dialog = $("#calib-zoom");
  dialog.addEventListener("click", () => dialog.close());
});
on("tab", (tab) => { if (tab === "calibration") loadCalibration(); });
on("run", renderCalibAwaiting);
on("snapshot", renderCalibAwaiting);
on("controls", updateCalibButtons);
