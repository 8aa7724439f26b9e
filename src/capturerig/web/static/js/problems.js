// Standing problems: what keeps part of the panel from working until a file is fixed (a rig file with an error, a
// missing or unreadable subject registry). Unlike a refused request's panel (showProblem) they stay while their
// cause does, inline at the top of the page they concern, and the rest of the panel works around them.
"use strict";

const standingByTab = { dashboard: [], session: [] };

function standingProblemBox(key, problem) {
  return el("div", { class: "problem standing", role: "status", "data-key": key },
    el("b", { class: "what", text: problem.what }),
    ...(problem.where ? [el("div", { class: "where", text: problem.where })] : []),
    ...(problem.todo ? [el("div", { class: "todo", text: problem.todo })] : []));
}

function renderStanding(tab) {
  const box = $("#standing-problems");
  const problems = standingByTab[tab] || [];
  box.replaceChildren(...problems.map(({ key, problem }) => standingProblemBox(key, problem)));
  box.hidden = problems.length === 0;
}

const shownTabName = () => (location.hash || "#dashboard").slice(1);

on("ready", () => {
  // /api/rigs lists a rig file that did not load with its problem; the rig selects skip it (panel.js init)
  standingByTab.dashboard = (S.rigProblems || []).map((r) => ({ key: `rig:${r.id}`, problem: r.problem }));
});
on("tab", async (tab) => {
  renderStanding(tab);
  if (tab !== "session") return;
  const data = await api("GET", "/api/subjects").catch((e) => { report(e); return null; });
  standingByTab.session = data && data.problem ? [{ key: "registry", problem: data.problem }] : [];
  if (shownTabName() === "session") renderStanding("session");
});
