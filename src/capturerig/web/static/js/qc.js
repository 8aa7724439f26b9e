// The per-image checks on the page (issue 22): a warn / fail badge on each checked thumbnail of a contact sheet
// (the reason in words on hover), the checks of the image in the viewer, and on the session page the takes whose
// checks failed, with "Re-shoot take <id>" where the plan leaves that to the operator (qc.on_fail: ask, or its
// re-shoots spent). The verdicts are the server's: a take's status entry carries ``qc`` (web/_qc_view.py), live
// from the run view and read back from the journal for a past session alike.
"use strict";

const QC_ASKS = new Set(["awaiting_operator", "retries_spent"]);  // TakeChecked actions the operator answers
const QC_BADGE = { warn: "!", fail: "✕" };

// What the checks said of ``camera`` in take ``takeId`` of a sheet's model, or null (not checked, or shot again).
function cameraQc(model, takeId, camera) {
  const entry = model && model.status[takeId];
  const qc = entry && entry.qc;
  if (!qc || (entry.attempt != null && qc.attempt !== entry.attempt)) return null;
  return (qc.cameras || {})[camera] || null;
}

// Badge every checked cell of ``table`` (a contact sheet js/sheet.js drew); an ok image gets a quiet mark only.
function markChecks(table) {
  const model = table.sheet;
  if (!model) return;
  for (const cell of $$("td[data-take]", table)) {
    const take = cell.dataset.take, camera = cell.dataset.camera;
    const check = cameraQc(model, take, camera);
    const verdict = check ? check.verdict : null;
    for (const v of ["ok", "warn", "fail"]) cell.classList.toggle(`qc-${v}`, verdict === v);
    let badge = $(".qc-badge", cell);
    if (!check || verdict === "ok") {
      if (badge) badge.remove();
      cell.title = `${camera} · ${take}${check ? ": every check passed" : ""}`;
      continue;
    }
    const words = check.reasons.length ? check.reasons.join("; ") : `${camera}: ${verdict}`;
    if (!badge) { badge = el("span", { class: "qc-badge" }); cell.append(badge); }
    badge.className = `qc-badge ${verdict}`;
    badge.textContent = QC_BADGE[verdict] || "?";
    badge.title = words;
    badge.dataset.verdict = verdict;
    cell.title = `${camera} · ${take}: ${words}`;
  }
  for (const head of $$("th[data-take]", table)) {
    const qc = (model.status[head.dataset.take] || {}).qc;
    head.classList.toggle("qc-fail", Boolean(qc && qc.verdict === "fail"));
    head.classList.toggle("qc-warn", Boolean(qc && qc.verdict === "warn"));
  }
}

// ---- the session page: takes whose checks did not pass, and the operator's re-shoot ----------------------------
function qcReason(take, qc) {
  const reasons = Object.values(qc.cameras || {}).flatMap((c) => c.reasons || []);
  const text = reasons.length ? reasons.join("; ") : `take ${take} ${qc.verdict}ed its checks`;
  return text.length > 480 ? `${text.slice(0, 477)}...` : text;  // the route keeps 500 characters
}

function renderQcTakes() {
  const r = S.run;
  const box = $("#qc-takes");
  if (!r || !r.session) { box.replaceChildren(); box.hidden = true; return; }
  const rows = [];
  for (const take of r.takes) {
    const entry = r.status[take.id] || {};
    const qc = entry.qc;
    if (!qc || qc.verdict === "ok" || qc.attempt !== entry.attempt) continue;
    const reasons = Object.entries(qc.cameras || {}).filter(([, c]) => c.verdict !== "ok")
      .map(([camera, c]) => el("li", { class: c.verdict, "data-camera": camera, text: c.reasons.join("; ") || `${camera}: ${c.verdict}` }));
    if (qc.error) reasons.push(el("li", { class: "warn", text: qc.error }));
    const row = el("div", { class: `qc-take ${qc.verdict}`, "data-take": take.id },
      el("b", { text: `Take ${take.id} ${qc.verdict === "fail" ? "failed" : "warned on"} its checks (attempt ${qc.attempt})` }),
      el("ul", {}, ...reasons));
    if (entry.reshoot) {
      row.append(el("span", { class: "qc-note", title: entry.reshoot.reason, text: `re-shoot asked: ${entry.reshoot.queued
        ? "shot again in this run, while the subject is in the rig" : "shot by the next run of the session"}` }));
    } else if (entry.status === "superseded") {
      row.append(el("span", { class: "qc-note", text: "marked to be shot again: this run shoots it" }));
    } else if (QC_ASKS.has(qc.action)) {
      row.append(el("button", { class: "qc-reshoot go", text: `Re-shoot take ${take.id}`, disabled: linkLost,
                                title: "shoot this take again: now, while the subject is in the rig, or in a re-shoot of the session",
                                onclick: (e) => reshootTake(r.session.name, take.id, qcReason(take.id, qc), e.target) }));
    } else if (qc.action === "reshoot") {
      row.append(el("span", { class: "qc-note", text: "the plan shoots it again at once (qc.on_fail: reshoot)" }));
    }
    rows.push(row);
  }
  box.replaceChildren(...rows);
  box.hidden = rows.length === 0;
}

async function reshootTake(session, takeId, reason, button) {
  const path = `/api/sessions/${encodeURIComponent(session)}/takes/${takeId.split("/").map(encodeURIComponent).join("/")}/reshoot`;
  const answer = await act(button, () => api("POST", path, { reason, confirm_poses: $("#confirm-poses").checked }));
  if (answer) toast(`take ${takeId} is shot again ${answer.when}`, "info");
}

// ---- the image viewer's checks ----------------------------------------------------------------------------------
function viewerQcModel(session) {
  const live = liveModel();
  if (live && live.session === session) return live;
  if (S.past && S.past.name === session) return S.past.model;
  return VIEWER.model && VIEWER.model.session === session ? VIEWER.model : null;
}

function renderViewerChecks(args) {
  const box = args.checks;
  const check = cameraQc(viewerQcModel(args.session), args.take, args.camera);
  if (!check) { box.replaceChildren(el("p", { class: "muted", text: "not checked (yet): the checks run as each take is stored" })); return; }
  const file = check.files.find((f) => f.path === args.path) || check.files[0];
  const head = el("p", { class: `qc-verdict ${check.verdict}`,
                         text: check.verdict === "ok" ? "every check passed" : check.reasons.join("; ") || check.verdict });
  const list = el("ul", { class: "qc-checks" }, ...(file ? file.checks : []).map((c) =>
    el("li", { class: c.verdict, "data-check": c.check }, el("b", { text: `${c.check}: ${c.verdict}` }), ` ${c.reason || ""}`)));
  box.replaceChildren(head, list);
}

on("viewer-image", renderViewerChecks);
on("run", () => {
  renderQcTakes();
  // a verdict arriving while its image is open in the viewer (the sheets mark theirs on "sheet-marked")
  if (VIEWER.box && !VIEWER.box.hidden && VIEWER.args && VIEWER.args.path) renderViewerChecks({ ...VIEWER.args, checks: $("#viewer-checks") });
});
on("snapshot", renderQcTakes);
on("sheet-marked", markChecks);
