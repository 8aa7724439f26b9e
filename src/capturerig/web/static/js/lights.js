// The lights page: scenes, the plan's lighting states (by name, the active one marked), each fixture's slider with
// a swatch of the colour it was sent, and the photosensitivity governor with the history of changes and their times.
"use strict";

const lightsClock = (at) => {
  const d = new Date(at * 1000);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
};

// The server keeps the history (web/_lights_view.py LightsHistory), so a page opened later shows it too.
function renderLightsHistory(entries) {
  $("#governor-history").replaceChildren(...(entries || []).map((h) => {
    const what = h.name && h.name !== h.scene ? `${h.name} (${h.scene})` : h.scene;
    return el("li", { class: h.waited_s > 0 ? "held" : "", "data-scene": h.scene },
      el("time", { class: "clock", text: lightsClock(h.at), dateTime: new Date(h.at * 1000).toISOString() }),
      el("span", { text: ` ${what}: ${h.verdict}` }));
  }));
}

// Mark what is on now: a scene / state id from the panel's own change or from the session's take.
function markActiveLight(sceneId) {
  for (const button of $$("#lights button[data-scene], #blackout")) {
    const id = button.id === "blackout" ? "blackout" : button.dataset.scene;
    const on = sceneId != null && id === sceneId;
    button.classList.toggle("active", on);
    button.setAttribute("aria-pressed", on ? "true" : "false");
  }
  const named = sceneId == null ? null : $(`#lights button[data-scene="${CSS.escape(sceneId)}"] .scene-name`);
  $("#lights-active").textContent = sceneId == null ? "nothing set from the panel yet"
    : named && named.textContent !== sceneId ? `${named.textContent} (${sceneId})` : sceneId;
}

// A fixture's swatch: the display colour of the channels it was sent (server: web/_lights_view.py fixture_swatch).
function renderLightSwatches(swatches) {
  for (const row of $$("#fixtures .slider[data-fixture]")) {
    const swatch = (swatches || {})[row.dataset.fixture];
    const box = $(".swatch", row);
    box.style.backgroundColor = swatch ? swatch.hex : "";
    box.classList.toggle("unknown", !swatch);
    $(".colour", row).textContent = swatch ? swatch.text : "not set";
    box.title = swatch ? `${swatch.text} (${swatch.hex})` : "not set from the panel yet";
  }
}

function lightSceneButton(id, name) {
  const button = el("button", { "data-scene": id, title: id, onclick: (e) => setScene(id, e.currentTarget) },
    el("span", { class: "scene-name", text: name || id }));
  if (name && name !== id) button.append(el("span", { class: "scene-id", text: id }));
  return button;
}

async function loadLights() {
  if (!currentRig("#lights-rig")) return;  // every rig file has an error: the dashboard says which and why
  const rig = rigId("#lights-rig");
  const plans = currentRig("#lights-rig").plans;
  if ($("#lights-plan").options.length !== plans.length) fillSelect($("#lights-plan"), plans.map((p) => [p.id, p.name]));
  const plan = $("#lights-plan").value;
  const data = await api("GET", `/api/lights?rig=${encodeURIComponent(rig)}&plan=${encodeURIComponent(plan)}`)
    .catch((e) => { report(e); return null; });
  if (!data) return;
  const limit = data.flash_limit;
  $("#governor-limit").textContent = `at most ${limit.max_flashes} flashes per ${limit.window_s} s (${limit.source})`;
  const scenes = data.scenes.filter((s) => s !== "blackout");
  $("#scenes").replaceChildren(...(scenes.length ? scenes.map((s) => lightSceneButton(s, (data.scene_names || {})[s]))
    : [el("span", { class: "muted", text: "this rig has no scenes of its own (blackout is above)" })]));
  $("#plan-states").replaceChildren(...data.plan_states.map((s) => lightSceneButton(s.id, s.name)));
  const fixtures = currentRig("#lights-rig").fixtures;
  $("#fixtures").replaceChildren(...fixtures.map((f) => {
    const level = (data.levels[f.id] || {}).intensity || 0;
    const value = el("span", { class: "level", text: `${Math.round(level * 100)}%` });
    const input = el("input", { type: "range", min: 0, max: 100, step: 1, value: Math.round(level * 100), "data-fixture": f.id });
    input.addEventListener("input", () => { value.textContent = `${input.value}%`; });
    input.addEventListener("change", () => setFixture(f.id, Number(input.value) / 100, input));
    return el("label", { class: "slider", "data-fixture": f.id }, el("span", { text: f.id }),
      el("span", { class: "swatch", role: "img", ariaLabel: `colour of ${f.id}` }), input, value,
      el("span", { class: "colour" }));
  }));
  renderLightSwatches(data.swatches);
  renderLightsHistory(data.history);
  markActiveLight(S.run && S.run.running && S.run.lights ? S.run.lights.lighting_id : data.active);
  renderLightsVerdict();
}

