//! The charts of `docs/simulation/rearm.svg` and `docs/simulation/faults.svg`: runs side by side
//! (and, for the faults, in rows of two), each with the backlog (visible plus in flight), the
//! replica count and every invocation over time, on scales shared by the runs of a row. A run with
//! faults also shows when each fault was in effect, the failed invocations, the heartbeat's
//! invocations and the wake alarm.
//!
//! Drawn with plotters' SVG backend: a chart per run, with the messages on the left axis and the
//! replicas on a secondary axis on the right; the markers are plotters elements placed at a point
//! of the chart and drawn in pixels around it. Its text is SVG `<text>` (plotters' font features
//! are off), so no font file is read, and the output is the same from run to run. plotters draws a
//! dashed line as a polyline per dash, which is most of the files' size.
//!
//! Pure: returns the SVG as a string.

use crate::model::AlarmKind;
use crate::timeline::Timeline;
use crate::Error;
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::element::{ComposedElement, DashedPathElement};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use queue_scaler_core::{AlarmState, Direction};
use std::iter::once;
use std::ops::Range;

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

/// A panel's size and the margins of its chart, in pixels: the title and subtitle above, the
/// tick labels and the axes' names on the sides and below (and, for the re-arm chart, the legend).
const PANEL_WIDTH: u32 = 600;
const HEIGHT: u32 = 620;
const LEFT: u32 = 62;
const RIGHT: u32 = 52;
const TOP: u32 = 104;
const BOTTOM: u32 = 128;
/// The minutes' tick labels and the axis's name, under the chart.
const X_AXIS: u32 = 38;
/// Between a panel's edge and the name of its axis on that side.
const AXIS_NAME_MARGIN: u32 = 8;

/// The faults chart: each panel is shorter, its legend is below all rows.
const FAULT_PANEL_HEIGHT: u32 = 460;
const FAULT_BOTTOM: u32 = 62;
const FAULT_LEGEND_HEIGHT: u32 = 96;

const BACKLOG: RGBColor = RGBColor(0x4e, 0x79, 0xa7);
const REPLICAS: RGBColor = RGBColor(0xe8, 0x77, 0x2e);
const THRESHOLD: RGBColor = RGBColor(0xe1, 0x57, 0x59);
const UP: RGBColor = RGBColor(0x2f, 0x8f, 0x3a);
const DOWN: RGBColor = RGBColor(0x8b, 0x5f, 0xa8);
const WAKE: RGBColor = RGBColor(0x17, 0xa2, 0xb8);
const FAULT: RGBColor = RGBColor(0xe1, 0x57, 0x59);
const FAILED: RGBColor = RGBColor(0xc0, 0x39, 0x2b);
const RECOVERED: RGBColor = RGBColor(0x1b, 0x78, 0x37);
const GRID: RGBColor = RGBColor(0xe4, 0xe4, 0xe4);
const FRAME: RGBColor = RGBColor(0x99, 0x99, 0x99);
const SUBTITLE: RGBColor = RGBColor(0x33, 0x33, 0x33);

const FONT: &str = "Helvetica, Arial, sans-serif";

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Drawn = Result<(), DrawingAreaErrorKind<std::io::Error>>;

/// Shared scales: minutes across, messages on the left, replicas on the right; and the margin
/// under the chart in its panel.
struct Scales {
    minutes: f64,
    messages: f64,
    replicas: f64,
    bottom: u32,
}

impl Scales {
    /// The step between the messages' grid lines.
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

/// 0, `step`, 2 `step`, ... up to `top`: where an axis has its ticks.
fn ticks(top: f64, step: f64) -> Vec<f64> {
    // Axes are short: tens of ticks at most.
    let count = (top / step).floor() as usize;
    (0..=count).map(|k| step * k as f64).collect()
}

/// An axis from zero to `top`, with a tick and a grid line every `step` up to it. plotters' own
/// axis of f64 picks its ticks by their count, and its combinator for given ticks loses the
/// labels' format.
struct Axis {
    scale: RangedCoordf64,
    step: f64,
}

impl Axis {
    fn new(top: f64, step: f64) -> Self {
        Axis {
            scale: (0.0..top).into(),
            step,
        }
    }
}

impl Ranged for Axis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.scale.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Bold lines only: no lighter grid between the ticks.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            ticks(self.scale.range().end, self.step)
        }
    }

    fn range(&self) -> Range<f64> {
        self.scale.range()
    }
}

