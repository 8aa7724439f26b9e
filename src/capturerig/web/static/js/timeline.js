// A session's timeline (GET /api/sessions/{name}/timeline, web/_timeline.py): every event with its clock time and
// "+m:ss" from the start. renderTimeline(box, entries) is shared: the session page draws the current session's,
// the past-session view a finished one's.
"use strict";

// Local clock time of epoch seconds, 24 h with seconds: the technician compares it with the wall clock.
function clockTime(t) {
  return new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
}

// Seconds as m:ss (h:mm:ss past an hour); a session of a studio day runs for hours.
function fmtSince(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

// Fill `box` with `entries` ({t, kind, text, take_id, level}, oldest first): list items in an <ol> or <ul>,
// else one <ol class="timeline"> inside it. Every server value goes in as text.
function renderTimeline(box, entries) {
  const start = entries.length ? entries[0].t : 0;
  const items = entries.map((e) => {
    const item = el("li", { class: `tl ${e.level}`, "data-kind": e.kind },
      el("time", { class: "clock", text: clockTime(e.t), dateTime: new Date(e.t * 1000).toISOString() }),
      el("span", { class: "since", text: `+${fmtSince(e.t - start)}` }),
      el("span", { class: "what", text: e.text }));
    if (e.take_id) item.dataset.take = e.take_id;
    return item;
  });
  if (!items.length) items.push(el("li", { class: "tl muted", text: "nothing recorded yet" }));
  if (box.tagName === "OL" || box.tagName === "UL") box.replaceChildren(...items);
  else box.replaceChildren(el("ol", { class: "timeline" }, ...items));
}
