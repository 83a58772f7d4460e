//! The trade-off's chart: throughput of a fast client against the memory a
//! slow one makes the server hold, one marker per configuration, as an SVG
//! written by hand (like `src/demo/chart.rs`).
//!
//! Memory spans three orders of magnitude (tens of KiB for small chunks,
//! MiB for 1 MiB × depth 4), so the x axis is logarithmic, ticked at every
//! power of two; throughput is linear from zero, so that a ratio between
//! two points reads as one. The Pareto front (the most throughput for at
//! most that memory) is joined by a line, the server's defaults are ringed,
//! and the references are horizontal lines: the bug and the ceiling have
//! no memory bound to plot. Node's two default high-water marks are
//! vertical lines; they count userland bytes only, where a marker's x also
//! counts RSS overhead and the kernel's queue, so a configuration holds
//! more than the mark it sits on.

use std::fmt::Write as _;

use backpressure::escape_xml;

/// Whole image's width, in SVG user units (pixels in a browser).
const WIDTH: f64 = 960.0;
/// Whole image's height, in the same units.
const HEIGHT: f64 = 560.0;
// Room around the plot: left for the y labels, right for the legend, top
// for the title and subtitle, bottom for the x labels.
const LEFT: f64 = 80.0;
const RIGHT: f64 = 215.0;
const TOP: f64 = 70.0;
const BOTTOM: f64 = 60.0;
/// Bytes in a KiB: memory is in bytes, ticks and marks in KiB and MiB.
const KIB: f64 = 1024.0;
/// Node's default `highWaterMark` for byte streams, before and since
/// Node 22 (nodejs/node#52037): the userland bytes a writable stream
/// buffers before `write()` says wait.
const NODE_MARKS: [(f64, &str); 2] = [
    (16.0 * KIB, "Node ≤ 21 highWaterMark 16 KiB"),
    (64.0 * KIB, "Node ≥ 22 highWaterMark 64 KiB"),
];
/// Marker colours of `bounded` by depth (a colour-blind-friendly palette).
const DEPTH_COLOURS: [&str; 5] = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9"];
/// Marker colour of `pipeline`, from the same palette.
const PIPELINE_COLOUR: &str = "#d55e00";
/// Colour of the reference lines and their labels.
const REFERENCE_COLOUR: &str = "#555";

/// Which strategy a marker is, and so its shape and colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// `bounded` at this channel depth: a circle.
    Bounded(usize),
    /// `pipeline`: a square.
    Pipeline,
}

/// One configuration.
#[derive(Clone, Debug)]
pub struct Point {
    /// Its label beside the marker, when it is on the front: `64k×1`.
    pub short: String,
    /// Its shape and colour.
    pub family: Family,
    /// Bytes held per stalled client: the x.
    pub held: f64,
    /// MB/s of a fast client: the y.
    pub throughput: f64,
    /// On the Pareto front: outlined, labelled, joined by the line.
    pub on_front: bool,
    /// The server's default: ringed and labelled.
    pub is_default: bool,
    /// Every figure of the row, shown when the pointer rests on the marker.
    pub tooltip: String,
}

/// A horizontal line: a throughput with no memory to plot.
#[derive(Clone, Debug)]
pub struct Reference {
    /// Written over the line's right end.
    pub label: String,
    /// MB/s: the line's height.
    pub throughput: f64,
}

/// Everything the chart shows.
#[derive(Clone, Debug)]
pub struct Chart {
    /// Above the plot.
    pub title: String,
    /// How it was measured, under the title.
    pub subtitle: String,
    /// One per configuration with a bound.
    pub points: Vec<Point>,
    /// The lines across: `unbounded` and the raw copy.
    pub references: Vec<Reference>,
}

/// A power of two of bytes as a tick label: `16 KiB`, `1 MiB`.
fn bytes_label(bytes: f64) -> String {
    if bytes >= KIB * KIB {
        format!("{} MiB", bytes / (KIB * KIB))
    } else {
        format!("{} KiB", bytes / KIB)
    }
}

fn colour(family: Family) -> &'static str {
    match family {
        Family::Bounded(depth) => DEPTH_COLOURS[depth % DEPTH_COLOURS.len()],
        Family::Pipeline => PIPELINE_COLOUR,
    }
}

