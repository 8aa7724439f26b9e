// The dashboard: capture hosts, trigger box and turntable, cameras, lights and preflight, from the server's device
// board (web/_views.py DeviceBoard). The rig map above them is static/js/rigmap.js.
"use strict";

// Bar thresholds, said on the page: a body below these needs a battery or a card before the next session.
const DASH_BATTERY = { warn: 40, bad: 20 };  // percent
const DASH_CARD = { warn: 4e9, bad: 1e9, full: 64e9 };  // bytes free; the bar is full at 64 GB free
const DASH_SETTINGS = [["iso", "ISO"], ["shutter", "shutter"], ["aperture", "aperture"], ["whitebalance", "white balance"]];
const DASH_SHORT = { iso: (v) => `ISO ${v}`, shutter: (v) => v, aperture: (v) => `f/${v}`, whitebalance: (v) => v };
const dashClock = (at) => at == null ? null : new Date(at * 1000).toLocaleTimeString();

// A tile per capture host of the rig (web/_views.py DeviceBoard.hosts), above the cameras.
function renderHosts(rig) {
  const hosts = rig.hosts || [];
  $("#hosts-block").hidden = hosts.length === 0;
  const box = $("#host-tiles");
  box.replaceChildren();
  for (const host of hosts) {
    const t = (S.board.hosts || {})[host.name] || {};
    const state = t.state || "unknown";
    const cameras = t.cameras || host.cameras;
    const spool = t.spool_files == null ? null : `${t.spool_files} files / ${fmtBytes(t.spool_bytes)}`;
    const disk = t.free_bytes == null ? null :
      `${fmtBytes(t.free_bytes)} free (reserve ${fmtBytes(t.reserve_bytes)})${t.free_bytes < t.reserve_bytes ? " LOW" : ""}`;
    const clock = t.clock_offset_ms == null ? null : `${fmtMs(t.clock_offset_ms)} (rtt ${t.round_trip_ms.toFixed(1)} ms)`;
    const problem = state === "bad" ? (t.problem || t.last_error) : null;
    box.append(el("div", { class: `tile host ${state}`, "data-host": host.name, title: t.url || host.url },
      el("h3", { text: `${host.name} ` }, el("span", { class: "state", text: state })),
      dl([["cameras", `${t.cameras_ok || 0}/${cameras.length} ok: ${cameras.join(" ")}`],
          ["spool", spool], ["disk", disk], ["clock", clock],
          ["version", t.capturerig_version],
          ["last problem", problem || t.last_error || "none"]])));
  }
}

// A bar with its value; `level` ok / warn / bad against the thresholds said above the tiles.
function dashMeter(fraction, text, level) {
  const pct = Math.max(0, Math.min(1, fraction)) * 100;
  return el("div", { class: `meter ${level}` },
    el("div", { class: "track" }, el("div", { class: "fill", style: `width: ${pct.toFixed(0)}%` })),
    el("span", { class: "value", text }));
}

function batteryMeter(percent) {
  if (percent == null) return el("span", { class: "muted", text: "not checked" });
  const level = percent < DASH_BATTERY.bad ? "bad" : percent < DASH_BATTERY.warn ? "warn" : "ok";
  return dashMeter(percent / 100, `${Math.round(percent)} %`, level);
}

function cardMeter(free) {
  if (free == null) return el("span", { class: "muted", text: "not checked" });
  const level = free < DASH_CARD.bad ? "bad" : free < DASH_CARD.warn ? "warn" : "ok";
  return dashMeter(free / DASH_CARD.full, `${fmtBytes(free)} free`, level);
}

// Like dl(), but a value may be a node (a bar, an image).
function dashList(pairs) {
  const list = el("dl");
  for (const [key, value] of pairs) {
    const dd = el("dd");
    if (value instanceof Node) dd.append(value); else dd.textContent = value == null ? "–" : String(value);
    list.append(el("dt", { text: key }), dd);
  }
  return list;
}