impl ValueFormatter<f64> for Axis {
    fn format(value: &f64) -> String {
        // Ticks are whole numbers: `5`, not `5.0`.
        format!("{value}")
    }
}

/// Text of `px` pixels, left-aligned and centred on its point.
fn text(px: u32, color: &RGBColor) -> TextStyle<'static> {
    // plotters' SVG backend writes the size it is given over 1.24.
    (FONT, f64::from(px) * 1.24)
        .into_font()
        .color(color)
        .pos(Pos::new(HPos::Left, VPos::Center))
}

fn chart_error(e: DrawingAreaErrorKind<std::io::Error>) -> Error {
    Error::Chart {
        detail: e.to_string(),
    }
}

/// An SVG of `size` on a white ground, drawn by `draw`.
fn svg(size: (u32, u32), draw: impl FnOnce(&Area<'_>) -> Drawn) -> Result<String, Error> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(chart_error)?;
        draw(&root).map_err(chart_error)?;
        root.present().map_err(chart_error)?;
    }
    Ok(svg)
}

/// Draw the runs side by side.
pub fn render(panels: &[Panel<'_>]) -> Result<String, Error> {
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
        bottom: BOTTOM,
    };
    let columns = panels.len().max(1);
    // A handful of panels: far below u32::MAX.
    let width = PANEL_WIDTH * columns as u32;
    svg((width, HEIGHT), |root| {
        for (area, panel) in root.split_evenly((1, columns)).iter().zip(panels) {
            draw_panel(area, panel, &scales)?;
        }
        // Three items a row, at fixed places.
        let items = [
            (Key::Backlog, "messages waiting (visible + in flight)", 0, 0),
            (Key::Threshold, "scale-up threshold (100 visible)", 290, 0),
            (Key::Replicas, "replicas (dotted: min and max)", 560, 0),
            (
                Key::Changed,
                "scale-up / scale-down invocation that changed replicas",
                0,
                1,
            ),
            (
                Key::Unchanged,
                "invocation with nothing to change (at a bound)",
                390,
                1,
            ),
            (
                Key::Alarms { wake: false },
                "alarm in ALARM (top: scale-up, below: scale-down)",
                730,
                1,
            ),
        ];
        for (key, label, dx, row) in items {
            let at = (LEFT as i32 + dx, HEIGHT as i32 - 46 + 24 * row);
            draw_key(root, key, at, label)?;
        }
        Ok(())
    })
}

/// Draw rows of runs, each row on its own scales (shared by its runs), with one legend for all:
/// the faults chart.
pub fn render_rows(rows: &[Vec<Panel<'_>>]) -> Result<String, Error> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(1).max(1);
    // A handful of rows and columns: far below u32::MAX.
    let width = PANEL_WIDTH * columns as u32;
    let panels_height = FAULT_PANEL_HEIGHT * rows.len() as u32;
    let height = panels_height + FAULT_LEGEND_HEIGHT;
    svg((width, height), |root| {
        let (grid, _) = root.split_vertically(panels_height);
        let areas = grid.split_evenly((rows.len().max(1), columns));
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
                bottom: FAULT_BOTTOM,
            };
            for (i, panel) in row.iter().enumerate() {
                draw_panel(&areas[j * columns + i], panel, &scales)?;
            }
        }
        let items = [
            (Key::Backlog, "messages waiting (visible + in flight)"),
            (Key::Replicas, "replicas (dotted: min and max)"),
            (Key::Threshold, "scale-up threshold (100 visible)"),
            (
                Key::Changed,
                "scale-up / scale-down invocation that changed replicas",
            ),
            (Key::Unchanged, "invocation with nothing to change"),
            (Key::Failed, "invocation that failed"),
            (
                Key::Heartbeat,
                "heartbeat: acted (filled) or found no alarm in ALARM",
            ),
            (
                Key::Alarms { wake: true },
                "alarm in ALARM after its evaluation: high, low, wake",
            ),
            (Key::Fault, "fault in effect"),
        ];
        let top = panels_height as i32 + 22;
        for (k, (key, label)) in (0..).zip(items) {
            let at = (LEFT as i32 + 400 * (k % 3), top + 26 * (k / 3));
            draw_key(root, key, at, label)?;
        }
        Ok(())
    })
}

