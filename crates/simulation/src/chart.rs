//! The charts of `docs/simulation/rearm.svg` and `docs/simulation/faults.svg`: runs side by side
//! (and, for the faults, in rows of two), each with the backlog (visible plus in flight), the
//! replica count and every invocation over time, on scales shared by the runs of a row. A run with
//! faults also shows when each fault was in effect, the failed invocations, the heartbeat's
//! invocations and the wake alarm.
//!
//! Written by hand as SVG text: the chart needs lines, polygons, markers and labels, all of
//! which SVG says directly, so no plotting library (and its font handling) is pulled in, and the
//! output is byte-for-byte the same from run to run.
//!
//! Pure: returns the SVG as a string.

use crate::model::AlarmKind;
use crate::timeline::Timeline;
use queue_scaler_core::{AlarmState, Direction};
use std::fmt::Write as _;

/// One run to draw.
#[derive(Debug, Clone, Copy)]
pub struct Panel<'a> {
    /// Its heading.
    pub title: &'a str,
    /// Lines of numbers under it.
    pub subtitle: &'a [String],
    /// The run.
    pub timeline: &'a Timeline,
    /// The scale-up alarm's threshold, in visible messages.
    pub threshold: f64,
}

const PANEL_WIDTH: f64 = 600.0;
const HEIGHT: f64 = 620.0;
const LEFT: f64 = 62.0;
const RIGHT: f64 = 52.0;
const TOP: f64 = 104.0;
const BOTTOM: f64 = 128.0;

/// The faults chart: each panel is shorter, its legend is below all rows.
const FAULT_PANEL_HEIGHT: f64 = 460.0;
const FAULT_BOTTOM: f64 = 62.0;
const FAULT_LEGEND_HEIGHT: f64 = 96.0;

const BACKLOG: &str = "#4e79a7";
const REPLICAS: &str = "#e8772e";
const THRESHOLD: &str = "#e15759";
const UP: &str = "#2f8f3a";
const DOWN: &str = "#8b5fa8";
const WAKE: &str = "#17a2b8";
const FAULT: &str = "#e15759";
const FAILED: &str = "#c0392b";
const RECOVERED: &str = "#1b7837";

/// Shared scales: minutes across, messages on the left, replicas on the right; and the height of
/// the panel they are drawn in.
struct Scales {
    minutes: f64,
    messages: f64,
    replicas: f64,
    panel_height: f64,
    bottom: f64,
}

impl Scales {
    fn width() -> f64 {
        PANEL_WIDTH - LEFT - RIGHT
    }

    fn height(&self) -> f64 {
        self.panel_height - TOP - self.bottom
    }

    fn x(&self, minute: f64) -> f64 {
        LEFT + minute / self.minutes * Self::width()
    }

    fn y_messages(&self, messages: f64) -> f64 {
        TOP + self.height() * (1.0 - messages / self.messages)
    }

    fn y_replicas(&self, replicas: f64) -> f64 {
        TOP + self.height() * (1.0 - replicas / self.replicas)
    }

    /// The messages axis: its top and the step between grid lines.
    fn message_step(&self) -> f64 {
        if self.messages > 1000.0 {
            200.0
        } else if self.messages > 100.0 {
            100.0
        } else if self.messages > 20.0 {
            10.0
        } else {
            2.0
        }
    }
}

