// The lights page: scenes, the plan's lighting states, fixture sliders and the photosensitivity governor.
"use strict";

// The lights page keeps a short history of the panel's own light changes (and the governor's verdicts).
function noteLightChange(lights) {
  if (!lights || !lights.verdict) return;
  const history = $("#governor-history");
  history.prepend(el("li", { class: lights.verdict.waited_s > 0 ? "held" : "", text: `${lights.scene}: ${lights.verdict.text}` }));
  while (history.children.length > 12) history.lastChild.remove();
}

// The lights page: scenes, the plan's lighting states, fixture sliders and the photosensitivity governor.
async function loadLights() {
  const rig = rigId("#lights-rig");
  const plans = currentRig("#lights-rig").plans;
  if ($("#lights-plan").options.length !== plans.length) fillSelect($("#lights-plan"), plans.map((p) => [p.id, p.name]));
  const plan = $("#lights-plan").value;
  const data = await api("GET", `/api/lights?rig=${encodeURIComponent(rig)}&plan=${encodeURIComponent(plan)}`)
    .catch((e) => { toast(e.message); return null; });
  if (!data) return;
  const limit = data.flash_limit;
  $("#governor-limit").textContent = `at most ${limit.max_flashes} flashes per ${limit.window_s} s (${limit.source})`;
  const sceneButton = (name, box) => el("button", { "data-scene": name, text: name, onclick: (e) => setScene(name, e.target) });
  const scenes = data.scenes.filter((s) => s !== "blackout");
  $("#scenes").replaceChildren(...(scenes.length ? scenes.map((s) => sceneButton(s))
    : [el("span", { class: "muted", text: "this rig has no scenes of its own (blackout is above)" })]));
  $("#plan-states").replaceChildren(...data.plan_states.map((s) => {
    const b = sceneButton(s.id); b.title = s.name; return b; }));
  const sliders = $("#fixtures");
  const fixtures = currentRig("#lights-rig").fixtures;
  sliders.replaceChildren(...fixtures.map((f) => {
    const level = (data.levels[f.id] || {}).intensity || 0;
    const value = el("span", { text: `${Math.round(level * 100)}%` });
    const input = el("input", { type: "range", min: 0, max: 100, step: 1, value: Math.round(level * 100), "data-fixture": f.id });
    input.addEventListener("input", () => { value.textContent = `${input.value}%`; });
    input.addEventListener("change", () => setFixture(f.id, Number(input.value) / 100, input));
    return el("label", { class: "slider" }, el("span", { text: f.id }), input, value);
  }));
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

function renderLightsVerdict() {
  const lights = S.board && S.board.lights;
  if (!lights || !lights.verdict) return;
  const box = $("#governor");
  box.className = `verdict ${lights.verdict.waited_s > 0 ? "held" : ""}`;
  $("#governor-verdict").textContent = `${lights.scene}: ${lights.verdict.text}`;
  for (const input of $$("#fixtures input[data-fixture]")) {
    const level = ((lights.levels || {})[input.dataset.fixture] || {}).intensity;
    if (level != null && document.activeElement !== input) {
      input.value = Math.round(level * 100); input.nextSibling.textContent = `${input.value}%`;
    }
  }
}

function renderGovernorRun() {
  const l = S.run && S.run.lights;
  if (!l) return;
  $("#governor").className = `verdict ${l.governor_wait_s > 0 ? "held" : ""}`;
  $("#governor-verdict").textContent = `session take ${l.take_id}: ${l.lighting_id}` +
    (l.governor_wait_s > 0 ? `, held back ${l.governor_wait_s.toFixed(2)} s` : ", no wait needed");
}

on("lights", (value) => { noteLightChange(value); renderLightsVerdict(); });
on("run-lights", renderGovernorRun);
on("tab", (tab) => { if (tab === "lights") loadLights(); });
on("ready", () => {
  $("#lights-rig").addEventListener("change", () => { $("#lights-plan").replaceChildren(); loadLights(); });
  $("#lights-plan").addEventListener("change", loadLights);
  $("#blackout").addEventListener("click", (e) => queueLight(() => act(e.target, () => api("POST", `/api/lights/blackout?rig=${encodeURIComponent(rigId("#lights-rig"))}`))));
});