fn draw_panel(area: &Area<'_>, panel: &Panel<'_>, s: &Scales) -> Drawn {
    let rows = &panel.timeline.rows;
    let policy = panel.timeline.policy;
    let title = (FONT, 16.0 * 1.24, FontStyle::Bold)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    area.draw(&Text::new(panel.title, (LEFT as i32, 21), title))?;
    for (i, line) in (0..).zip(panel.subtitle) {
        area.draw(&Text::new(
            line.as_str(),
            (LEFT as i32, 45 + 17 * i),
            text(12, &SUBTITLE),
        ))?;
    }

    let mut chart = ChartBuilder::on(area)
        .margin_top(TOP)
        .margin_bottom(s.bottom - X_AXIS)
        .margin_left(AXIS_NAME_MARGIN)
        .margin_right(AXIS_NAME_MARGIN)
        .x_label_area_size(X_AXIS)
        .y_label_area_size(LEFT - AXIS_NAME_MARGIN)
        .right_y_label_area_size(RIGHT - AXIS_NAME_MARGIN)
        .build_cartesian_2d(
            Axis::new(s.minutes, 5.0),
            Axis::new(s.messages, s.message_step()),
        )?
        .set_secondary_coord(Axis::new(s.minutes, 5.0), Axis::new(s.replicas, 2.0));
    // Messages on the left, with the grid; minutes below; replicas on the right. Two passes for
    // the primary axes, whose names are in different colours.
    chart
        .configure_mesh()
        .disable_x_mesh()
        .disable_x_axis()
        .bold_line_style(GRID)
        .axis_style(FRAME)
        .y_label_style(text(12, &BACKLOG).pos(Pos::new(HPos::Right, VPos::Center)))
        .y_desc("messages waiting")
        .axis_desc_style(text(12, &BACKLOG))
        .draw()?;
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_y_axis()
        .axis_style(FRAME)
        .x_label_style(text(12, &BLACK))
        .x_desc("minute (one alarm period each)")
        .axis_desc_style(text(12, &BLACK))
        .draw()?;
    chart
        .configure_secondary_axes()
        .axis_style(FRAME)
        .label_style(text(12, &REPLICAS))
        .y_desc("replicas")
        .axis_desc_style(text(12, &REPLICAS))
        .draw()?;

    // When each fault was in effect: shaded, labelled at the top. A fault without duration (the
    // clock starting with messages at zero replicas) is a line.
    for fault in &panel.timeline.faults {
        let (start, end) = (fault.start as f64, fault.end as f64);
        if fault.end > fault.start {
            chart.draw_series(once(Rectangle::new(
                [(start, s.messages), (end, 0.0)],
                FAULT.mix(0.1).filled(),
            )))?;
        } else {
            chart.draw_series(DashedLineSeries::new(
                [(start, 0.0), (start, s.messages)],
                3,
                3,
                FAULT.into(),
            ))?;
        }
        chart.draw_series(once(
            EmptyElement::at((start, s.messages))
                + Text::new(fault.kind.describe(), (4, 40), text(11, &FAULT)),
        ))?;
    }

    // When the run recovered from its faults (docs/never-stuck.md).
    if let Some(at) = panel.timeline.recovery().and_then(|r| r.at) {
        let x = at as f64 + 1.0;
        chart.draw_series(DashedLineSeries::new(
            [(x, 0.0), (x, s.messages)],
            5,
            3,
            RECOVERED.stroke_width(2),
        ))?;
        chart.draw_series(once(
            EmptyElement::at((x, 0.0)) + Text::new("recovered", (4, -35), text(11, &RECOVERED)),
        ))?;
    }

    // Backlog: the datapoint of period p is taken at its end, minute p + 1.
    let backlog = once((0.0, 0.0)).chain(
        rows.iter()
            .map(|r| (r.period as f64 + 1.0, r.backlog() as f64)),
    );
    chart.draw_series(
        AreaSeries::new(backlog, 0.0, BACKLOG.mix(0.22)).border_style(BACKLOG.stroke_width(2)),
    )?;

    // The scale-up threshold, when it is on the scale.
    if panel.threshold <= s.messages {
        chart.draw_series(DashedLineSeries::new(
            [(0.0, panel.threshold), (s.minutes, panel.threshold)],
            6,
            4,
            THRESHOLD.into(),
        ))?;
    }

    // Bounds and replicas: a step that changes when an invocation writes.
    for bound in [policy.min, policy.max] {
        let y = f64::from(bound);
        chart.draw_secondary_series(DashedLineSeries::new(
            [(0.0, y), (s.minutes, y)],
            2,
            4,
            REPLICAS.mix(0.5).into(),
        ))?;
    }
    chart.draw_secondary_series(once(
        EmptyElement::at((s.minutes, f64::from(policy.max)))
            + Text::new(
                format!("max {}", policy.max),
                (-4, -9),
                text(12, &REPLICAS).pos(Pos::new(HPos::Right, VPos::Center)),
            ),
    ))?;
    let start = rows.first().map_or(policy.min, |r| {
        r.scale_up
            .invocation
            .or(r.scale_down.invocation)
            .map_or(r.replicas, |i| i.from)
    });
    let mut steps = vec![(0.0, f64::from(start))];
    for r in rows {
        let (x, before) = (r.period as f64 + 1.0, steps[steps.len() - 1].1);
        steps.extend([(x, before), (x, f64::from(r.replicas))]);
    }
    steps.push((s.minutes, steps[steps.len() - 1].1));
    chart.draw_secondary_series(LineSeries::new(steps, REPLICAS.stroke_width(3)))?;

    // When each alarm was in ALARM after its evaluation: re-armed alarms fire again each period,
    // an alarm left in ALARM fires no more. Centred on the minute the evaluation ends, cut at the
    // frame, in bands under the top.
    let x = |minutes: f64| chart.backend_coord(&(minutes, 0.0)).0;
    let mut bands = Vec::new();
    for (k, (kind, color)) in (0..).zip([
        (AlarmKind::High, UP),
        (AlarmKind::Low, DOWN),
        (AlarmKind::Wake, WAKE),
    ]) {
        let y = 8 + 10 * k;
        for r in rows
            .iter()
            .filter(|r| r.cell(kind).is_some_and(|c| c.state == AlarmState::Alarm))
        {
            let start = r.period as f64 + 0.5;
            let width = x((start + 1.0).min(s.minutes)) - x(start);
            bands.push(
                EmptyElement::at((start, s.messages))
                    + Rectangle::new([(0, y), (width, y + 6)], color.mix(0.55).filled()),
            );
        }
    }
    chart.draw_series(bands)?;

    // Invocations, on the replica line at the count they left; a failed one is a cross.
    for r in rows {
        for kind in AlarmKind::ALL {
            if let Some(i) = r.cell(kind).and_then(|c| c.invocation) {
                let at = (r.period as f64 + 1.0, f64::from(i.to));
                if i.failed.is_some() {
                    chart.draw_secondary_series(once(cross(at)))?;
                } else {
                    chart.draw_secondary_series(once(triangle(at, kind.direction(), i.applied)))?;
                }
            }
        }
    }

    // The heartbeat's invocations, at the bottom: a diamond per function, filled when it acted
    // on an alarm in ALARM, crossed when it failed.
    for r in rows {
        for (k, (beat, color)) in (0..).zip(r.heartbeat.iter().zip([UP, DOWN])) {
            let Some(beat) = beat else {
                continue;
            };
            let (at, dy) = ((r.period as f64 + 1.0, 0.0), -9 - 13 * k);
            chart.draw_series(once(diamond(at, dy, color, beat.acted > 0)))?;
            if beat.invocation.failed.is_some() {
                chart.draw_series(once(
                    EmptyElement::at(at) + Cross::new((0, dy), 5, FAILED.stroke_width(2)),
                ))?;
            }
        }
    }

    // The frame.
    chart.draw_series(once(Rectangle::new(
        [(0.0, s.messages), (s.minutes, 0.0)],
        FRAME,
    )))?;
    Ok(())
}