// Each setting as the camera read it back at the last check; a drifted one says what the rig wanted.
function settingsRows(camera, t) {
  if (!t.settings) {  // one line until a check has read them: four "not checked" rows would bury the tile
    const wanted = DASH_SETTINGS.filter(([key]) => camera.settings[key] != null).map(([key]) => DASH_SHORT[key](camera.settings[key]));
    return [["settings", `not checked${wanted.length ? " (rig: " + wanted.join(", ") + ")" : ""}`]];
  }
  return DASH_SETTINGS.map(([key, label]) => {
    const reads = t.settings[key];
    const wanted = camera.settings[key];
    if (reads == null) return [label, wanted == null ? "not read back" : `not read back (rig wants ${wanted})`];
    return [label, reads === wanted || wanted == null ? reads : `${reads} (rig wants ${wanted})`];
  });
}

function openTileImage(camera, image) {
  const args = { session: image.session, path: image.path, camera, take: image.take };
  if (typeof openImageViewer === "function") openImageViewer(args);  // static/js/viewer.js, when loaded
  else window.open(fileUrl(image.session, image.path, false), "_blank");
}

// The tiles are redrawn on every board change: keep each camera's image element while its image is the same, so
// a file landing on one camera does not reload sixteen thumbnails.
const dashThumbs = new Map();
function lastImageThumb(camera, image) {
  const key = `${image.session}/${image.path}`;
  const kept = dashThumbs.get(camera);
  if (kept && kept.dataset.key === key) return kept;
  const img = el("img", { class: "last-image", alt: `${camera} last image`, "data-key": key,
    title: `last image: take ${image.take}, ${dashClock(image.at)} (click: full image)`,
    src: fileUrl(image.session, image.path, true), onclick: () => openTileImage(camera, image) });
  dashThumbs.set(camera, img);
  return img;
}

function cameraTile(camera) {
  const t = S.board.tiles[camera.id] || {};
  const drift = t.drift ? Object.entries(t.drift).map(([k, v]) => `${k}: wants ${v.wanted}, reads ${v.reads}`).join("; ") || "none" : null;
  const host = t.host || camera.host;
  const image = t.last_image;
  const thumb = image && image.session ? lastImageThumb(camera.id, image) : null;
  return el("div", { class: `tile camera ${t.state || ""}`, "data-device": camera.id },
    el("h3", { text: camera.id }, ...(host ? [el("span", { class: "on-host", text: ` @ ${host}` })] : [])),
    dashList([["connected", t.connected == null ? "not checked" : t.connected ? "yes" : "no"],
              ["serial", t.serial ? `${t.serial}${t.serial_ok === false ? " (rig: " + camera.serial + ")" : ""}` : camera.serial],
              ...settingsRows(camera, t),
              ["battery", batteryMeter(t.battery_percent)],
              ["card", cardMeter(t.free_bytes)],
              ["settings drift", drift],
              ["preflight", t.preflight ? (t.preflight.ok ? "ok" : "FAILED") : null],
              ["last check", dashClock(t.checked_at) || "never"],
              ["last image", image ? `take ${image.take}, ${dashClock(image.at)}` : "none yet"],
              ["image checks", t.last_check ? `${t.last_check.verdict}, take ${t.last_check.take}`
                + (t.last_check.reasons.length ? `: ${t.last_check.reasons.join("; ")}` : "") : "none yet"],
              ["last error", t.last_error ? (host && !t.last_error.includes(host) ? `${t.last_error} (host ${host})` : t.last_error) : "none"]]),
    ...(thumb ? [thumb] : []));
}

function triggerRows(t) {
  const fire = t.last_fire;
  const measured = !fire ? "no fire yet" : fire.exposure_spread_ms == null
    ? `no exposure times reported (${fire.measured} of ${fire.cameras} cameras)`
    : `exposure spread ${fire.exposure_spread_ms.toFixed(2)} ms over ${fire.measured} cameras, median latency ` +
      `${fire.latency_median_ms.toFixed(2)} ms (slowest ${fire.slowest})`;
  const sync = S.board.sync || {};
  return [["link", t.link || "not checked"],
          ["last fire", fire ? `take ${fire.take} (${fire.mode}), ${dashClock(fire.at)}` : "none yet"],
          ["take sync", measured],
          ["rig sync", !sync.verdict ? "not checked (run preflight)"
            : sync.detail.startsWith(sync.verdict) ? sync.detail : `${sync.verdict}: ${sync.detail}`]];
}