/// The chart as a complete SVG document.
pub fn render(chart: &Chart) -> String {
    let (right, bottom) = (WIDTH - RIGHT, HEIGHT - BOTTOM);
    let (plot_w, plot_h) = (right - LEFT, bottom - TOP);
    let mid_x = LEFT + plot_w / 2.0;

    // X: powers of two of bytes around every point and Node's marks.
    let helds = chart.points.iter().map(|p| p.held).filter(|h| *h > 0.0);
    let marks = NODE_MARKS.iter().map(|(bytes, _)| *bytes);
    let (lo, hi) = helds
        .chain(marks)
        .fold((f64::INFINITY, 0.0_f64), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    let log_lo = lo.log2().floor();
    let log_hi = hi.log2().ceil().max(log_lo + 1.0);
    let x_of = |bytes: f64| {
        let log = bytes.max(2f64.powf(log_lo)).log2();
        LEFT + (log - log_lo) / (log_hi - log_lo) * plot_w
    };
    // Y: zero to a round number above the fastest.
    let fastest = chart
        .points
        .iter()
        .map(|p| p.throughput)
        .chain(chart.references.iter().map(|r| r.throughput))
        .filter(|t| t.is_finite())
        .fold(100.0_f64, f64::max);
    let step = if fastest > 2500.0 { 500.0 } else { 250.0 };
    let y_max = (fastest * 1.05 / step).ceil() * step;
    let y_of = |mb_s: f64| bottom - mb_s.clamp(0.0, y_max) / y_max * plot_h;

    let mut svg = String::with_capacity(32 * 1024);
    // Writing into a String cannot fail; the results are ignored below.
    let _ = writeln!(
        svg,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         viewBox=\"0 0 {WIDTH} {HEIGHT}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect x=\"0\" y=\"0\" width=\"{WIDTH}\" height=\"{HEIGHT}\" fill=\"white\"/>\n\
         <text x=\"{mid_x}\" y=\"26\" font-size=\"16\" text-anchor=\"middle\">{}</text>\n\
         <text x=\"{mid_x}\" y=\"46\" font-size=\"11\" fill=\"#444\" text-anchor=\"middle\">{}</text>",
        escape_xml(&chart.title),
        escape_xml(&chart.subtitle),
    );

    // Axes, with a faint grid at every tick.
    let mut y = 0.0;
    while y <= y_max {
        let py = y_of(y);
        let _ = writeln!(
            svg,
            "<line x1=\"{LEFT}\" y1=\"{py:.1}\" x2=\"{right:.1}\" y2=\"{py:.1}\" stroke=\"#e6e6e6\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{y}</text>",
            LEFT - 6.0,
            py + 4.0,
        );
        y += step;
    }
    for power in log_lo as i32..=log_hi as i32 {
        let bytes = 2f64.powi(power);
        let px = x_of(bytes);
        let _ = writeln!(
            svg,
            "<line x1=\"{px:.1}\" y1=\"{TOP}\" x2=\"{px:.1}\" y2=\"{bottom:.1}\" stroke=\"#f0f0f0\"/>\n\
             <line x1=\"{px:.1}\" y1=\"{bottom:.1}\" x2=\"{px:.1}\" y2=\"{:.1}\" stroke=\"black\"/>\n\
             <text x=\"{px:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            bottom + 5.0,
            bottom + 19.0,
            bytes_label(bytes),
        );
    }
    let _ = writeln!(
        svg,
        "<line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{bottom:.1}\" stroke=\"black\"/>\n\
         <line x1=\"{LEFT}\" y1=\"{bottom:.1}\" x2=\"{right:.1}\" y2=\"{bottom:.1}\" stroke=\"black\"/>\n\
         <text x=\"{mid_x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">\
         held per stalled client: RSS growth + kernel send queue (log scale)</text>\n\
         <text transform=\"translate(22 {:.1}) rotate(-90)\" text-anchor=\"middle\">\
         fast client, MB/s (median)</text>",
        HEIGHT - 16.0,
        TOP + plot_h / 2.0,
    );

    // Node's marks, and the references.
    for (i, (bytes, label)) in NODE_MARKS.iter().enumerate() {
        let px = x_of(*bytes);
        let _ = writeln!(
            svg,
            "<line x1=\"{px:.1}\" y1=\"{TOP}\" x2=\"{px:.1}\" y2=\"{bottom:.1}\" stroke=\"#999\" \
             stroke-dasharray=\"2 3\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"#666\">{} (userland only)</text>",
            px + 4.0,
            TOP + 12.0 + 12.0 * i as f64,
            escape_xml(label),
        );
    }
    for reference in &chart.references {
        let py = y_of(reference.throughput);
        let _ = writeln!(
            svg,
            "<line x1=\"{LEFT}\" y1=\"{py:.1}\" x2=\"{right:.1}\" y2=\"{py:.1}\" stroke=\"{REFERENCE_COLOUR}\" \
             stroke-dasharray=\"7 4\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"{REFERENCE_COLOUR}\">{} {:.0} MB/s</text>",
            right - 4.0,
            py - 5.0,
            escape_xml(&reference.label),
            reference.throughput,
        );
    }

    // The front, then every marker over it.
    let mut front: Vec<&Point> = chart.points.iter().filter(|p| p.on_front).collect();
    front.sort_by(|a, b| a.held.total_cmp(&b.held));
    let path: Vec<String> = front
        .iter()
        .map(|p| format!("{:.1},{:.1}", x_of(p.held), y_of(p.throughput)))
        .collect();
    if path.len() > 1 {
        let _ = writeln!(
            svg,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"#222\" stroke-width=\"1.5\"/>",
            path.join(" ")
        );
    }
    for point in &chart.points {
        let (px, py) = (x_of(point.held), y_of(point.throughput));
        let fill = colour(point.family);
        let shape = match point.family {
            Family::Bounded(_) => format!("<circle cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"5\""),
            Family::Pipeline => format!(
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"9\" height=\"9\"",
                px - 4.5,
                py - 4.5
            ),
        };
        let outline = if point.on_front { "#000" } else { "white" };
        let _ = writeln!(
            svg,
            "<g>{shape} fill=\"{fill}\" stroke=\"{outline}\"/><title>{}</title></g>",
            escape_xml(&point.tooltip)
        );
        if point.is_default {
            let _ = writeln!(
                svg,
                "<circle cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"10\" fill=\"none\" stroke=\"#c00\" stroke-width=\"2.5\"/>\n\
                 <text x=\"{:.1}\" y=\"{:.1}\" fill=\"#c00\" font-weight=\"bold\">default {}</text>",
                px + 12.0,
                py + 16.0,
                escape_xml(&point.short),
            );
        } else if point.on_front {
            let _ = writeln!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\">{}</text>",
                px + 7.0,
                py - 7.0,
                escape_xml(&point.short),
            );
        }
    }

    legend(&mut svg, chart, right + 16.0);
    svg.push_str("</svg>\n");
    svg
}

