// The packages page: build a training package from a session, verify it, download it.
"use strict";

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

on("tab", (tab) => { if (tab === "packages") loadPackages(); });
on("ready", () => {
  $("#build-package").addEventListener("click", (e) => act(e.target, async () => {
    const built = await api("POST", "/api/packages", { session: $("#package-session").value });
    toast(`package ${built.name}: ${built.images} images in ${built.seconds} s`, "info");
    loadPackages();
  }));
});
