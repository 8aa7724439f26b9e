// The contact sheet: a cell per camera and take, for the session being shot and (read-only) for a past one.
// A sheet is sized to fit its box: cameras as columns and takes as rows, or the other way round, whichever gives
// the bigger thumbnails. The live sheet sits beside the session's controls when the screen has room for
// readable thumbnails there, else below them; "Fit to screen" shows it alone over the whole window with a
// compact hold cue. Clicking a cell opens the image viewer (js/viewer.js). Also the arrival chips and failed takes.
"use strict";

const SHEET_GAP = 1;            // px between cells (border-spacing)
const SHEET_MIN_LABEL = 64;     // px of the label column; it takes what the cells leave, up to SHEET_MAX_LABEL
const SHEET_MAX_LABEL = 140;
const SHEET_HEAD = 16;          // px of the column labels' row (hidden in fit mode: the first row's cells say it)
const SHEET_MAX_CELL = 200;     // px of a cell's long side: thumbnails are 256 px, more shows nothing new
const SHEET_READABLE = 96;      // px: a thumbnail's long side below which framing and focus cannot be judged
const SIDE_MIN_LEFT = 480;      // px the session's controls need beside a sheet on their side
const PAGE_PAD = 16;            // px of main's padding
const FIT_FRAME = 4;            // px of the fit mode's frame (coloured by the hold cue)

const PLATE_POSE = "plate";  // the clean plates' pose (config PLATE_POSE_ID): the empty rig, marked as plates
const isPlate = (take) => take.pose === PLATE_POSE;
const takeLabel = (take, poses) =>
  `${poses > 1 ? take.pose + " " : ""}${take.station} ${take.lighting}${take.bracket !== "b0" ? " " + take.bracket : ""}`;
// A session as /api/sessions/{name}/view reads it back from its journal, as a sheet's model.
const modelOfView = (view) => ({ session: view.session.name, cameras: view.session.cameras, takes: view.takes,
                                 status: view.status });
const sheetFile = (model, takeId, camera) => ((model.status[takeId] || {}).files || {})[camera];

// The cell size for ``model`` in ``box`` ({width, height} px), both ways round; the bigger wins.
function planSheet(model, box, head = SHEET_HEAD) {
  const aspect = S.thumbAspect || 0.75;  // width / height of a frame; until a thumbnail says, the demo's portrait
  const choices = [true, false].map((takesAsRows) => {
    const rows = takesAsRows ? model.takes.length : model.cameras.length;
    const cols = takesAsRows ? model.cameras.length : model.takes.length;
    const byHeight = (box.height - head - SHEET_GAP) / Math.max(rows, 1) - SHEET_GAP;
    const byWidth = ((box.width - SHEET_MIN_LABEL - 2 * SHEET_GAP) / Math.max(cols, 1) - SHEET_GAP) / aspect;
    let h = Math.min(byHeight, byWidth, SHEET_MAX_CELL / Math.max(aspect, 1));
    h = Math.max(8, Math.floor(h));
    // rounded to the nearest pixel where the width leaves room: a pixel less would shrink the picture's long side
    const w = Math.max(6, Math.min(Math.round(h * aspect), Math.floor(byWidth * aspect)));
    const cells = cols * (w + SHEET_GAP) + 2 * SHEET_GAP;  // a gap each side of every column, the label's too
    const label = Math.max(SHEET_MIN_LABEL, Math.min(SHEET_MAX_LABEL, Math.floor(box.width - cells)));
    return { takesAsRows, rows, cols, w, h, long: Math.max(w, h), label, head,
             width: label + cells, height: head + rows * (h + SHEET_GAP) + SHEET_GAP };
  });
  return choices[0].long >= choices[1].long ? choices[0] : choices[1];
}

// Draw ``model`` into ``table`` as ``plan`` says (rebuilt whole: 100s of cells, the browser keeps the thumbnails).
function drawSheet(table, model, plan) {
  const head = $("thead", table), body = $("tbody", table);
  head.replaceChildren();
  body.replaceChildren();
  table.sheet = model;
  if (!model) return;
  table.style.setProperty("--cell-w", `${plan.w}px`);
  table.style.setProperty("--cell-h", `${plan.h}px`);
  table.style.setProperty("--label-w", `${plan.label}px`);
  table.style.width = `${plan.width}px`;
  table.classList.toggle("takes-rows", plan.takesAsRows);
  const poses = new Set(model.takes.map((t) => t.pose)).size;
  const takeHeader = (take) => el("th", { "data-take": take.id, title: `${take.id}: ${take.lighting_name}`, text: takeLabel(take, poses),
                                          class: isPlate(take) ? "plate" : "" });
  const cameraHeader = (camera) => el("th", { "data-camera": camera, title: camera, text: camera });
  const rows = plan.takesAsRows ? model.takes : model.cameras;
  const cols = plan.takesAsRows ? model.cameras : model.takes;
  head.append(el("tr", {}, el("th", { class: "corner", title: plan.takesAsRows ? "a row per take, a column per camera"
                                                                               : "a row per camera, a column per take" }),
    ...cols.map((c) => plan.takesAsRows ? cameraHeader(c) : takeHeader(c))));
  rows.forEach((rowItem, i) => {
    const line = el("tr", {}, plan.takesAsRows ? takeHeader(rowItem) : cameraHeader(rowItem));
    for (const colItem of cols) {
      const take = plan.takesAsRows ? rowItem : colItem, camera = plan.takesAsRows ? colItem : rowItem;
      const cell = el("td", { "data-take": take.id, "data-camera": camera, class: isPlate(take) ? "plate" : "",
                              title: `${camera} · ${take.id}${isPlate(take) ? " (clean plate: the empty rig)" : ""}` });
      // In fit mode the column labels' row is hidden: the first row's cells carry them.
      if (i === 0) cell.append(el("span", { class: "cap", text: plan.takesAsRows ? camera : takeLabel(take, poses) }));
      line.append(cell);
    }
    body.append(line);
  });
  for (const take of model.takes) for (const camera of model.cameras) placeImage(table, take.id, camera);
  markTakes(table);
}