function turntableRows(t) {
  return [["link", t.link || "not checked"],
          ["homed", t.homed == null ? "not checked" : t.homed ? "yes" : "no"],
          ["angle", t.angle_deg == null ? null : `${Number(t.angle_deg).toFixed(1)}°`],
          ["station", t.station || (t.homed ? "home (0°)" : null)],
          ["reached", dashClock(t.reached_at)]];
}

// The rig's trigger box and turntable (web/_views.py DeviceBoard, tiles of kind trigger / turntable).
function renderMotion(rig) {
  const devices = [["trigger", rig.trigger], ["turntable", rig.turntable]].filter(([, id]) => id);
  $("#motion-block").hidden = devices.length === 0;
  $("#motion-tiles").replaceChildren(...devices.map(([kind, id]) => {
    const t = S.board.tiles[id] || {};
    const rows = kind === "trigger" ? triggerRows(t) : turntableRows(t);
    return el("div", { class: `tile motion ${kind} ${t.state || ""}`, "data-device": id },
      el("h3", { text: id }, el("span", { class: "kind", text: kind === "trigger" ? "trigger box" : "turntable" })),
      dl([...rows, ["last check", dashClock(t.checked_at) || "never"], ["last error", t.last_error || "none"]]));
  }));
}

function renderBoard() {
  const rig = currentRig("#dash-rig");
  if (!rig || !S.board) return;
  renderHosts(rig);
  renderMotion(rig);
  $("#camera-thresholds").textContent = `Bars: battery warns below ${DASH_BATTERY.warn} %, bad below ${DASH_BATTERY.bad} %; ` +
    `card warns below ${fmtBytes(DASH_CARD.warn)} free, bad below ${fmtBytes(DASH_CARD.bad)} (bar full at ${fmtBytes(DASH_CARD.full)} free).`;
  $("#camera-tiles").replaceChildren(...rig.cameras.map(cameraTile));
  const lights = $("#light-tiles");
  lights.replaceChildren();
  const levels = (S.board.lights && S.board.lights.levels) || {};
  for (const output of rig.light_outputs) {
    const t = S.board.tiles[output.id] || {};
    lights.append(el("div", { class: `tile output ${t.state || ""}`, "data-device": output.id },
      el("h3", { text: `${output.id} (output)` }),
      dl([["driver", output.driver], ["universes", output.universes.join(", ")],
          ["preflight", t.preflight ? t.preflight.detail : null], ["last error", t.last_error || "none"]])));
  }
  for (const fixture of rig.fixtures) {
    const level = levels[fixture.id] || {};
    lights.append(el("div", { class: "tile fixture", "data-device": fixture.id },
      el("h3", { text: fixture.id }),
      dl([["at", `${fixture.output} u${fixture.universe} @${fixture.address}`], ["profile", `${fixture.profile} ${fixture.mode}`],
          ["intensity", level.intensity == null ? "–" : `${Math.round(level.intensity * 100)} %`]])));
  }
  const body = $("#preflight-results tbody");
  body.replaceChildren();
  // "not measured" is a verdict of its own: an ok with "not measured yet" beside it would read as a pass.
  const verdicts = { ok: ["result-ok", "ok"], failed: ["result-bad", "FAILED"], "not measured": ["result-unmeasured", "not measured"] };
  for (const result of S.board.preflight.results || []) {
    const [cls, word] = verdicts[result.verdict || (result.ok ? "ok" : "failed")];
    body.append(el("tr", { "data-device": result.device_id }, el("td", { text: result.device_id }),
      el("td", { class: cls, text: word }), el("td", { text: result.detail })));
  }
  const p = S.board.preflight;
  $("#preflight-summary").textContent = p.running ? "preflight running…" : p.ok == null ? "" :
    p.ok ? `preflight passed (${p.results.length} checks)` : `preflight FAILED: ${(p.problems || []).length} problem(s)`;
}

on("board", renderBoard);
on("snapshot", renderBoard);
on("ready", () => {
  $("#dash-rig").addEventListener("change", renderBoard);
  $("#check-cameras").addEventListener("click", (e) => act(e.target, () => api("POST", `/api/devices/check?rig=${encodeURIComponent(rigId("#dash-rig"))}`)));
  $("#run-preflight").addEventListener("click", (e) => act(e.target, () => api("POST", `/api/preflight?rig=${encodeURIComponent(rigId("#dash-rig"))}`)));
});
