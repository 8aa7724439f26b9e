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

// A build is a job on the server: the page follows it (stage, bytes of images done, ETA) until it ends.
const PACKAGE_POLL_MS = 500;
let packageJob = null;

function packageSeconds(s) { return s >= 90 ? `${Math.round(s / 60)} min` : `${Math.round(s)} s`; }

function renderPackageJob(job) {
  const box = $("#package-progress");
  box.hidden = false;
  box.className = `calib-progress ${job.state}`;
  box.setAttribute("role", "progressbar");
  const percent = Math.round(100 * (job.fraction || 0));
  box.setAttribute("aria-valuenow", String(percent));
  const fill = el("div", { class: "fill" });
  fill.style.width = `${job.state === "done" ? 100 : percent}%`;
  const timing = job.state === "running"
    ? [`${percent} %`, job.bytes_total ? `${fmtBytes(job.bytes_done)} of ${fmtBytes(job.bytes_total)} of images` : null,
       `${packageSeconds(job.elapsed_s)} so far`, job.eta_s == null ? null : `about ${packageSeconds(job.eta_s)} left`]
      .filter(Boolean).join(" · ")
    : `${job.state === "done" ? "finished" : "stopped"} after ${packageSeconds(job.elapsed_s)}`;
  const stage = job.state === "failed" ? "stopped: the problem panel says why and what to do" : job.stage;
  box.replaceChildren(el("div", { class: "track" }, fill),
    el("div", { class: "line" }, el("span", { class: "stage", text: `packaging ${job.session}: ${stage}` }),
      el("span", { class: "timing muted", text: timing })));
  $("#build-package").disabled = job.state === "running";
}

async function followPackageJob(id) {
  packageJob = id;
  let job;
  try {
    job = await api("GET", `/api/packages/jobs/${encodeURIComponent(id)}`);
  } catch (e) {
    if (packageJob === id) setTimeout(() => followPackageJob(id), 4 * PACKAGE_POLL_MS);  // the server is away: again
    return;
  }
  if (packageJob !== id) return;
  renderPackageJob(job);
  if (job.state === "running") { setTimeout(() => followPackageJob(id), PACKAGE_POLL_MS); return; }
  packageJob = null;
  if (job.state === "failed") { if (job.problem) showProblem(job.problem); return; }
  toast(`package ${job.result.name}: ${job.result.images} images in ${job.result.seconds} s`, "info");
  loadPackages();
}

on("tab", (tab) => {
  if (tab !== "packages") return;
  loadPackages();
  if (!packageJob) {  // a build started before this page was opened (or reloaded) is followed too
    api("GET", "/api/packages/jobs").then((jobs) => { if (jobs.length && !packageJob) followPackageJob(jobs[0].id); })
      .catch((e) => toast(e.message));
  }
});
on("ready", () => {
  $("#build-package").addEventListener("click", (e) => act(e.target, async () => {
    const job = await api("POST", "/api/packages", { session: $("#package-session").value });
    renderPackageJob(job);
    followPackageJob(job.id);
  }));
});
