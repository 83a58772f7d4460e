//! The demo's chart: server RSS over time, one line per strategy, as an SVG
//! written by hand, a string of `<polyline>`, `<line>` and `<text>`
//! elements. Text from data goes through [`escape`], so that the file stays
//! well-formed XML.
//!
//! RSS spans two orders of magnitude (a few MiB idle, hundreds for a whole
//! body), so the y axis is logarithmic, ticked at every power of two MiB, and
//! says so: on a linear axis the flat strategies would lie on the floor.

use std::fmt::Write as _;

use crate::export::Mode;

/// Whole image, in SVG user units (pixels in a browser).
const WIDTH: f64 = 860.0;
const HEIGHT: f64 = 480.0;
// Room around the plot: left for the y labels and axis title, right for the
// legend, top for the title, bottom for the x labels and axis title.
const LEFT: f64 = 80.0;
/// About how wide "client disconnects" is drawn, at 13 px sans-serif.
const DISCONNECT_LABEL_WIDTH: f64 = 130.0;
const RIGHT: f64 = 160.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;
/// Most intervals between x ticks (one more tick, at 0): more would crowd
/// their labels.
const MAX_X_TICKS: f64 = 12.0;
const MIB: f64 = 1024.0 * 1024.0;
/// Lowest y value drawn, in MiB: an RSS below 1 MiB is not a real process.
const Y_FLOOR_MIB: f64 = 1.0;

/// Line colours, one per mode in [`Mode::ALL`]'s order, so that the
/// demo's lines never share one and a mode keeps its colour whichever
/// others `--modes` draws beside it (a new mode stops the build here until
/// it has its own); a series named otherwise takes one by its place.
const COLOURS: [&str; Mode::ALL.len()] = ["#d62728", "#ff7f0e", "#2ca02c", "#1f77b4"];

/// The colour of the series named `name`, the `index`th drawn.
fn colour(name: &str, index: usize) -> &'static str {
    let by_mode = Mode::ALL.iter().position(|mode| mode.as_str() == name);
    COLOURS[by_mode.unwrap_or(index) % COLOURS.len()]
}

/// One line of the chart.
#[derive(Clone, Debug)]
pub struct Series {
    /// The legend's text (a strategy's name).
    pub name: String,
    /// (seconds, RSS bytes), in time order.
    pub points: Vec<(f64, f64)>,
}

/// What to draw besides the series.
#[derive(Clone, Debug)]
pub struct ChartText {
    /// Above the plot.
    pub title: String,
    /// RSS of an idle server, drawn as a dashed line.
    pub idle_bytes: f64,
    /// When the clients disconnected, drawn as a dotted vertical line.
    pub disconnect_secs: Option<f64>,
}

