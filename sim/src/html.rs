//! The timeline of a run as one self-contained HTML page (`--html out.html`): no network, no
//! external assets, so it can be mailed, opened offline or put on a slide.
//!
//! One lane per thread along the event axis (each column one event, labelled with its step and,
//! where it moves, the virtual clock), lock-holding spans, waits, wake-up arrows from the
//! notifier to the thread it woke, the failing event marked, and the narration beside it. Left
//! and right (or a click on an event or a narration line) move a cursor through the run and
//! show the shared state there ([`SharedState`]): who holds what, who waits where, the data.
//!
//! Everything the page shows is computed here; its script only moves the cursor. A test hook,
//! `#keys=ArrowRight,ArrowRight` in the URL, presses keys through the same listener when the
//! page loads, so a headless browser's `--dump-dom` shows the page after stepping.

use std::fmt::Write as _;

use serde::Serialize;

use crate::clock::VirtualTime;
use crate::narrate::{Narration, SharedState};
use crate::report::Failure;
use crate::trace::{EventKind, Trace};

const COLUMN: usize = 30;
const LANE: usize = 44;
const LEFT: usize = 130;
const TOP: usize = 40;

/// What the page's script needs for each event: the state after it and its description.
#[derive(Serialize)]
struct Frame {
    step: u64,
    time: String,
    thread: String,
    what: String,
    state: Vec<String>,
    line: Option<usize>,
}

/// The source a run comes from, for the page to show beside the cursor: its text, and for each
/// event of the trace the line (0-based) where the acting thread stands, when known.
pub struct Source<'a> {
    /// The program's text (a scenario's Python, a script).
    pub text: &'a str,
    /// Per event, the line of `text` it happens at.
    pub line_of: Vec<Option<usize>>,
}