/// A number as SVG wants it: at most one decimal.
fn n(v: f64) -> String {
    // No "-0" for a value that rounds to zero.
    let v = if v.abs() < 0.05 { 0.0 } else { v };
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_owned).unwrap_or(s)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Draw the runs side by side.
pub fn render(panels: &[Panel<'_>]) -> String {
    let periods = panels
        .iter()
        .map(|p| p.timeline.rows.len())
        .max()
        .unwrap_or(1)
        .max(1);
    let peak = panels
        .iter()
        .flat_map(|p| p.timeline.rows.iter().map(|r| r.backlog()))
        .max()
        .unwrap_or(0);
    let max_replicas = panels
        .iter()
        .map(|p| p.timeline.policy.max)
        .max()
        .unwrap_or(1);
    let scales = Scales {
        minutes: periods as f64,
        // Message counts are far below 2^52, where f64 is exact.
        // Headroom of 200 keeps the threshold line clear of the min replicas line.
        messages: ((peak as f64 / 100.0).ceil() * 100.0 + 200.0).max(300.0),
        replicas: f64::from(max_replicas + 2),
        panel_height: HEIGHT,
        bottom: BOTTOM,
    };
    let width = PANEL_WIDTH * panels.len() as f64;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="Helvetica, Arial, sans-serif" font-size="12">"#,
        w = n(width),
        h = n(HEIGHT),
    );
    let _ = writeln!(
        svg,
        r##"<rect width="{}" height="{}" fill="#ffffff"/>"##,
        n(width),
        n(HEIGHT)
    );
    for (i, panel) in panels.iter().enumerate() {
        let _ = writeln!(
            svg,
            r#"<g transform="translate({},0)">"#,
            n(PANEL_WIDTH * i as f64)
        );
        draw_panel(&mut svg, panel, &scales);
        svg.push_str("</g>\n");
    }
    draw_legend(&mut svg);
    svg.push_str("</svg>\n");
    svg
}

