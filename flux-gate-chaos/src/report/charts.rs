//! SVG charts of a run (plotters): latency percentiles, throughput by outcome and the status
//! mix, per second, the sampled stock, and the backlog (consumer lag and backlog age), with
//! every fault window shaded so cause and effect line up.

use std::path::Path;

use plotters::prelude::*;

use crate::load::history::SecondStats;
use crate::model::{BacklogPoint, Sample};
use crate::verdict::windows::Window;

const W: u32 = 900;
const H: u32 = 320;

type Result<T> = std::result::Result<T, String>;

/// One line of a chart: label, colour, and its value in one second of the run.
type Line<'a> = (&'a str, RGBColor, &'a dyn Fn(&SecondStats) -> f64);

/// One line as points: label, colour, (seconds since the load started, value).
type Series<'a> = (&'a str, RGBColor, Vec<(f64, f64)>);

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

fn shaded(windows: &[Window]) -> Vec<(f64, f64)> {
    windows
        .iter()
        .filter(|p| p.fault.is_some())
        .map(|p| (p.start_ms as f64 / 1000.0, p.end_ms as f64 / 1000.0))
        .collect()
}

/// Draws one chart of `lines` over the run's seconds (plotted mid-second), fault windows shaded.
fn chart(
    path: &Path,
    title: &str,
    y_label: &str,
    seconds: &[SecondStats],
    lines: &[Line<'_>],
    shade: &[(f64, f64)],
) -> Result<()> {
    let series: Vec<Series<'_>> = lines
        .iter()
        .map(|(label, colour, value)| {
            let points = seconds
                .iter()
                .map(|s| (s.second as f64 + 0.5, value(s)))
                .collect();
            (*label, *colour, points)
        })
        .collect();
    let x_max = seconds
        .iter()
        .map(|s| s.second as f64 + 1.0)
        .fold(0.0, f64::max);
    plot(path, title, y_label, x_max, &series, shade)
}

/// Draws `series` from 0 to `x_max` seconds; the y axis spans every value and 0.
fn plot(
    path: &Path,
    title: &str,
    y_label: &str,
    x_max: f64,
    series: &[Series<'_>],
    shade: &[(f64, f64)],
) -> Result<()> {
    let root = SVGBackend::new(path, (W, H)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let values = || {
        series
            .iter()
            .flat_map(|(_, _, p)| p.iter().map(|(_, y)| *y))
    };
    let y_max = values().fold(0.0f64, f64::max).max(1.0) * 1.1;
    let y_min = values().fold(0.0f64, f64::min) * 1.1;
    let mut c = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x_max.max(1.0), y_min..y_max)
        .map_err(err)?;
    c.configure_mesh()
        .x_desc("seconds since the load started")
        .y_desc(y_label)
        .draw()
        .map_err(err)?;
    for (a, b) in shade {
        c.draw_series(std::iter::once(Rectangle::new(
            [(*a, y_min), (*b, y_max)],
            RGBColor(255, 200, 200).mix(0.4).filled(),
        )))
        .map_err(err)?;
    }
    for (label, colour, points) in series {
        let colour = *colour;
        c.draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))
            .map_err(err)?
            .label(*label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2))
            });
    }
    c.configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// Redis stock and outbox length as sampled through the run and the settle phase.
fn stock(path: &Path, samples: &[Sample], shade: &[(f64, f64)]) -> Result<()> {
    let secs = |s: &Sample| s.at_ms as f64 / 1000.0;
    let series = [
        (
            "Redis stock",
            RGBColor(31, 119, 180),
            samples
                .iter()
                .filter_map(|s| Some((secs(s), s.stock? as f64)))
                .collect(),
        ),
        (
            "outbox",
            RGBColor(255, 127, 14),
            samples.iter().map(|s| (secs(s), s.outbox as f64)).collect(),
        ),
    ];
    let x_max = samples.last().map_or(0.0, |s| secs(s) + 0.1);
    plot(
        path,
        "Stock over time (sampled straight from Redis)",
        "units",
        x_max,
        &series,
        shade,
    )
}