/// The page for a run: `trace`, with `failure` marked and `narration` beside it when the run
/// failed, and `source` with the line of the event at the cursor highlighted. `title` heads the
/// page (`racelab replay condition-buffer/if`).
pub fn timeline(
    title: &str,
    trace: &Trace,
    failure: Option<&Failure>,
    narration: Option<&Narration>,
    source: Option<&Source<'_>>,
) -> String {
    let events = &trace.events;
    let mut threads: Vec<(u32, String)> = Vec::new();
    for e in events {
        if !threads.iter().any(|(id, _)| *id == e.thread_id) {
            threads.push((e.thread_id, e.thread.clone()));
        }
    }
    threads.sort();
    let lane = |name: &str| threads.iter().position(|(_, n)| n == name);
    let x = |i: usize| LEFT + i * COLUMN + COLUMN / 2;
    let y = |l: usize| TOP + l * LANE + LANE / 2;
    let width = LEFT + events.len().max(1) * COLUMN + 40;
    let height = TOP + threads.len().max(1) * LANE + 40;
    let failing = failure.and_then(Failure::failing_event);

    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">"##
    );
    svg.push_str(
        r##"<defs><marker id="arrowhead" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#2a7"/></marker>
<pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff4d6"/><line x1="0" y1="0" x2="0" y2="6" stroke="#e0a800" stroke-width="2"/></pattern></defs>"##,
    );
    // Lanes.
    for (l, (id, name)) in threads.iter().enumerate() {
        let _ = write!(
            svg,
            r##"<g class="lane" data-thread="{}"><rect x="0" y="{}" width="{width}" height="{LANE}" fill="{}"/><text x="8" y="{}" class="lane-name">{} (t{id})</text></g>"##,
            esc(name),
            TOP + l * LANE,
            if l % 2 == 0 { "#f7f7f9" } else { "#ffffff" },
            y(l) + 4,
            esc(name)
        );
    }
    // The step axis and the virtual clock where it moves.
    let mut last_step = None;
    let mut last_time = None;
    for (i, e) in events.iter().enumerate() {
        if last_step != Some(e.step) {
            let _ = write!(svg, r##"<text class="axis" x="{}" y="{}">{}</text>"##, x(i), TOP - 24, e.step);
            last_step = Some(e.step);
        }
        if last_time != Some(e.time_ns) {
            let _ = write!(
                svg,
                r##"<text class="clock" x="{}" y="{}">{}</text>"##,
                x(i),
                TOP - 8,
                VirtualTime::from_nanos(e.time_ns)
            );
            last_time = Some(e.time_ns);
        }
    }
    let _ = write!(svg, r##"<text class="axis-label" x="8" y="{}">step</text>"##, TOP - 24);
    let _ = write!(svg, r##"<text class="axis-label" x="8" y="{}">time</text>"##, TOP - 8);

    // Spans: a lock held (from taking it to releasing it), a wait (from its start to its end).
    let mut open_holds: Vec<(String, String, usize)> = Vec::new(); // thread, object, from
    let mut open_waits: Vec<(String, String, usize)> = Vec::new();
    let mut spans = String::new();
    let mut close = |open: &mut Vec<(String, String, usize)>, t: &str, o: &str, to: usize, class: &str| {
        if let Some(k) = open.iter().position(|(a, b, _)| a == t && b == o) {
            let (t, o, from) = open.remove(k);
            if let Some(l) = lane(&t) {
                span(&mut spans, class, &t, &o, x(from) - COLUMN / 2 + 2, x(to) + COLUMN / 2 - 2, y(l));
            }
        }
    };
    for (i, e) in events.iter().enumerate() {
        let (Some(o), Some(kind)) = (e.object.as_deref(), e.kind.as_ref()) else { continue };
        let t = e.thread.as_str();
        match kind {
            EventKind::Acquired => {
                close(&mut open_waits, t, o, i, "wait");
                if !open_holds.iter().any(|(a, b, _)| a == t && b == o) {
                    open_holds.push((t.into(), o.into(), i));
                }
            }
            EventKind::Released { .. } => close(&mut open_holds, t, o, i, "hold"),
            EventKind::AcquireBlocked { .. } | EventKind::QueueBlocked
                if !open_waits.iter().any(|(a, b, _)| a == t && b == o) =>
            {
                open_waits.push((t.into(), o.into(), i));
            }
            EventKind::GaveUp => close(&mut open_waits, t, o, i, "wait"),
            EventKind::WaitBegin { lock } => {
                if let Some(lock) = lock {
                    close(&mut open_holds, t, lock, i, "hold");
                }
                open_waits.push((t.into(), o.into(), i));
            }
            EventKind::WaitEnd { .. } | EventKind::Get { .. } | EventKind::Put { .. } => {
                close(&mut open_waits, t, o, i, "wait")
            }
            _ => {}
        }
    }
    let end = events.len().saturating_sub(1);
    for (t, o, from) in std::mem::take(&mut open_holds) {
        if let Some(l) = lane(&t) {
            span(&mut spans, "hold open", &t, &o, x(from) - COLUMN / 2 + 2, x(end) + COLUMN / 2 - 2, y(l));
        }
    }
    for (t, o, from) in std::mem::take(&mut open_waits) {
        if let Some(l) = lane(&t) {
            span(&mut spans, "wait open", &t, &o, x(from) - COLUMN / 2 + 2, x(end) + COLUMN / 2 - 2, y(l));
        }
    }
    svg.push_str(&spans);

    // Wake-up arrows: from a notify to where each thread it woke returns from its wait.
    for (i, e) in events.iter().enumerate() {
        let woken: Vec<&str> = match &e.kind {
            Some(EventKind::Notify { woken, .. }) | Some(EventKind::Released { woken }) => {
                woken.iter().map(String::as_str).collect()
            }
            Some(EventKind::Put { woken: Some(w), .. }) | Some(EventKind::Get { woken: Some(w), .. }) => {
                vec![w]
            }
            _ => continue,
        };
        for w in woken {
            let (Some(from), Some(to)) = (lane(&e.thread), lane(w)) else { continue };
            let back = events[i + 1..]
                .iter()
                .position(|n| n.thread == w && n.object == e.object && n.kind.is_some())
                .map_or(i, |k| i + 1 + k);
            let _ = write!(
                svg,
                r##"<line class="arrow wake" data-from="{}" data-to="{}" x1="{}" y1="{}" x2="{}" y2="{}" stroke="#2a7" stroke-width="2" marker-end="url(#arrowhead)"><title>{} woke {} (step {})</title></line>"##,
                esc(&e.thread),
                esc(w),
                x(i),
                y(from),
                x(back),
                if to > from { y(to) - 10 } else { y(to) + 10 },
                esc(&e.thread),
                esc(w),
                e.step
            );
        }
    }
    // The events, one dot each; the failing one marked.
    for (i, e) in events.iter().enumerate() {
        let Some(l) = lane(&e.thread) else { continue };
        let fail = failing == Some(i);
        let _ = write!(
            svg,
            r##"<circle class="event{}" data-index="{i}" cx="{}" cy="{}" r="{}"><title>step {} {}: {} {} {}</title></circle>"##,
            if fail { " failing" } else { "" },
            x(i),
            y(l),
            if fail { 8 } else { 5 },
            e.step,
            esc(&e.thread),
            esc(&e.operation),
            esc(e.object.as_deref().unwrap_or("-")),
            esc(&e.result)
        );
        if fail {
            let _ = write!(
                svg,
                r##"<g id="failure-marker" class="failure-marker"><line x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="#d22" stroke-width="2" stroke-dasharray="4 3"/><text x="{3}" y="{4}" fill="#d22">fails here</text></g>"##,
                x(i),
                TOP,
                height - 30,
                x(i) + 6,
                height - 14
            );
        }
    }
    let _ = write!(
        svg,
        r##"<line id="cursor" x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="#36c" stroke-width="3" opacity="0.5"/></svg>"##,
        x(0),
        TOP,
        height - 30
    );

    // Frames: per event, the state after it.
    let frames: Vec<Frame> = events
        .iter()
        .enumerate()
        .map(|(i, e)| Frame {
            step: e.step,
            time: VirtualTime::from_nanos(e.time_ns).to_string(),
            thread: e.thread.clone(),
            what: format!("{} {} {}", e.operation, e.object.as_deref().unwrap_or("-"), e.result),
            state: SharedState::at(trace, i + 1).lines(),
            line: source.and_then(|s| s.line_of.get(i).copied().flatten()),
        })
        .collect();
    let frames_json = serde_json::to_string(&frames).unwrap_or_else(|_| "[]".into()).replace("</", "<\\/");

    let mut side = String::new();
    if let Some(src) = source {
        side.push_str(r##"<h2>Source</h2><pre id="source">"##);
        for (n, line) in src.text.lines().enumerate() {
            let _ = write!(side, r##"<span class="src" data-line="{n}">{}</span>"##, esc(line));
        }
        side.push_str("</pre>");
    }
    if let Some(f) = failure {
        let _ = write!(
            side,
            r##"<p id="diagnosis"><b>{}</b>: {}</p>"##,
            f.diagnosis.kind,
            esc(&f.diagnosis.explanation)
        );
    }
    if let Some(n) = narration {
        side.push_str(r##"<h2>What happened</h2><ol id="narration">"##);
        for l in &n.lines {
            let _ = write!(
                side,
                r##"<li class="{}" data-index="{}"><span class="step">step {}</span> {}</li>"##,
                if l.deciding { "deciding" } else { "" },
                l.event.or(failing).unwrap_or(0),
                l.step,
                esc(&l.text)
            );
        }
        let _ = write!(side, r##"</ol><p id="fix"><b>Fix:</b> {}</p>"##, esc(&n.fix));
    }
    format!(
        r##"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 16px; color: #222; }}
h1 {{ font-size: 18px; }} h2 {{ font-size: 15px; margin: 12px 0 4px; }}
#layout {{ display: flex; gap: 16px; align-items: flex-start; }}
#scroll {{ overflow-x: auto; max-width: 70vw; border: 1px solid #ddd; }}
#side {{ flex: 1; min-width: 280px; }}
.lane-name {{ font-weight: 600; font-size: 12px; }}
.axis, .clock, .axis-label {{ font-size: 10px; fill: #666; text-anchor: middle; }}
.axis-label {{ text-anchor: start; }}
.span.hold {{ fill: #7aa7e6; }} .span.wait {{ fill: url(#hatch); stroke: #e0a800; }}
.span text {{ font-size: 10px; fill: #123; }}
circle.event {{ fill: #444; cursor: pointer; }} circle.event.failing {{ fill: #d22; }}
circle.event.current {{ stroke: #36c; stroke-width: 3; }}
#narration li {{ cursor: pointer; }} #narration li.deciding {{ font-weight: 600; }}
#narration li.deciding::marker {{ content: "* "; color: #d22; }}
#narration li.current {{ background: #e6efff; }}
.step {{ color: #666; font-size: 12px; }}
#state {{ font-family: ui-monospace, monospace; background: #f4f6f8; padding: 8px; white-space: pre; }}
#now {{ font-family: ui-monospace, monospace; }}
#where {{ font-family: ui-monospace, monospace; color: #36c; margin: 4px 0; }}
#source {{ background: #fafafa; border: 1px solid #eee; padding: 6px; font-size: 12px; }}
.src {{ display: block; min-height: 1.2em; }} .src.current-line {{ background: #ffe9a8; }}
kbd {{ border: 1px solid #aaa; border-radius: 3px; padding: 0 4px; }}
</style></head>
<body>
<h1>{title}</h1>
<p>Step through the run with <kbd>&larr;</kbd> <kbd>&rarr;</kbd> (or click an event or a line): the panel shows the shared state after the event at the cursor. Blue bars: a lock held. Hatched bars: a wait. Green arrows: a wake-up, from the notifier to the thread it woke. Red: the failing event.</p>
<div id="layout">
<div id="scroll">{svg}</div>
<div id="side">
<h2>At the cursor</h2>
<div id="now"></div>
<div id="state"></div>
<div id="where"></div>
{side}
</div></div>
<script>
"use strict";
const frames = {frames_json};
let current = 0;
function racelabStep(i) {{
  if (frames.length === 0) return;
  current = Math.max(0, Math.min(frames.length - 1, i));
  const f = frames[current];
  document.getElementById("now").textContent = "event " + (current + 1) + " of " + frames.length + ", step " + f.step + ", " + f.time + ": " + f.thread + " " + f.what;
  document.getElementById("state").textContent = f.state.join("\n");
  document.getElementById("state").setAttribute("data-index", String(current));
  document.querySelectorAll(".src.current-line").forEach(e => e.classList.remove("current-line"));
  const line = f.line === null ? null : document.querySelector('.src[data-line="' + f.line + '"]');
  if (line) line.classList.add("current-line");
  document.getElementById("where").textContent = line ? f.thread + " at: " + line.textContent.trim() : "";
  const dot = document.querySelector('circle.event[data-index="' + current + '"]');
  const cursor = document.getElementById("cursor");
  if (dot) {{ cursor.setAttribute("x1", dot.getAttribute("cx")); cursor.setAttribute("x2", dot.getAttribute("cx")); }}
  document.querySelectorAll(".current").forEach(e => e.classList.remove("current"));
  if (dot) dot.classList.add("current");
  document.querySelectorAll('#narration li[data-index="' + current + '"]').forEach(e => e.classList.add("current"));
}}
document.addEventListener("keydown", ev => {{
  if (ev.key === "ArrowRight") {{ racelabStep(current + 1); ev.preventDefault(); }}
  if (ev.key === "ArrowLeft") {{ racelabStep(current - 1); ev.preventDefault(); }}
  if (ev.key === "Home") racelabStep(0);
  if (ev.key === "End") racelabStep(frames.length - 1);
}});
document.querySelectorAll("[data-index]").forEach(e => {{
  if (e.id !== "state") e.addEventListener("click", () => racelabStep(Number(e.getAttribute("data-index"))));
}});
racelabStep(0);
// Test hook: #keys=ArrowRight,ArrowRight presses those keys through the listener above.
const keys = new URLSearchParams(location.hash.slice(1)).get("keys");
if (keys) keys.split(",").forEach(k => document.dispatchEvent(new KeyboardEvent("keydown", {{ key: k }})));
</script>
</body></html>
"##,
        title = esc(title)
    )
}

fn span(out: &mut String, class: &str, thread: &str, object: &str, x1: usize, x2: usize, y: usize) {
    let (h, dy) = if class.starts_with("hold") { (10, 12) } else { (10, -22) };
    let w = x2.saturating_sub(x1).max(4);
    let _ = write!(
        out,
        r##"<g class="span {class}" data-thread="{t}" data-object="{o}"><rect x="{x1}" y="{}" width="{w}" height="{h}" rx="3"/><text x="{}" y="{}">{o}</text><title>{t} {} {o}</title></g>"##,
        (y as i64 + dy) as usize,
        x1 + 3,
        (y as i64 + dy) as usize + 9,
        if class.starts_with("hold") { "holds" } else { "waits on" },
        t = esc(thread),
        o = esc(object),
    );
}

/// Text safe inside HTML and attribute values.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
