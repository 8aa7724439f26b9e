// The contact sheet of the current session (a cell per camera and take), its arrival chips and failed takes.
"use strict";

function renderArrivals() {
  const r = S.run;
  const box = $("#arrivals");
  if (!r || !r.session) { box.replaceChildren(); return; }
  const cameras = r.session.cameras || [];
  if (box.children.length !== cameras.length)
    box.replaceChildren(...cameras.map((c) => el("span", { class: "chip", "data-camera": c, text: c })));
  for (const chip of box.children) chip.classList.toggle("arrived", Boolean(r.arrivals[chip.dataset.camera]));
}

function buildSheet() {
  const r = S.run;
  const head = $("#contact-sheet thead");
  const body = $("#contact-sheet tbody");
  head.replaceChildren();
  body.replaceChildren();
  if (!r || !r.session) return;
  $("#sheet-name").textContent = `${r.session.name} (${r.session.subject})`;
  const row = el("tr", {}, el("th", { text: "camera" }));
  for (const take of r.takes)
    row.append(el("th", { "data-take": take.id, title: `${take.id}: ${take.lighting_name}`,
                          text: `${take.station} ${take.lighting}${take.bracket !== "b0" ? " " + take.bracket : ""}` }));
  head.append(row);
  for (const camera of r.session.cameras || []) {
    const line = el("tr", {}, el("th", { text: camera }));
    for (const take of r.takes) line.append(el("td", { "data-take": take.id, "data-camera": camera }));
    body.append(line);
  }
  S.sheetFor = r.session.name;
  for (const take of r.takes) for (const camera of r.session.cameras || []) renderCell(take.id, camera);
}

function renderCell(takeId, camera) {
  const r = S.run;
  if (!r || S.sheetFor !== (r.session && r.session.name)) return;
  const cell = $(`#contact-sheet td[data-take="${CSS.escape(takeId)}"][data-camera="${CSS.escape(camera)}"]`);
  const path = ((r.status[takeId] || {}).files || {})[camera];
  if (!cell || !path) return;
  const current = cell.firstChild;
  if (current && current.dataset.path === path) return;
  const img = el("img", { alt: `${camera} ${takeId}`, loading: "lazy", src: fileUrl(r.session.name, path, true), "data-path": path });
  img.addEventListener("click", () => window.open(fileUrl(r.session.name, path, false), "_blank"));
  cell.replaceChildren(img);
}

function renderSheetState() {
  const r = S.run;
  if (!r || !r.session) { buildSheet(); return; }
  if (S.sheetFor !== r.session.name) buildSheet();
  for (const take of r.takes) {
    const status = (r.status[take.id] || {}).status || "pending";
    for (const node of $$(`#contact-sheet [data-take="${CSS.escape(take.id)}"]`)) {
      node.classList.toggle("failed", status === "failed");
      node.classList.toggle("retrying", status === "retrying");
      node.classList.toggle("running", status === "running");
      node.classList.toggle("verified", status === "verified" || status === "skipped");
      if (node.tagName === "TH") node.title = `${take.id}: ${take.lighting_name}${(r.status[take.id] || {}).error ? " — " + r.status[take.id].error : ""}`;
    }
  }
}

function renderFailed() {
  const r = S.run;
  const box = $("#failed-takes");
  box.replaceChildren();
  if (!r || !r.session) return;
  for (const take of r.takes) {
    const entry = r.status[take.id] || {};
    if (entry.status !== "failed" && entry.status !== "retrying") continue;
    const row = el("div", { class: "failed-take", "data-take": take.id },
      el("b", { text: `${take.id} ${entry.status === "retrying" ? "failed, retrying" : "FAILED"}` }),
      el("span", { text: ` (attempt ${entry.attempt || "?"}): ${entry.error || ""} ` }),
      ...(entry.hosts && entry.hosts.length ? [el("span", { class: "hosts", text: `[host ${entry.hosts.join(", ")}] ` })] : []));
    if (entry.status === "failed" && !r.running)
      row.append(el("button", { class: "reshoot go", text: "Re-shoot", onclick: (e) => reshoot(r.session.name, e.target) }));
    box.append(row);
  }
}

on("snapshot", buildSheet);
on("sheet", buildSheet);
on("cell", renderCell);
on("arrivals", renderArrivals);
on("run", () => { renderArrivals(); renderSheetState(); renderFailed(); });
