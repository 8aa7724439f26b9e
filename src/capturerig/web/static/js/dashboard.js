// The dashboard: capture hosts, cameras, lights and preflight, from the server's device board (web/_views.py).
"use strict";

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

function renderBoard() {
  const rig = currentRig("#dash-rig");
  if (!rig || !S.board) return;
  renderHosts(rig);
  const tiles = $("#camera-tiles");
  tiles.replaceChildren();
  for (const camera of rig.cameras) {
    const t = S.board.tiles[camera.id] || {};
    const drift = t.drift ? Object.entries(t.drift).map(([k, v]) => `${k}: wants ${v.wanted}, reads ${v.reads}`).join("; ") || "none" : null;
    const host = t.host || camera.host;
    tiles.append(el("div", { class: `tile camera ${t.state || ""}`, "data-device": camera.id },
      el("h3", { text: camera.id }, ...(host ? [el("span", { class: "on-host", text: ` @ ${host}` })] : [])),
      dl([["connected", t.connected == null ? "not checked" : t.connected ? "yes" : "no"],
          ["serial", t.serial ? `${t.serial}${t.serial_ok === false ? " (rig: " + camera.serial + ")" : ""}` : camera.serial],
          ["battery", t.battery_percent == null ? null : `${Math.round(t.battery_percent)} %`],
          ["card free", fmtBytes(t.free_bytes)],
          ["settings drift", drift],
          ["preflight", t.preflight ? (t.preflight.ok ? "ok" : "FAILED") : null],
          ["last error", t.last_error ? (host && !t.last_error.includes(host) ? `${t.last_error} (host ${host})` : t.last_error) : "none"]])));
  }
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
  for (const result of S.board.preflight.results || []) {
    body.append(el("tr", { "data-device": result.device_id }, el("td", { text: result.device_id }),
      el("td", { class: result.ok ? "result-ok" : "result-bad", text: result.ok ? "ok" : "FAILED" }),
      el("td", { text: result.detail })));
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