fn draw_panel(svg: &mut String, panel: &Panel<'_>, s: &Scales) {
    let rows = &panel.timeline.rows;
    let policy = panel.timeline.policy;
    let (x0, x1) = (s.x(0.0), s.x(s.minutes));
    let (y0, y1) = (s.y_messages(0.0), s.y_messages(s.messages));
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="26" font-size="16" font-weight="bold">{}</text>"#,
        n(LEFT),
        escape(panel.title)
    );
    for (i, line) in panel.subtitle.iter().enumerate() {
        let _ = writeln!(
            svg,
            r##"<text x="{}" y="{}" fill="#333333">{}</text>"##,
            n(LEFT),
            n(48.0 + 17.0 * i as f64),
            escape(line)
        );
    }

    // When each fault was in effect: shaded, labelled at the top. A fault without duration (the
    // clock starting with messages at zero replicas) is a line.
    for fault in &panel.timeline.faults {
        let (fx0, fx1) = (s.x(fault.start as f64), s.x(fault.end as f64));
        if fault.end > fault.start {
            let _ = writeln!(
                svg,
                r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{FAULT}" fill-opacity="0.1"/>"#,
                n(fx0),
                n(y1),
                n(fx1 - fx0),
                n(y0 - y1)
            );
        } else {
            let _ = writeln!(
                svg,
                r#"<line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="{FAULT}" stroke-dasharray="3 3"/>"#,
                n(y1),
                n(y0),
                x = n(fx0),
            );
        }
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" fill="{FAULT}" font-size="11">{}</text>"#,
            n(fx0 + 4.0),
            n(y1 + 44.0),
            escape(fault.kind.describe())
        );
    }

    // When the run recovered from its faults (docs/never-stuck.md).
    if let Some(at) = panel.timeline.recovery().and_then(|r| r.at) {
        let x = s.x(at as f64 + 1.0);
        let _ = writeln!(
            svg,
            r#"<line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="{RECOVERED}" stroke-width="1.5" stroke-dasharray="5 3"/><text x="{}" y="{}" fill="{RECOVERED}" font-size="11">recovered</text>"#,
            n(y1),
            n(y0),
            n(s.x(at as f64 + 1.0) + 4.0),
            n(y0 - 32.0),
            x = n(x),
        );
    }

    // Grid and left axis: messages.
    let step = s.message_step();
    let mut m = 0.0;
    while m <= s.messages {
        let y = s.y_messages(m);
        let _ = writeln!(
            svg,
            r##"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="#e4e4e4"/><text x="{}" y="{}" text-anchor="end" fill="{BACKLOG}">{}</text>"##,
            n(x0),
            n(x1),
            n(x0 - 6.0),
            n(y + 4.0),
            n(m),
            y = n(y),
        );
        m += step;
    }
    let _ = writeln!(
        svg,
        r#"<text transform="translate(16,{}) rotate(-90)" text-anchor="middle" fill="{BACKLOG}">messages waiting</text>"#,
        n((y0 + y1) / 2.0)
    );

    // Right axis: replicas.
    for r in (0..=(s.replicas as i32)).step_by(2) {
        let y = s.y_replicas(f64::from(r));
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" fill="{REPLICAS}">{r}</text>"#,
            n(x1 + 6.0),
            n(y + 4.0)
        );
    }
    let _ = writeln!(
        svg,
        r#"<text transform="translate({},{}) rotate(90)" text-anchor="middle" fill="{REPLICAS}">replicas</text>"#,
        n(x1 + 36.0),
        n((y0 + y1) / 2.0)
    );

    // Bottom axis: minutes.
    for minute in (0..=(s.minutes as usize)).step_by(5) {
        let x = s.x(minute as f64);
        let _ = writeln!(
            svg,
            r##"<line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="#999999"/><text x="{x}" y="{}" text-anchor="middle">{minute}</text>"##,
            n(y0),
            n(y0 + 5.0),
            n(y0 + 18.0),
            x = n(x),
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">minute (one alarm period each)</text>"#,
        n((x0 + x1) / 2.0),
        n(y0 + 34.0)
    );

    // Backlog: the datapoint of period p is taken at its end, minute p + 1.
    let mut points = vec![format!("{},{}", n(x0), n(y0))];
    for r in rows {
        points.push(format!(
            "{},{}",
            n(s.x(r.period as f64 + 1.0)),
            n(s.y_messages(r.backlog() as f64))
        ));
    }
    let line = points.join(" ");
    let last_x = rows.last().map_or(x0, |r| s.x(r.period as f64 + 1.0));
    let _ = writeln!(
        svg,
        r#"<polygon points="{line} {},{}" fill="{BACKLOG}" fill-opacity="0.22"/>"#,
        n(last_x),
        n(y0)
    );
    let _ = writeln!(
        svg,
        r#"<polyline points="{line}" fill="none" stroke="{BACKLOG}" stroke-width="2"/>"#
    );

    // The scale-up threshold, when it is on the scale.
    if panel.threshold <= s.messages {
        let ty = s.y_messages(panel.threshold);
        let _ = writeln!(
            svg,
            r#"<line x1="{}" y1="{ty}" x2="{}" y2="{ty}" stroke="{THRESHOLD}" stroke-dasharray="6 4"/>"#,
            n(x0),
            n(x1),
            ty = n(ty),
        );
    }

    // Bounds and replicas: a step that changes when an invocation writes.
    for bound in [policy.min, policy.max] {
        let y = n(s.y_replicas(f64::from(bound)));
        let _ = writeln!(
            svg,
            r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{REPLICAS}" stroke-opacity="0.5" stroke-dasharray="2 3"/>"#,
            n(x0),
            n(x1),
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="end" fill="{REPLICAS}">max {}</text>"#,
        n(x1 - 4.0),
        n(s.y_replicas(f64::from(policy.max)) - 5.0),
        policy.max
    );
    let start = rows.first().map_or(policy.min, |r| {
        r.scale_up
            .invocation
            .or(r.scale_down.invocation)
            .map_or(r.replicas, |i| i.from)
    });
    let mut path = format!("M{},{}", n(x0), n(s.y_replicas(f64::from(start))));
    for r in rows {
        let _ = write!(
            path,
            " H{} V{}",
            n(s.x(r.period as f64 + 1.0)),
            n(s.y_replicas(f64::from(r.replicas)))
        );
    }
    let _ = write!(path, " H{}", n(x1));
    let _ = writeln!(
        svg,
        r#"<path d="{path}" fill="none" stroke="{REPLICAS}" stroke-width="2.5"/>"#
    );

    // When each alarm was in ALARM after its evaluation: re-armed alarms fire again each period,
    // an alarm left in ALARM fires no more.
    for (k, (kind, color)) in [
        (AlarmKind::High, UP),
        (AlarmKind::Low, DOWN),
        (AlarmKind::Wake, WAKE),
    ]
    .into_iter()
    .enumerate()
    {
        let y = y1 + 8.0 + 10.0 * k as f64;
        for r in rows
            .iter()
            .filter(|r| r.cell(kind).is_some_and(|c| c.state == AlarmState::Alarm))
        {
            // Centred on the minute the evaluation ends, cut at the frame.
            let start = s.x(r.period as f64 + 0.5);
            let end = s.x(r.period as f64 + 1.5).min(x1);
            let _ = writeln!(
                svg,
                r#"<rect x="{}" y="{}" width="{}" height="6" fill="{color}" fill-opacity="0.55"/>"#,
                n(start),
                n(y),
                n(end - start),
            );
        }
    }

    // Invocations, on the replica line at the count they left; a failed one is a cross.
    for r in rows {
        for kind in AlarmKind::ALL {
            if let Some(i) = r.cell(kind).and_then(|c| c.invocation) {
                let x = s.x(r.period as f64 + 1.0);
                let y = s.y_replicas(f64::from(i.to));
                if i.failed.is_some() {
                    cross(svg, x, y);
                } else {
                    marker(svg, kind.direction(), x, y, i.applied);
                }
            }
        }
    }

    // The heartbeat's invocations, at the bottom: a diamond per function, filled when it acted
    // on an alarm in ALARM, crossed when it failed.
    for r in rows {
        for (k, (beat, color)) in r.heartbeat.iter().zip([UP, DOWN]).enumerate() {
            let Some(beat) = beat else {
                continue;
            };
            let (x, y) = (s.x(r.period as f64 + 1.0), y0 - 9.0 - 13.0 * k as f64);
            diamond(svg, color, x, y, beat.acted > 0);
            if beat.invocation.failed.is_some() {
                cross(svg, x, y);
            }
        }
    }
    let _ = writeln!(
        svg,
        r##"<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#999999"/>"##,
        n(x0),
        n(y1),
        n(x1 - x0),
        n(y0 - y1)
    );
}

/// A triangle pointing the way the function scales: filled when it changed the replica count,
/// hollow when it found nothing to change.
fn marker(svg: &mut String, direction: Direction, x: f64, y: f64, filled: bool) {
    let (color, points) = match direction {
        Direction::Up => (
            UP,
            format!(
                "{},{} {},{} {},{}",
                n(x),
                n(y - 13.0),
                n(x - 5.0),
                n(y - 4.0),
                n(x + 5.0),
                n(y - 4.0)
            ),
        ),
        Direction::Down => (
            DOWN,
            format!(
                "{},{} {},{} {},{}",
                n(x),
                n(y + 13.0),
                n(x - 5.0),
                n(y + 4.0),
                n(x + 5.0),
                n(y + 4.0)
            ),
        ),
    };
    let fill = if filled { color } else { "#ffffff" };
    let _ = writeln!(
        svg,
        r#"<polygon points="{points}" fill="{fill}" stroke="{color}" stroke-width="1.5"/>"#
    );
}

/// A failed invocation: a red cross.
fn cross(svg: &mut String, x: f64, y: f64) {
    let _ = writeln!(
        svg,
        r#"<path d="M{},{} L{},{} M{},{} L{},{}" stroke="{FAILED}" stroke-width="2.2"/>"#,
        n(x - 5.0),
        n(y - 5.0),
        n(x + 5.0),
        n(y + 5.0),
        n(x - 5.0),
        n(y + 5.0),
        n(x + 5.0),
        n(y - 5.0)
    );
}

/// A heartbeat invocation: a diamond in the function's colour, filled when it acted.
fn diamond(svg: &mut String, color: &str, x: f64, y: f64, filled: bool) {
    let fill = if filled { color } else { "#ffffff" };
    let _ = writeln!(
        svg,
        r#"<polygon points="{},{} {},{} {},{} {},{}" fill="{fill}" stroke="{color}" stroke-width="1.2"/>"#,
        n(x),
        n(y - 5.0),
        n(x + 5.0),
        n(y),
        n(x),
        n(y + 5.0),
        n(x - 5.0),
        n(y)
    );
}

fn draw_legend(svg: &mut String) {
    type Swatch<'a> = &'a dyn Fn(f64, f64) -> String;
    let items: [(Swatch<'_>, &str); 6] = [
        (
            &|x, y| {
                format!(
                    r#"<rect x="{}" y="{}" width="20" height="10" fill="{BACKLOG}" fill-opacity="0.4" stroke="{BACKLOG}"/>"#,
                    n(x),
                    n(y - 5.0)
                )
            },
            "messages waiting (visible + in flight)",
        ),
        (
            &|x, y| {
                format!(
                    r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{THRESHOLD}" stroke-dasharray="6 4"/>"#,
                    n(x),
                    n(x + 20.0),
                    y = n(y)
                )
            },
            "scale-up threshold (100 visible)",
        ),
        (
            &|x, y| {
                format!(
                    r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{REPLICAS}" stroke-width="2.5"/>"#,
                    n(x),
                    n(x + 20.0),
                    y = n(y)
                )
            },
            "replicas (dotted: min and max)",
        ),
        (
            &|x, y| {
                let mut s = String::new();
                marker(&mut s, Direction::Up, x + 4.0, y + 7.0, true);
                marker(&mut s, Direction::Down, x + 16.0, y - 7.0, true);
                s
            },
            "scale-up / scale-down invocation that changed replicas",
        ),
        (
            &|x, y| {
                let mut s = String::new();
                marker(&mut s, Direction::Up, x + 4.0, y + 7.0, false);
                marker(&mut s, Direction::Down, x + 16.0, y - 7.0, false);
                s
            },
            "invocation with nothing to change (at a bound)",
        ),
        (
            &|x, y| {
                format!(
                    r#"<rect x="{}" y="{}" width="20" height="5" fill="{UP}" fill-opacity="0.55"/><rect x="{}" y="{}" width="20" height="5" fill="{DOWN}" fill-opacity="0.55"/>"#,
                    n(x),
                    n(y - 6.0),
                    n(x),
                    n(y + 1.0)
                )
            },
            "alarm in ALARM (top: scale-up, below: scale-down)",
        ),
    ];
    // Three items a row, at fixed places.
    let places = [
        (0.0, 0.0),
        (290.0, 0.0),
        (560.0, 0.0),
        (0.0, 1.0),
        (390.0, 1.0),
        (730.0, 1.0),
    ];
    for ((swatch, label), (dx, row)) in items.into_iter().zip(places) {
        let (x, y) = (LEFT + dx, HEIGHT - 46.0 + 24.0 * row);
        svg.push_str(&swatch(x, y));
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}">{}</text>"#,
            n(x + 28.0),
            n(y + 4.0),
            escape(label)
        );
    }
}

