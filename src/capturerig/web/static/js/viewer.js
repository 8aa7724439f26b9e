// The image viewer: one image of a session over the page, with a 100 % crop (click or drag on the frame, drag the
// crop, or Z for the whole stage at 100 %), the server's histogram with clipping marked and said in words, and a
// slot for the image's checks. ← → step through cameras, ↑ ↓ through takes, Esc closes.
// Other pages call openImageViewer({session, path, camera, take}) (the contact sheets, the rig map).
"use strict";

const VIEWER = { box: null, args: null, model: null, crop: { x: 0.5, y: 0.5 }, seq: 0, drag: null };

function viewerElement() {
  if (VIEWER.box) return VIEWER.box;
  const button = (id, text, onclick, title = "") => el("button", { id, type: "button", text, title, onclick });
  const box = el("div", { id: "image-viewer", class: "viewer", role: "dialog", hidden: true },
    el("div", { class: "viewer-head" },
      el("h2", { id: "viewer-title" }), el("span", { id: "viewer-status", class: "muted" }),
      button("viewer-zoom", "100 %", () => zoomViewer(), "the whole stage at 100 % (Z); drag to pan"),
      el("a", { id: "viewer-open", target: "_blank", rel: "noopener", text: "open the file" }),
      el("span", { class: "keys muted", text: "← → camera · ↑ ↓ take · Z 100 % · Esc close" }),
      button("viewer-close", "Close", closeImageViewer)),
    el("div", { id: "viewer-stage", class: "viewer-stage" },
      el("div", { class: "frame" }, el("img", { id: "viewer-image", alt: "", draggable: false }), el("div", { class: "loupe" }))),
    el("div", { class: "viewer-side" },
      el("section", {}, el("h3", {}, "100 % crop ", el("span", { id: "viewer-crop-at", class: "muted" })),
        el("div", { id: "viewer-crop", class: "viewer-crop" }, el("img", { alt: "100 % crop", draggable: false }))),
      el("section", { id: "viewer-histogram", class: "viewer-histogram" }, el("h3", { text: "Histogram (red, green, blue; square-root scale)" }),
        el("canvas", { width: 512, height: 150 }),
        el("p", { id: "viewer-highlights", class: "clip-words" }), el("p", { id: "viewer-shadows", class: "clip-words" })),
      el("section", { class: "viewer-checks" }, el("h3", { text: "Checks" }), el("div", { id: "viewer-checks" }))));
  box.setAttribute("aria-label", "image viewer");
  document.body.append(box);
  VIEWER.box = box;
  wireViewerPointer();
  return box;
}

// The sheet a session's image belongs to, to step through: the live run, the past session open in the page, else
// the session read afresh from its journal (it may have been re-shot since).
async function viewerModel(session) {
  const live = liveModel();
  if (live && live.session === session) return live;
  if (S.past && S.past.name === session) return S.past.model;
  const view = await api("GET", `/api/sessions/${encodeURIComponent(session)}/view`).catch(() => null);
  return view ? modelOfView(view) : null;  // null: no stepping, the image itself still shows
}

async function openImageViewer(args) {
  const box = viewerElement();
  const seq = ++VIEWER.seq;
  VIEWER.args = { ...args };
  VIEWER.model = null;
  box.hidden = false;
  showViewerImage();
  const model = await viewerModel(args.session);
  if (seq !== VIEWER.seq || !model) return;
  VIEWER.model = model;
  const a = VIEWER.args;
  if (a.path && (!a.take || !a.camera)) {  // a caller that knows only the file: find its cell
    for (const [take, entry] of Object.entries(model.status))
      for (const [camera, path] of Object.entries(entry.files || {}))
        if (path === a.path) { a.take = take; a.camera = camera; }
  }
  if (!a.path && a.take && a.camera) a.path = sheetFile(model, a.take, a.camera);
  showViewerImage();
}

function closeImageViewer() {
  if (VIEWER.box) VIEWER.box.hidden = true;
  VIEWER.seq++;
}

function viewerPosition() {
  const { model, args } = VIEWER;
  if (!model) return "";
  const ci = model.cameras.indexOf(args.camera), ti = model.takes.findIndex((t) => t.id === args.take);
  const status = ((model.status[args.take] || {}).status) || "not shot";
  return `camera ${ci + 1}/${model.cameras.length} · take ${ti + 1}/${model.takes.length} · ${status}`;
}