/// A marker: a shape filled or white, and its outline, drawn in pixels around a point of the
/// chart (or of the legend).
type Marker<C, DB> = ComposedElement<C, DB, Polygon<(i32, i32)>, PathElement<(i32, i32)>>;

/// A triangle pointing the way the function scales, its tip 13 pixels from `at`: filled when it
/// changed the replica count, hollow when it found nothing to change.
fn triangle<DB: DrawingBackend, C>(at: C, direction: Direction, filled: bool) -> Marker<C, DB> {
    let (color, sign) = match direction {
        Direction::Up => (UP, -1),
        Direction::Down => (DOWN, 1),
    };
    let corners = [(0, 13 * sign), (-5, 4 * sign), (5, 4 * sign)];
    EmptyElement::at(at)
        + Polygon::new(corners, if filled { color } else { WHITE })
        + PathElement::new(
            [corners[0], corners[1], corners[2], corners[0]],
            color.stroke_width(2),
        )
}

/// A failed invocation: a red cross, centred on `at`.
fn cross<C>(at: C) -> Cross<C, i32> {
    Cross::new(at, 5, FAILED.stroke_width(2))
}

/// A heartbeat invocation, `dy` pixels below `at`: a diamond in the function's colour, filled
/// when it acted.
fn diamond<DB: DrawingBackend, C>(at: C, dy: i32, color: RGBColor, filled: bool) -> Marker<C, DB> {
    let corners = [(0, dy - 5), (5, dy), (0, dy + 5), (-5, dy)];
    EmptyElement::at(at)
        + Polygon::new(corners, if filled { color } else { WHITE })
        + PathElement::new(
            [corners[0], corners[1], corners[2], corners[3], corners[0]],
            color.stroke_width(1),
        )
}