/// Draw rows of runs, each row on its own scales (shared by its runs), with one legend for all:
/// the faults chart.
pub fn render_rows(rows: &[Vec<Panel<'_>>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(1).max(1);
    let width = PANEL_WIDTH * columns as f64;
    let height = FAULT_PANEL_HEIGHT * rows.len() as f64 + FAULT_LEGEND_HEIGHT;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="Helvetica, Arial, sans-serif" font-size="12">"#,
        w = n(width),
        h = n(height),
    );
    let _ = writeln!(
        svg,
        r##"<rect width="{}" height="{}" fill="#ffffff"/>"##,
        n(width),
        n(height)
    );
    for (j, row) in rows.iter().enumerate() {
        let periods = row
            .iter()
            .map(|p| p.timeline.rows.len())
            .max()
            .unwrap_or(1)
            .max(1);
        let peak = row
            .iter()
            .flat_map(|p| p.timeline.rows.iter().map(|r| r.backlog()))
            .max()
            .unwrap_or(0);
        let max_replicas = row.iter().map(|p| p.timeline.policy.max).max().unwrap_or(1);
        // Counts are far below 2^52, where f64 is exact.
        let peak = peak as f64;
        let messages = if peak <= 8.0 {
            10.0
        } else if peak <= 80.0 {
            ((peak / 10.0).ceil() * 10.0 + 20.0).max(50.0)
        } else {
            ((peak / 100.0).ceil() * 100.0 + 200.0).max(300.0)
        };
        let scales = Scales {
            minutes: periods as f64,
            messages,
            replicas: f64::from(max_replicas + 2),
            panel_height: FAULT_PANEL_HEIGHT,
            bottom: FAULT_BOTTOM,
        };
        for (i, panel) in row.iter().enumerate() {
            let _ = writeln!(
                svg,
                r#"<g transform="translate({},{})">"#,
                n(PANEL_WIDTH * i as f64),
                n(FAULT_PANEL_HEIGHT * j as f64)
            );
            draw_panel(&mut svg, panel, &scales);
            svg.push_str("</g>\n");
        }
    }
    draw_fault_legend(&mut svg, height - FAULT_LEGEND_HEIGHT + 22.0);
    svg.push_str("</svg>\n");
    svg
}

