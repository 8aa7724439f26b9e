// The calibration page: run, show and accept the rig's colour and geometry calibration from a session's frames.
"use strict";

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

on("tab", (tab) => { if (tab === "calibration") loadCalibration(); });