/// An item of a legend.
#[derive(Debug, Clone, Copy)]
enum Key {
    Backlog,
    Threshold,
    Replicas,
    Changed,
    Unchanged,
    Failed,
    Heartbeat,
    Alarms { wake: bool },
    Fault,
}

/// An item of a legend: its swatch, 20 pixels wide from `x`, and its label, centred on `y`.
fn draw_key(area: &Area<'_>, key: Key, (x, y): (i32, i32), label: &str) -> Drawn {
    let line = |style: ShapeStyle| PathElement::new([(x, y), (x + 20, y)], style);
    match key {
        Key::Backlog => {
            area.draw(&Rectangle::new(
                [(x, y - 5), (x + 20, y + 5)],
                BACKLOG.mix(0.4).filled(),
            ))?;
            area.draw(&Rectangle::new([(x, y - 5), (x + 20, y + 5)], BACKLOG))?;
        }
        Key::Threshold => {
            area.draw(&DashedPathElement::new(
                [(x, y), (x + 20, y)],
                6,
                4,
                THRESHOLD,
            ))?;
        }
        Key::Replicas => area.draw(&line(REPLICAS.stroke_width(3)))?,
        Key::Changed | Key::Unchanged => {
            let filled = matches!(key, Key::Changed);
            area.draw(&triangle((x + 4, y + 7), Direction::Up, filled))?;
            area.draw(&triangle((x + 16, y - 7), Direction::Down, filled))?;
        }
        Key::Failed => area.draw(&cross((x + 10, y)))?,
        Key::Heartbeat => {
            area.draw(&diamond((x + 4, y), 0, UP, true))?;
            area.draw(&diamond((x + 16, y), 0, DOWN, false))?;
        }
        Key::Alarms { wake } => {
            let (colors, height): (&[RGBColor], i32) = if wake {
                (&[UP, DOWN, WAKE], 4)
            } else {
                (&[UP, DOWN], 5)
            };
            let top = y - (height + 1) * colors.len() as i32 / 2;
            for (k, color) in (0..).zip(colors) {
                let y = top + (height + 1) * k;
                area.draw(&Rectangle::new(
                    [(x, y), (x + 20, y + height)],
                    color.mix(0.55).filled(),
                ))?;
            }
        }
        Key::Fault => {
            area.draw(&Rectangle::new(
                [(x, y - 6), (x + 20, y + 6)],
                FAULT.mix(0.15).filled(),
            ))?;
        }
    }
    area.draw(&Text::new(label, (x + 28, y), text(12, &BLACK)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Scenario;
    use crate::run::tests::run_in_memory;

    /// How many of the SVG's elements of `tag` have all of `attributes`.
    fn count(svg: &str, tag: &str, attributes: &[&str]) -> usize {
        svg.lines()
            .filter(|l| l.starts_with(&format!("<{tag} ")))
            .filter(|l| attributes.iter().all(|a| l.contains(a)))
            .count()
    }

    /// Each triangle's and diamond's outline: a polyline in the function's colour.
    fn outlines(svg: &str, width: &str) -> usize {
        [r##"stroke="#2F8F3A""##, r##"stroke="#8B5FA8""##]
            .iter()
            .map(|color| count(svg, "polyline", &[color, width]))
            .sum()
    }

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
        ])
        .unwrap();
        assert!(svg.starts_with("<svg "));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(count(&svg, "text", &[r#"font-weight="bold""#]), 2);
        assert_eq!(
            outlines(&svg, r#"stroke-width="2""#),
            invocations + 4,
            "one per invocation, four in the legend"
        );
        assert!(svg.contains(">\ntwo lines\n</text>"));
        assert!(svg.contains("REARM_ALARM=false"));
        assert!(svg.contains(">\nmessages waiting\n</text>"));
        assert!(svg.contains(">\nreplicas\n</text>"));
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
        let svg = render_rows(&[vec![panel(&new), panel(&new)], vec![panel(&zero)]]).unwrap();
        assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(count(&svg, "text", &[r#"font-weight="bold""#]), 3);
        assert_eq!(svg.matches(">\nscale API answers 503\n</text>").count(), 2);
        assert_eq!(svg.matches(">\nrecovered\n</text>").count(), 2);
        let crosses = count(&svg, "line", &[r##"stroke="#C0392B""##]);
        assert_eq!(
            crosses,
            2 * (2 + 1),
            "two strokes for one failed invocation per panel of `new`, and the legend's"
        );
        let new_beats = new
            .rows
            .iter()
            .map(|r| r.heartbeat.iter().flatten().count())
            .sum::<usize>();
        let zero_beats = beats - new_beats;
        assert_eq!(
            outlines(&svg, r#"stroke-width="1""#),
            2 * new_beats + zero_beats + 2,
            "a diamond per heartbeat, and two in the legend"
        );
        assert!(
            count(&svg, "rect", &[r##"fill="#17A2B8""##]) > 1,
            "the wake alarm's band"
        );
    }

    #[test]
    fn ticks_run_from_zero_to_the_top_in_steps() {
        assert_eq!(
            ticks(40.0, 5.0),
            [0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0]
        );
        assert_eq!(ticks(9.0, 2.0), [0.0, 2.0, 4.0, 6.0, 8.0]);
    }
}
