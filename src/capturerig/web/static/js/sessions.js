// The sessions list: every session folder the panel serves, with re-shoot of what is missing.
"use strict";

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

on("tab", (tab) => { if (tab === "session") loadSessions(); });
on("finished", loadSessions);