function showViewerImage() {
  const { session, path, camera, take } = VIEWER.args;
  $("#viewer-title").textContent = `${camera || "image"}${take ? " · take " + take : ""} · ${session}`;
  $("#viewer-status").textContent = viewerPosition();
  const frame = $("#viewer-image"), crop = $("#viewer-crop img");
  const stage = $("#viewer-stage");
  for (const old of $$(".missing", stage)) old.remove();
  $("#viewer-checks").replaceChildren(el("p", { class: "muted", text: "no image, no checks" }));  // js/qc.js fills it
  if (!path) {
    frame.hidden = crop.hidden = true;
    const status = VIEWER.model ? ((VIEWER.model.status[take] || {}).status || "not shot yet") : "unknown";
    stage.append(el("div", { class: "missing", text: `no image from ${camera} for take ${take} (take ${status})` }));
    drawHistogram(null);
    return;
  }
  frame.hidden = crop.hidden = false;
  const url = fileUrl(session, path, false);
  $("#viewer-open").href = url;
  frame.alt = `${camera} ${take || ""}`;
  frame.onload = placeCrop;
  frame.src = url;
  crop.src = url;
  loadHistogram(session, path);
  emit("viewer-image", { session, path, camera, take, checks: $("#viewer-checks") });
}

async function loadHistogram(session, path) {
  const seq = VIEWER.seq;
  drawHistogram(null, "reading the histogram…");
  const url = `/api/sessions/${encodeURIComponent(session)}/histogram/${path.split("/").map(encodeURIComponent).join("/")}`;
  try {
    const histogram = await api("GET", url);
    if (seq === VIEWER.seq && VIEWER.args.path === path) drawHistogram(histogram);
  } catch (error) {
    if (seq !== VIEWER.seq) return;
    drawHistogram(null, `no histogram: ${error.message}`);
    report(error);
  }
}

// Three channels added up (so white where they agree), on a square-root scale up to the tallest bin between the end
// zones, so a backdrop's spike or a clipped one does not flatten the rest; the clipped (red band) and crushed (blue
// band) zones are shaded.
function drawHistogram(h, note = "") {
  const section = $("#viewer-histogram"), canvas = $("canvas", section);
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height;
  ctx.clearRect(0, 0, W, H);
  section.classList.toggle("warn", Boolean(h && h.level === "warn"));
  section.dataset.ready = h ? "true" : "false";
  $("#viewer-highlights").textContent = h ? h.words.highlights : note;
  $("#viewer-shadows").textContent = h ? h.words.shadows : "";
  if (!h) return;
  const x = (bin) => (bin / 256) * W;
  ctx.fillStyle = "rgba(229, 72, 77, 0.35)";
  ctx.fillRect(x(h.clip_high), 0, W - x(h.clip_high), H);
  ctx.fillStyle = "rgba(59, 130, 246, 0.35)";
  ctx.fillRect(0, 0, x(h.crush_low + 1), H);
  const channels = { red: "rgba(255, 70, 70, 0.75)", green: "rgba(70, 220, 90, 0.75)", blue: "rgba(80, 120, 255, 0.75)" };
  let top = 1;
  for (const name of Object.keys(channels))
    for (let bin = h.crush_low + 1; bin < h.clip_high; bin++) top = Math.max(top, h.bins[name][bin]);
  ctx.globalCompositeOperation = "lighter";
  for (const [name, colour] of Object.entries(channels)) {
    ctx.fillStyle = colour;
    ctx.beginPath();
    ctx.moveTo(0, H);
    h.bins[name].forEach((count, bin) => {
      const y = H - Math.sqrt(Math.min(1, count / top)) * (H - 2);
      ctx.lineTo(x(bin), y);
      ctx.lineTo(x(bin + 1), y);
    });
    ctx.lineTo(W, H);
    ctx.closePath();
    ctx.fill();
  }
  ctx.globalCompositeOperation = "source-over";
}

// ---- the 100 % crop: centred on VIEWER.crop (fractions of the frame), marked on the frame by the loupe ----------
function placeCrop() {
  const frame = $("#viewer-image"), pane = $("#viewer-crop"), crop = $("img", pane), loupe = $("#viewer-stage .loupe");
  const nw = frame.naturalWidth, nh = frame.naturalHeight;
  if (!nw || !nh) return;
  fitFrame();
  const cw = Math.min(pane.clientWidth, nw), ch = Math.min(pane.clientHeight, nh);
  const left = Math.round(Math.max(0, Math.min(nw - cw, VIEWER.crop.x * nw - cw / 2)));
  const top = Math.round(Math.max(0, Math.min(nh - ch, VIEWER.crop.y * nh - ch / 2)));
  // Keep the centre the crop really has: a drag from an edge then moves it at once.
  VIEWER.crop = { x: (left + cw / 2) / nw, y: (top + ch / 2) / nh };
  Object.assign(crop.style, { width: `${nw}px`, height: `${nh}px`, left: `${-left}px`, top: `${-top}px` });
  $("#viewer-crop-at").textContent = `(${cw}x${ch} px from ${left}, ${top} of ${nw}x${nh})`;
  const scale = frame.clientWidth / nw;
  Object.assign(loupe.style, { left: `${left * scale}px`, top: `${top * scale}px`, width: `${cw * scale}px`, height: `${ch * scale}px` });
}