/// `<`, `>`, `&`, `"` and `'` as XML entities, for text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The chart as a complete SVG document.
pub fn render(series: &[Series], text: &ChartText) -> String {
    let (right, bottom) = (WIDTH - RIGHT, HEIGHT - BOTTOM);
    let (plot_w, plot_h) = (right - LEFT, bottom - TOP);
    let mid_x = LEFT + plot_w / 2.0;
    let all_points = || series.iter().flat_map(|s| s.points.iter());
    let x_max = all_points()
        .map(|&(t, _)| t)
        .chain(text.disconnect_secs)
        .fold(1.0_f64, f64::max)
        .ceil();
    let y_max_mib = all_points()
        .map(|&(_, bytes)| bytes / MIB)
        .chain([text.idle_bytes / MIB])
        .fold(2.0 * Y_FLOOR_MIB, f64::max);
    // Powers of two from the floor to the first at or above the largest value.
    let top_power = y_max_mib.log2().ceil().max(1.0);
    let (log_min, log_max) = (Y_FLOOR_MIB.log2(), top_power);
    let x_of = |t: f64| LEFT + t / x_max * plot_w;
    let y_of = |bytes: f64| {
        let log = (bytes / MIB).max(Y_FLOOR_MIB).log2();
        bottom - (log - log_min) / (log_max - log_min) * plot_h
    };

    let mut svg = String::with_capacity(16 * 1024);
    // Writing into a String cannot fail; the results are ignored below.
    let _ = writeln!(
        svg,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         viewBox=\"0 0 {WIDTH} {HEIGHT}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect x=\"0\" y=\"0\" width=\"{WIDTH}\" height=\"{HEIGHT}\" fill=\"white\"/>\n\
         <text x=\"{mid_x}\" y=\"28\" font-size=\"15\" text-anchor=\"middle\">{}</text>",
        escape(&text.title)
    );

    // Y axis: a tick and a faint grid line at every power of two MiB.
    for power in log_min as i32..=log_max as i32 {
        let mib = 2f64.powi(power);
        let y = y_of(mib * MIB);
        let _ = writeln!(
            svg,
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{right:.1}\" y2=\"{y:.1}\" stroke=\"#e0e0e0\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{mib}</text>",
            LEFT - 6.0,
            y + 4.0,
        );
    }
    let _ = writeln!(
        svg,
        "<text transform=\"translate(22 {:.1}) rotate(-90)\" text-anchor=\"middle\">\
         server RSS (MiB, log scale)</text>",
        TOP + plot_h / 2.0
    );

    // X axis: whole seconds, at most MAX_X_TICKS intervals.
    let step = (x_max / MAX_X_TICKS).ceil().max(1.0);
    for tick in 0..=(x_max / step) as u32 {
        let t = f64::from(tick) * step;
        let x = x_of(t);
        let _ = writeln!(
            svg,
            "<line x1=\"{x:.1}\" y1=\"{bottom:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"black\"/>\n\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{t}</text>",
            bottom + 5.0,
            bottom + 19.0
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{mid_x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">time since the client connected (seconds)</text>\n\
         <line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{bottom:.1}\" stroke=\"black\"/>\n\
         <line x1=\"{LEFT}\" y1=\"{bottom:.1}\" x2=\"{right:.1}\" y2=\"{bottom:.1}\" stroke=\"black\"/>",
        HEIGHT - 16.0,
    );

    // The idle level and the disconnect.
    let idle_y = y_of(text.idle_bytes);
    let _ = writeln!(
        svg,
        "<line x1=\"{LEFT}\" y1=\"{idle_y:.1}\" x2=\"{right:.1}\" y2=\"{idle_y:.1}\" stroke=\"#555\" \
         stroke-dasharray=\"6 4\"/>\n\
         <text x=\"{:.1}\" y=\"{:.1}\" fill=\"#555\">idle {:.1} MiB</text>",
        LEFT + 6.0,
        idle_y - 5.0,
        text.idle_bytes / MIB
    );
    if let Some(secs) = text.disconnect_secs {
        let x = x_of(secs);
        // Left of its line, unless that would cross the axis's labels: a
        // disconnect early in a short run is labelled on its right.
        let (anchor, label_x) = match x - LEFT < DISCONNECT_LABEL_WIDTH {
            true => ("start", x + 4.0),
            false => ("end", x - 4.0),
        };
        let _ = writeln!(
            svg,
            "<line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{bottom:.1}\" stroke=\"#555\" \
             stroke-dasharray=\"2 3\"/>\n\
             <text x=\"{label_x:.1}\" y=\"{:.1}\" fill=\"#555\" text-anchor=\"{anchor}\">client disconnects</text>",
            TOP + 14.0
        );
    }

    // One polyline per series, and its legend entry.
    let legend_x = right + 16.0;
    for (index, series) in series.iter().enumerate() {
        let colour = colour(&series.name, index);
        let points: Vec<String> = series
            .points
            .iter()
            .map(|&(t, bytes)| format!("{:.1},{:.1}", x_of(t), y_of(bytes)))
            .collect();
        let legend_y = TOP + 10.0 + index as f64 * 20.0;
        let _ = writeln!(
            svg,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>\n\
             <line x1=\"{legend_x:.1}\" y1=\"{legend_y:.1}\" x2=\"{:.1}\" y2=\"{legend_y:.1}\" \
             stroke=\"{colour}\" stroke-width=\"3\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            points.join(" "),
            legend_x + 24.0,
            legend_x + 30.0,
            legend_y + 4.0,
            escape(&series.name)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks the document is well-formed enough for a browser: every tag
    /// closed in order, attribute values quoted, no raw `<` or stray `&` in
    /// text. Returns the element names in document order, or what is wrong.
    fn check_well_formed(svg: &str) -> Result<Vec<&str>, String> {
        let (mut open, mut names) = (Vec::new(), Vec::new());
        let mut rest = svg
            .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
            .ok_or("no XML declaration")?;
        while let Some((text, after)) = rest.split_once('<') {
            check_text(text)?;
            let (tag, after) = after.split_once('>').ok_or("unclosed tag")?;
            rest = after;
            if tag.contains('<') {
                return Err(format!("a '<' inside a tag: {tag}"));
            }
            if let Some(name) = tag.strip_prefix('/') {
                if open.pop() != Some(name) {
                    return Err(format!("mismatched </{name}>"));
                }
                continue;
            }
            let body = tag.trim_end_matches('/');
            let name = body
                .split_whitespace()
                .next()
                .ok_or("a tag without a name")?;
            // Attributes: name="value" pairs; quotes must balance.
            if body.matches('"').count() % 2 != 0 {
                return Err(format!("unbalanced quotes: {tag}"));
            }
            for value in body.split('"').skip(1).step_by(2) {
                check_text(value)?;
            }
            names.push(name);
            if !tag.ends_with('/') {
                open.push(name);
            }
        }
        if !rest.trim().is_empty() {
            return Err(format!("text after the root: {rest:?}"));
        }
        if !open.is_empty() {
            return Err(format!("unclosed: {open:?}"));
        }
        if names.first() != Some(&"svg") {
            return Err("the root is not <svg>".into());
        }
        Ok(names)
    }

    /// Text and attribute values: only the five entities may use `&`.
    fn check_text(text: &str) -> Result<(), String> {
        if text.contains('<') || text.contains('>') {
            return Err(format!("a raw < or > in {text:?}"));
        }
        const ENTITIES: [&str; 5] = ["&lt;", "&gt;", "&amp;", "&quot;", "&apos;"];
        for (at, _) in text.match_indices('&') {
            if !ENTITIES.iter().any(|entity| text[at..].starts_with(entity)) {
                return Err(format!("stray & in {text:?}"));
            }
        }
        Ok(())
    }

    fn series(name: &str, peak_mib: f64) -> Series {
        Series {
            name: name.to_string(),
            points: (0..=20)
                .map(|i| (i as f64 * 0.5, (2.0 + peak_mib * i as f64 / 20.0) * MIB))
                .collect(),
        }
    }

    fn text(title: &str, idle_mib: f64, disconnect_secs: Option<f64>) -> ChartText {
        ChartText {
            title: title.to_string(),
            idle_bytes: idle_mib * MIB,
            disconnect_secs,
        }
    }

    #[test]
    fn well_formed_with_one_polyline_per_series() {
        let lines = [series("buffer", 370.0), series("bounded", 0.5)];
        let title = "RSS <under> a \"slow\" client & more";
        let svg = render(&lines, &text(title, 2.0, Some(8.0)));
        let names = check_well_formed(&svg).unwrap();
        assert_eq!(names.iter().filter(|&&name| name == "polyline").count(), 2);
        assert!(svg.contains("RSS &lt;under&gt; a &quot;slow&quot; client &amp; more"));
        assert!(svg.contains(">buffer</text>") && svg.contains(">bounded</text>"));
        // Log axis: ticks from 1 to 512 MiB, labelled, and said so.
        for tick in [">1</text>", ">2</text>", ">256</text>", ">512</text>"] {
            assert!(svg.contains(tick), "{tick}");
        }
        assert!(!svg.contains(">1024</text>"));
        assert!(svg.contains("log scale") && svg.contains("(seconds)"));
        assert!(svg.contains("stroke-dasharray=\"6 4\""), "the idle line");
        assert!(svg.contains("client disconnects"));
    }

    #[test]
    fn escapes_names_and_handles_empty_series() {
        let odd_name = Series {
            name: "a<b>&'c'".into(),
            points: Vec::new(),
        };
        let svg = render(&[odd_name], &text("", 0.0, None));
        let names = check_well_formed(&svg).unwrap();
        assert_eq!(names.iter().filter(|&&name| name == "polyline").count(), 1);
        assert!(svg.contains("a&lt;b&gt;&amp;&apos;c&apos;"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }

    #[test]
    fn the_checker_catches_broken_documents() {
        for broken in [
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg><g></svg>",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg><text>a < b</text></svg>",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg><text>a & b</text></svg>",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg x=\"1></svg>",
        ] {
            assert!(check_well_formed(broken).is_err(), "{broken}");
        }
    }

    /// The points of a polyline, as written.
    fn polylines(svg: &str) -> Vec<(&str, &str)> {
        svg.split("<polyline ")
            .skip(1)
            .filter_map(|rest| {
                let stroke = rest.split("stroke=\"").nth(1)?.split('"').next()?;
                let points = rest.split("points=\"").nth(1)?.split('"').next()?;
                Some((stroke, points))
            })
            .collect()
    }

    /// Each point is where its time and its RSS put it: the plot runs from
    /// x = 80 (0 s) to 700 (the last second) and from y = 420 (1 MiB) to 50
    /// (the top power of two, 256 MiB here); each line has its own colour,
    /// and the idle line its own label.
    #[test]
    fn points_are_drawn_where_their_values_are() {
        let lines = [
            Series {
                name: "a".into(),
                points: vec![(0.0, MIB), (10.0, 256.0 * MIB)],
            },
            Series {
                name: "b".into(),
                points: vec![(5.0, 16.0 * MIB)],
            },
        ];
        let svg = render(&lines, &text("t", 4.0, Some(5.0)));
        let drawn = polylines(&svg);
        assert_eq!(
            drawn,
            [
                ("#d62728", "80.0,420.0 700.0,50.0"),
                ("#ff7f0e", "390.0,235.0")
            ],
            "{svg}"
        );
        assert!(svg.contains(">idle 4.0 MiB</text>"), "{svg}");
        // An idle level above every point still fits under the top tick.
        let svg = render(&[series("low", 1.0)], &text("t", 20.0, None));
        assert!(svg.contains(">32</text>"), "{svg}");
    }

    /// A strategy keeps its colour whichever others are drawn beside it
    /// (`--modes bounded,pipeline` drew `bounded` red, green in the full
    /// chart); a disconnect early in the run is labelled right of its line,
    /// clear of the axis's labels.
    #[test]
    fn a_strategy_keeps_its_colour_and_an_early_disconnect_its_label() {
        let lines = [series("bounded", 2.0), series("pipeline", 2.0)];
        let svg = render(&lines, &text("t", 2.0, Some(0.2)));
        let strokes: Vec<&str> = polylines(&svg).iter().map(|(stroke, _)| *stroke).collect();
        assert_eq!(strokes, [COLOURS[2], COLOURS[3]], "{svg}");
        assert!(
            svg.contains("text-anchor=\"start\">client disconnects"),
            "{svg}"
        );
        let svg = render(&lines, &text("t", 2.0, Some(9.0)));
        assert!(
            svg.contains("text-anchor=\"end\">client disconnects"),
            "{svg}"
        );
    }

    /// A 30 s run's ticks are whole seconds (3, not 2.5), and each
    /// legend entry has a line of its own.
    #[test]
    fn ticks_are_whole_seconds_and_legends_their_own_lines() {
        let long = Series {
            name: "a".into(),
            points: vec![(0.0, MIB), (30.0, 4.0 * MIB)],
        };
        let other = Series {
            name: "b".into(),
            points: vec![(0.0, MIB)],
        };
        let svg = render(&[long, other], &text("t", 2.0, None));
        assert!(
            svg.contains(">3</text>") && svg.contains(">30</text>"),
            "{svg}"
        );
        assert!(!svg.contains(">2.5</text>"), "{svg}");
        assert!(
            svg.contains("<text x=\"746.0\" y=\"64.0\">a</text>"),
            "{svg}"
        );
        assert!(
            svg.contains("<text x=\"746.0\" y=\"84.0\">b</text>"),
            "{svg}"
        );
    }
}