fn draw_fault_legend(svg: &mut String, top: f64) {
    type Swatch<'a> = &'a dyn Fn(f64, f64) -> String;
    let items: [(Swatch<'_>, &str); 9] = [
        (
            &|x, y| {
                format!(
                    r#"<rect x="{}" y="{}" width="20" height="10" fill="{BACKLOG}" fill-opacity="0.4" stroke="{BACKLOG}"/>"#,
                    n(x),
                    n(y - 5.0)
                )
            },
            "messages waiting (visible + in flight)",
        ),
        (
            &|x, y| {
                format!(
                    r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{REPLICAS}" stroke-width="2.5"/>"#,
                    n(x),
                    n(x + 20.0),
                    y = n(y)
                )
            },
            "replicas (dotted: min and max)",
        ),
        (
            &|x, y| {
                format!(
                    r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{THRESHOLD}" stroke-dasharray="6 4"/>"#,
                    n(x),
                    n(x + 20.0),
                    y = n(y)
                )
            },
            "scale-up threshold (100 visible)",
        ),
        (
            &|x, y| {
                let mut s = String::new();
                marker(&mut s, Direction::Up, x + 4.0, y + 7.0, true);
                marker(&mut s, Direction::Down, x + 16.0, y - 7.0, true);
                s
            },
            "scale-up / scale-down invocation that changed replicas",
        ),
        (
            &|x, y| {
                let mut s = String::new();
                marker(&mut s, Direction::Up, x + 4.0, y + 7.0, false);
                marker(&mut s, Direction::Down, x + 16.0, y - 7.0, false);
                s
            },
            "invocation with nothing to change",
        ),
        (
            &|x, y| {
                let mut s = String::new();
                cross(&mut s, x + 10.0, y);
                s
            },
            "invocation that failed",
        ),
        (
            &|x, y| {
                let mut s = String::new();
                diamond(&mut s, UP, x + 4.0, y, true);
                diamond(&mut s, DOWN, x + 16.0, y, false);
                s
            },
            "heartbeat: acted (filled) or found no alarm in ALARM",
        ),
        (
            &|x, y| {
                format!(
                    r#"<rect x="{}" y="{}" width="20" height="4" fill="{UP}" fill-opacity="0.55"/><rect x="{}" y="{}" width="20" height="4" fill="{DOWN}" fill-opacity="0.55"/><rect x="{}" y="{}" width="20" height="4" fill="{WAKE}" fill-opacity="0.55"/>"#,
                    n(x),
                    n(y - 7.0),
                    n(x),
                    n(y - 2.0),
                    n(x),
                    n(y + 3.0)
                )
            },
            "alarm in ALARM after its evaluation: high, low, wake",
        ),
        (
            &|x, y| {
                format!(
                    r#"<rect x="{}" y="{}" width="20" height="12" fill="{FAULT}" fill-opacity="0.15"/>"#,
                    n(x),
                    n(y - 6.0)
                )
            },
            "fault in effect",
        ),
    ];
    for (k, (swatch, label)) in items.into_iter().enumerate() {
        let (x, y) = (LEFT + 400.0 * (k % 3) as f64, top + 26.0 * (k / 3) as f64);
        svg.push_str(&swatch(x, y));
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}">{}</text>"#,
            n(x + 28.0),
            n(y + 4.0),
            escape(label)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Scenario;
    use crate::run::tests::run_in_memory;

    #[test]
    fn the_chart_draws_one_marker_per_invocation_and_a_panel_per_run() {
        let scenario = Scenario::backlog_burst();
        let on = run_in_memory(&scenario, true);
        let off = run_in_memory(&scenario, false);
        let invocations: usize = [&on, &off]
            .iter()
            .flat_map(|t| t.rows.iter())
            .map(|r| {
                usize::from(r.scale_up.invocation.is_some())
                    + usize::from(r.scale_down.invocation.is_some())
            })
            .sum();
        let svg = render(&[
            Panel {
                title: "REARM_ALARM=true",
                subtitle: &["on".to_owned()],
                timeline: &on,
                threshold: 100.0,
            },
            Panel {
                title: "REARM_ALARM=false",
                subtitle: &["off".to_owned(), "two lines".to_owned()],
                timeline: &off,
                threshold: 100.0,
            },
        ]);
        assert!(svg.starts_with("<svg "));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<g transform=").count(), 2);
        let markers = svg.matches(r#"stroke-width="1.5"/>"#).count();
        assert_eq!(
            markers,
            invocations + 4,
            "one per invocation, four in the legend"
        );
        assert!(svg.contains(">two lines</text>"));
        assert!(svg.contains("REARM_ALARM=false"));
    }

    #[test]
    fn the_faults_chart_draws_rows_of_panels_with_faults_failures_heartbeats_and_recovery() {
        use crate::model::{Fault, FaultKind};
        use crate::timeline::Invocation;
        use queue_scaler_io::ErrorClass;
        let mut scenario = Scenario::sustained_load();
        scenario.faults = vec![Fault {
            kind: FaultKind::ScaleApiDown,
            start: 4,
            end: 14,
        }];
        let mut new = run_in_memory(&scenario, true);
        let failed = Invocation {
            failed: Some(ErrorClass::Retryable),
            ..Invocation::done(2, 2, true)
        };
        new.rows[6].scale_up.invocation = Some(failed);
        let zero = run_in_memory(&Scenario::min_zero(), true);
        let beats = [&new, &zero]
            .iter()
            .flat_map(|t| t.rows.iter())
            .map(|r| r.heartbeat.iter().flatten().count())
            .sum::<usize>();
        assert!(beats > 0);
        let lines = vec!["a line".to_owned()];
        let panel = |timeline| Panel {
            title: "run",
            subtitle: &lines,
            timeline,
            threshold: 100.0,
        };
        let svg = render_rows(&[vec![panel(&new), panel(&new)], vec![panel(&zero)]]);
        assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<g transform=").count(), 3);
        assert_eq!(svg.matches(">scale API answers 503</text>").count(), 2);
        assert_eq!(svg.matches(">recovered</text>").count(), 2);
        let crosses = svg.matches(r#"stroke-width="2.2"/>"#).count();
        assert_eq!(
            crosses,
            2 + 1,
            "one failed invocation per panel of `new`, one in the legend"
        );
        let diamonds = svg.matches(r#"stroke-width="1.2"/>"#).count();
        let new_beats = new
            .rows
            .iter()
            .map(|r| r.heartbeat.iter().flatten().count())
            .sum::<usize>();
        let zero_beats = beats - new_beats;
        assert_eq!(
            diamonds,
            2 * new_beats + zero_beats + 2,
            "and two in the legend"
        );
        assert!(svg.contains(r##"fill="#17a2b8""##), "the wake alarm's band");
    }

    #[test]
    fn numbers_are_written_with_at_most_one_decimal() {
        assert_eq!(n(12.0), "12");
        assert_eq!(n(12.345), "12.3");
        assert_eq!(n(-0.04), "0");
    }
}