/// The backlog read once a second: the lag and the age in two charts (messages and seconds
/// do not share an axis). A read that failed is left out, not drawn as 0.
fn backlog(dir: &Path, points: &[BacklogPoint], shade: &[(f64, f64)]) -> Result<()> {
    let secs = |p: &BacklogPoint| p.at_ms as f64 / 1000.0;
    let x_max = points.last().map_or(0.0, |p| secs(p) + 1.0);
    let lag = (
        "uncommitted messages of `orders`",
        RGBColor(31, 119, 180),
        points
            .iter()
            .filter_map(|p| Some((secs(p), p.lag? as f64)))
            .collect(),
    );
    plot(
        &dir.join("lag.svg"),
        "Consumer lag (read once a second)",
        "messages",
        x_max,
        &[lag],
        shade,
    )?;
    let age = (
        "oldest unpersisted order",
        RGBColor(214, 39, 40),
        points
            .iter()
            .filter_map(|p| Some((secs(p), p.age_ms? as f64 / 1000.0)))
            .collect(),
    );
    plot(
        &dir.join("backlog-age.svg"),
        "Backlog age (the workers' fg_worker_backlog_age_seconds)",
        "seconds",
        x_max,
        &[age],
        shade,
    )
}

/// Writes `latency.svg`, `throughput.svg`, `status.svg` and, when the run was sampled,
/// `stock.svg`, and when the backlog was read, `lag.svg` and `backlog-age.svg` into `dir`;
/// returns (title, file).
pub fn write(
    dir: &Path,
    seconds: &[SecondStats],
    windows: &[Window],
    samples: &[Sample],
    backlog_points: &[BacklogPoint],
) -> Result<Vec<(String, String)>> {
    let shade = shaded(windows);
    let ms = |us: u64| us as f64 / 1000.0;
    chart(
        &dir.join("latency.svg"),
        "Latency from intended send time",
        "ms",
        seconds,
        &[
            ("p50", RGBColor(31, 119, 180), &|s| ms(s.p50_us)),
            ("p95", RGBColor(255, 127, 14), &|s| ms(s.p95_us)),
            ("p99", RGBColor(214, 39, 40), &|s| ms(s.p99_us)),
        ],
        &shade,
    )?;
    chart(
        &dir.join("throughput.svg"),
        "Answers per second by outcome",
        "answers/s",
        seconds,
        &[
            ("ok", RGBColor(44, 160, 44), &|s| s.ok as f64),
            ("fail (definite no)", RGBColor(127, 127, 127), &|s| {
                s.fail as f64
            }),
            ("info (unknown)", RGBColor(214, 39, 40), &|s| s.info as f64),
        ],
        &shade,
    )?;
    chart(
        &dir.join("status.svg"),
        "Status mix per second",
        "answers/s",
        seconds,
        &[
            ("2xx", RGBColor(44, 160, 44), &|s| {
                statuses(s, |k| k.starts_with('2'))
            }),
            ("3xx/4xx", RGBColor(127, 127, 127), &|s| {
                statuses(s, |k| k.starts_with('3') || k.starts_with('4'))
            }),
            ("5xx", RGBColor(148, 103, 189), &|s| {
                statuses(s, |k| k.starts_with('5'))
            }),
            ("timeout/error", RGBColor(214, 39, 40), &|s| {
                statuses(s, |k| k == "timeout" || k == "error")
            }),
        ],
        &shade,
    )?;
    let mut out = vec![
        ("Latency (p50/p95/p99)".into(), "latency.svg".into()),
        ("Throughput by outcome".into(), "throughput.svg".into()),
        ("Status mix".into(), "status.svg".into()),
    ];
    if !samples.is_empty() {
        stock(&dir.join("stock.svg"), samples, &shade)?;
        out.push(("Stock and outbox over time".into(), "stock.svg".into()));
    }
    if !backlog_points.is_empty() {
        backlog(dir, backlog_points, &shade)?;
        out.push(("Consumer lag".into(), "lag.svg".into()));
        out.push(("Backlog age".into(), "backlog-age.svg".into()));
    }
    Ok(out)
}

/// Answers in one second whose status label matches `class`.
fn statuses(s: &SecondStats, class: impl Fn(&str) -> bool) -> f64 {
    s.statuses
        .iter()
        .filter(|(k, _)| class(k))
        .map(|(_, v)| *v as f64)
        .sum()
}