// Light changes go out one after another, in the order the technician asked for them.
let lightQueue = Promise.resolve();
function queueLight(work) { lightQueue = lightQueue.then(work, work); return lightQueue; }

function setScene(name, button) {
  return queueLight(() => act(button, () => api("POST", "/api/lights/scene",
                                                { name, rig: rigId("#lights-rig"), plan: $("#lights-plan").value || null })));
}

function setFixture(id, level, input) {
  const levels = {}; levels[id] = { intensity: level, red: 1, green: 1, blue: 1, white: 1 };
  return queueLight(() => act(input, () => api("POST", "/api/lights/fixtures", { rig: rigId("#lights-rig"), levels })));
}

// The board's lights view is the panel's last change on any rig: show it only on that rig's page.
function boardLightsOfThisRig() {
  const lights = S.board && S.board.lights;
  const rig = currentRig("#lights-rig");
  return lights && lights.verdict && rig && lights.rig === rig.name ? lights : null;
}

function renderLightsVerdict() {
  const lights = boardLightsOfThisRig();
  if (!lights) return;
  const box = $("#governor");
  box.className = `verdict ${lights.verdict.waited_s > 0 ? "held" : ""}`;
  $("#governor-verdict").textContent = `${lights.scene}: ${lights.verdict.text}` +
    (lights.name && lights.name !== lights.scene ? ` — ${lights.name}` : "");
  for (const input of $$("#fixtures input[data-fixture]")) {
    const level = ((lights.levels || {})[input.dataset.fixture] || {}).intensity;
    if (level != null && document.activeElement !== input) {
      input.value = Math.round(level * 100); input.nextSibling.textContent = `${input.value}%`;
    }
  }
}

function onLightsChanged() {
  const lights = boardLightsOfThisRig();
  if (!lights) return;
  if (lights.history) renderLightsHistory(lights.history);
  if (lights.swatches) renderLightSwatches(lights.swatches);
  markActiveLight(lights.scene);
  renderLightsVerdict();
}

function renderGovernorRun() {
  const l = S.run && S.run.lights;
  if (!l) return;
  $("#governor").className = `verdict ${l.governor_wait_s > 0 ? "held" : ""}`;
  $("#governor-verdict").textContent = `session take ${l.take_id}: ${l.lighting_id}` +
    (l.governor_wait_s > 0 ? `, held back ${l.governor_wait_s.toFixed(2)} s` : ", no wait needed");
  markActiveLight(l.lighting_id);
  if ((location.hash || "#dashboard") === "#lights" && currentRig("#lights-rig")) refreshLightsHistory();
}

// A session's take joined the server's history (web/_devices.py PanelLights.note_session): read it again.
async function refreshLightsHistory() {
  const rig = rigId("#lights-rig"), plan = $("#lights-plan").value;
  const data = await api("GET", `/api/lights?rig=${encodeURIComponent(rig)}&plan=${encodeURIComponent(plan)}`)
    .catch(() => null);  // the next change reads it again; a session must not raise panels for this
  if (data) renderLightsHistory(data.history);
}

on("lights", onLightsChanged);
on("run-lights", renderGovernorRun);
on("finished", () => { if ((location.hash || "#dashboard") === "#lights") loadLights(); });  // lights safe now
on("tab", (tab) => { if (tab === "lights") loadLights(); });
on("ready", () => {
  $("#lights-rig").addEventListener("change", () => { $("#lights-plan").replaceChildren(); loadLights(); });
  $("#lights-plan").addEventListener("change", loadLights);
  $("#blackout").addEventListener("click", (e) => queueLight(() => act(e.target, () => api("POST", `/api/lights/blackout?rig=${encodeURIComponent(rigId("#lights-rig"))}`))));
});