// The whole frame as large as the stage allows (a small frame is enlarged too), or at 100 % when zoomed.
function fitFrame() {
  const stage = $("#viewer-stage"), frame = $("#viewer-image");
  const nw = frame.naturalWidth, nh = frame.naturalHeight;
  if (!nw || !nh) return;
  const scale = stage.classList.contains("zoomed") ? 1 : Math.min(stage.clientWidth / nw, stage.clientHeight / nh);
  frame.style.width = `${Math.floor(nw * scale)}px`;
  frame.style.height = `${Math.floor(nh * scale)}px`;
}

function zoomViewer(on) {
  const stage = $("#viewer-stage"), frame = $("#viewer-image");
  const zoomed = stage.classList.toggle("zoomed", on);
  $("#viewer-zoom").textContent = zoomed ? "Fit" : "100 %";
  fitFrame();
  if (zoomed) {  // open where the crop is
    stage.scrollLeft = VIEWER.crop.x * frame.naturalWidth - stage.clientWidth / 2;
    stage.scrollTop = VIEWER.crop.y * frame.naturalHeight - stage.clientHeight / 2;
  } else placeCrop();
}

function wireViewerPointer() {
  const stage = $("#viewer-stage"), frame = $("#viewer-image"), pane = $("#viewer-crop");
  const clamp = (v) => Math.max(0, Math.min(1, v));
  const aimAt = (event) => {  // click or drag on the fitted frame: the crop follows the pointer
    const r = frame.getBoundingClientRect();
    VIEWER.crop = { x: clamp((event.clientX - r.left) / r.width), y: clamp((event.clientY - r.top) / r.height) };
    placeCrop();
  };
  frame.addEventListener("mousedown", (event) => {
    event.preventDefault();
    VIEWER.drag = { on: stage.classList.contains("zoomed") ? "stage" : "frame", x: event.clientX, y: event.clientY };
    if (VIEWER.drag.on === "frame") aimAt(event);
  });
  pane.addEventListener("mousedown", (event) => {
    event.preventDefault();
    VIEWER.drag = { on: "crop", x: event.clientX, y: event.clientY };
  });
  window.addEventListener("mousemove", (event) => {
    const drag = VIEWER.drag;
    if (!drag) return;
    const dx = event.clientX - drag.x, dy = event.clientY - drag.y;
    drag.x = event.clientX;
    drag.y = event.clientY;
    if (drag.on === "frame") aimAt(event);
    else if (drag.on === "stage") { stage.scrollLeft -= dx; stage.scrollTop -= dy; }
    else if (frame.naturalWidth) {  // dragging the crop moves the picture under it, as a hand would
      VIEWER.crop = { x: clamp(VIEWER.crop.x - dx / frame.naturalWidth), y: clamp(VIEWER.crop.y - dy / frame.naturalHeight) };
      placeCrop();
    }
  });
  window.addEventListener("mouseup", () => { VIEWER.drag = null; });
  window.addEventListener("resize", () => { if (!VIEWER.box.hidden) placeCrop(); });
}

// ---- stepping: ← → cameras, ↑ ↓ takes (of the sheet the image belongs to) ---------------------------------------
function stepViewer(cameraStep, takeStep) {
  const a = VIEWER.args;
  let model = VIEWER.model;
  if (!model) return;
  const live = liveModel();
  if (live && live.session === model.session) model = VIEWER.model = live;  // files keep landing
  const ci = model.cameras.indexOf(a.camera) + cameraStep;
  const ti = model.takes.findIndex((t) => t.id === a.take) + takeStep;
  if (ci < 0 || ci >= model.cameras.length || ti < 0 || ti >= model.takes.length) return;
  const camera = model.cameras[ci], take = model.takes[ti].id;
  VIEWER.args = { session: a.session, camera, take, path: sheetFile(model, take, camera) };
  VIEWER.seq++;
  showViewerImage();
}

document.addEventListener("keydown", (event) => {
  if (!VIEWER.box || VIEWER.box.hidden) return;
  const steps = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
  if (event.key === "Escape") closeImageViewer();
  else if (steps[event.key]) stepViewer(...steps[event.key]);
  else if (event.key === "z" || event.key === "Z") zoomViewer();
  else return;
  event.preventDefault();
  event.stopImmediatePropagation();  // Esc closes the viewer only, not the sheet or the past session under it
});