function placeImage(table, takeId, camera) {
  const model = table.sheet;
  if (!model) return;
  const cell = $(`td[data-take="${CSS.escape(takeId)}"][data-camera="${CSS.escape(camera)}"]`, table);
  const path = sheetFile(model, takeId, camera);
  if (!cell || !path) return;
  const current = $("img", cell);
  if (current && current.dataset.path === path) return;
  const url = fileUrl(model.session, path, true);
  const img = el("img", { alt: `${camera} ${takeId}`, src: url, "data-path": path });
  img.addEventListener("load", () => { cell.classList.remove("no-thumb"); learnAspect(img); });
  // A thumbnail the server could not answer (busy, restarting) is asked for again, not left a blank cell all day.
  let tries = 0;
  img.addEventListener("error", () => {
    if (!img.isConnected) return;
    if (++tries > 4) { cell.classList.add("no-thumb"); cell.title = `${camera} · ${takeId}: no thumbnail (the file is kept)`; return; }
    setTimeout(() => { if (img.isConnected) img.src = `${url}&try=${tries}`; }, 500 * 2 ** tries);
  });
  const open = () => openImageViewer({ session: model.session, path, camera, take: takeId });
  img.tabIndex = 0;  // a keyboard reaches every cell: Enter opens it
  img.addEventListener("click", open);
  img.addEventListener("keydown", (e) => { if (e.key === "Enter") open(); });
  if (current) current.replaceWith(img); else cell.prepend(img);
}

function markTakes(table) {
  const model = table.sheet;
  if (!model) return;
  for (const take of model.takes) {
    const entry = model.status[take.id] || {};
    const status = entry.status || "pending";
    for (const node of $$(`[data-take="${CSS.escape(take.id)}"]`, table)) {
      node.classList.toggle("failed", status === "failed");
      node.classList.toggle("retrying", status === "retrying");
      node.classList.toggle("running", status === "running");
      node.classList.toggle("verified", status === "verified" || status === "skipped");
      if (node.tagName === "TH") node.title = `${take.id}${isPlate(take) ? " (clean plate: the empty rig)" : ""}: ${take.lighting_name} — ${status}${entry.error ? ": " + entry.error : ""}`;
    }
  }
  emit("sheet-marked", table);  // js/qc.js badges the checked images
}

// The frames' shape comes from the first thumbnail: a landscape rig lays its sheet out again.
function learnAspect(img) {
  if (!img.naturalWidth || !img.naturalHeight) return;
  const aspect = img.naturalWidth / img.naturalHeight;
  if (Math.abs(aspect - (S.thumbAspect || 0.75)) / aspect < 0.02) return;
  S.thumbAspect = aspect;
  layoutLiveSheet();
  emit("sheet-aspect");
}

// ---- the live sheet -------------------------------------------------------------------------------------------
function liveModel() {
  const r = S.run;
  if (!r || !r.session) return null;
  return { session: r.session.name, cameras: r.session.cameras || [], takes: r.takes, status: r.status };
}