/// The legend, right of the plot: one row per family drawn, then the front
/// and the default.
fn legend(svg: &mut String, chart: &Chart, x: f64) {
    let mut families: Vec<Family> = Vec::new();
    for point in &chart.points {
        if !families.contains(&point.family) {
            families.push(point.family);
        }
    }
    families.sort_by_key(|f| match f {
        Family::Bounded(depth) => *depth,
        Family::Pipeline => usize::MAX,
    });
    let mut y = TOP + 10.0;
    for family in families {
        let (fill, name) = (
            colour(family),
            match family {
                Family::Bounded(depth) => format!("bounded, depth {depth}"),
                Family::Pipeline => "pipeline".to_string(),
            },
        );
        let shape = match family {
            Family::Bounded(_) => format!(
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"5\"",
                x + 5.0,
                y - 4.0
            ),
            Family::Pipeline => format!(
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"9\" height=\"9\"",
                y - 8.5
            ),
        };
        let _ = writeln!(
            svg,
            "{shape} fill=\"{fill}\"/>\n<text x=\"{:.1}\" y=\"{y:.1}\">{name}</text>",
            x + 16.0
        );
        y += 20.0;
    }
    let _ = writeln!(
        svg,
        "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#222\" stroke-width=\"1.5\"/>\n\
         <text x=\"{:.1}\" y=\"{y:.1}\">Pareto front</text>\n\
         <circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"8\" fill=\"none\" stroke=\"#c00\" stroke-width=\"2.5\"/>\n\
         <text x=\"{:.1}\" y=\"{:.1}\">the defaults</text>\n\
         <text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"#666\">chunk × depth; p = pipeline</text>\n\
         <text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"#666\">hover a marker for its row</text>",
        y - 4.0,
        x + 11.0,
        y - 4.0,
        x + 16.0,
        x + 5.0,
        y + 16.0,
        x + 16.0,
        y + 20.0,
        y + 44.0,
        y + 58.0,
    );
}