// Choose where the live sheet goes (fit / beside the controls / below them) and draw it at the size that gives.
function layoutLiveSheet() {
  const model = liveModel();
  const page = $("#session"), panel = $("#sheet-panel"), table = $("#contact-sheet");
  const fit = Boolean(S.sheetFit && model);
  panel.classList.toggle("fit", fit);
  document.body.classList.toggle("sheet-fit", fit);
  $("#sheet-fit").textContent = fit ? "Exit fit (Esc)" : "Fit to screen";
  $("#sheet-fit").disabled = !model;
  $("#sheet-name").textContent = model ? `${model.session} (${S.run.session.subject})` : "no session yet";
  if (!model) { page.classList.remove("sheet-side"); drawSheet(table, null); S.sheetFor = null; return; }
  const header = $("header").getBoundingClientRect().height;
  const title = $("#sheet-title").offsetHeight || 28;
  let plan, side = false;
  if (fit) {
    plan = planSheet(model, { width: innerWidth - 2 * FIT_FRAME, height: innerHeight - 2 * FIT_FRAME }, 0);
  } else {
    const beside = planSheet(model, { width: innerWidth - SIDE_MIN_LEFT - 3 * PAGE_PAD,
                                      height: innerHeight - header - 2 * PAGE_PAD - title });
    side = beside.long >= SHEET_READABLE;
    // main's width, not the page's: the page is narrower while it still makes room for a sheet beside it
    plan = side ? beside : planSheet(model, { width: ($("main").clientWidth || innerWidth) - 2 * PAGE_PAD,
                                              height: innerHeight - title - 2 * PAGE_PAD });
  }
  page.classList.toggle("sheet-side", side);
  page.style.setProperty("--sheet-side-w", `${plan.width}px`);
  page.style.setProperty("--header-h", `${header}px`);
  panel.style.setProperty("--label-w", `${plan.label}px`);  // the fit mode's compact cue sits in the label column
  drawSheet(table, model, plan);
  S.sheetFor = model.session;
  renderFitCue();
}

function renderCell(takeId, camera) {
  const table = $("#contact-sheet");
  if (!table.sheet || !S.run || !S.run.session || table.sheet.session !== S.run.session.name) return;
  table.sheet.status = S.run.status;
  placeImage(table, takeId, camera);
}

function renderSheetState() {
  const r = S.run;
  // The operator must answer a pose question on the session page, which fit mode covers: it steps aside.
  if (S.sheetFit && r && r.awaiting_pose) toggleFit(false);
  if (!r || !r.session || S.sheetFor !== r.session.name) { layoutLiveSheet(); return; }
  const table = $("#contact-sheet");
  table.sheet.status = r.status;
  markTakes(table);
  // Every file the views know has its image: a cell a missed patch left empty is filled at the next one.
  for (const take of r.takes) for (const camera of table.sheet.cameras) placeImage(table, take.id, camera);
  renderFitCue();
}

// Fit mode hides the page's hold cue: the frame takes its colour and a compact copy says the word and the time.
function renderFitCue() {
  const r = S.run;
  const box = $("#sheet-cue");
  if (!S.sheetFit || !r || !r.session) { box.hidden = true; return; }
  const hold = r.hold || { state: "relax" };
  const seconds = hold.since ? Math.max(0, Date.now() / 1000 - hold.since) : 0;
  const done = Object.values(r.status).filter((s) => s.status === "verified" || s.status === "skipped").length;
  const offline = S.linkState === "offline";  // the last known state, not a live one: say so, never show HOLD
  $("#sheet-panel").classList.toggle("hold", hold.state === "hold" && !offline);
  $("#sheet-panel").classList.toggle("offline", offline);
  box.hidden = false;
  $("#sheet-cue-word").textContent = offline ? "connection lost"
    : hold.state === "hold" ? `HOLD ${hold.pose_id || ""} ${seconds.toFixed(1)} s` : "RELAX";
  $("#sheet-cue-state").textContent = `${r.state}${offline ? " (last known)" : ""} · ${done}/${r.takes.length}`;
}

function toggleFit(on = !S.sheetFit) {
  if (on && S.run && S.run.awaiting_pose) {
    toast("answer the pose question first: the fitted sheet would cover it", "info");
    on = false;
  }
  S.sheetFit = on && Boolean(liveModel());
  clearInterval(S.fitTimer);
  if (S.sheetFit) S.fitTimer = setInterval(renderFitCue, 250);
  layoutLiveSheet();
}

// ---- arrivals and failed takes --------------------------------------------------------------------------------
function renderArrivals() {
  const r = S.run;
  const box = $("#arrivals");
  if (!r || !r.session) { box.replaceChildren(); return; }
  const cameras = r.session.cameras || [];
  if (box.children.length !== cameras.length)
    box.replaceChildren(...cameras.map((c) => el("span", { class: "chip", "data-camera": c, text: c })));
  for (const chip of box.children) chip.classList.toggle("arrived", Boolean(r.arrivals[chip.dataset.camera]));
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

let sheetResize = 0;
on("ready", () => {
  $("#sheet-fit").addEventListener("click", () => toggleFit());
  $("#sheet-unfit").addEventListener("click", () => toggleFit(false));
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && S.sheetFit && !document.querySelector(".viewer:not([hidden])")) toggleFit(false);
  });
  window.addEventListener("resize", () => {
    cancelAnimationFrame(sheetResize);
    sheetResize = requestAnimationFrame(() => { if (!$("#session").hidden) layoutLiveSheet(); });
  });
});
on("snapshot", layoutLiveSheet);
on("sheet", layoutLiveSheet);
on("tab", (tab) => { if (tab === "session") layoutLiveSheet(); else if (S.sheetFit) toggleFit(false); });
on("cell", renderCell);
on("link", (state) => { S.linkState = state; renderFitCue(); });
on("arrivals", renderArrivals);
on("run", () => { renderArrivals(); renderSheetState(); renderFailed(); });
