//! The comparison heatmap as PNG: the SVG's content drawn with `navab-plot`, so the picture
//! can be pasted anywhere and still carries its title, headers, row labels and legend.

use navab_plot::{fit_text, text_width, Align, Canvas, Rgb, TextStyle, WHITE};

use super::{cell_rate, heatmap_columns, rgb, set_label, short, CELL_H, CELL_W, LABEL_W};
use crate::report::{Summary, SummaryRow};
use crate::{Error, Result};

/// Top of the grid: below the title, the subtitle and the two header lines.
const TOP: usize = 108;
/// Below the grid: the colour legend and the two lines of the note.
const BOTTOM: usize = 120;
const GREY_TEXT: Rgb = [68, 68, 68];
const MISSING: Rgb = [238, 238, 238];
const NOTE: [&str; 2] = [
    "Cell: correct rate (the model preferred S, the nation's stance, over its reverse RS),",
    "95% Wilson interval, items. Ties count as wrong.",
];

fn title_style() -> TextStyle {
    TextStyle::new(18.0).bold()
}

fn note_style() -> TextStyle {
    TextStyle::new(11.0).colour(GREY_TEXT)
}

/// A heatmap of one method's correct rates as PNG bytes, with the content of
/// [`heatmap_svg`](super::heatmap_svg): the title, column headers (statement set above,
/// nation below), a row per model labelled with its name, each cell coloured by its rate (red
/// 0, white 0.5, green 1) with the rate, the 95% interval and `n` written in it, a colour
/// legend and a note. A cell without items says "no items", one whose rate is not a number in
/// [0, 1] says "invalid rate"; an empty name is drawn as a placeholder, a long one shortened.
/// Text is DejaVu Sans, bundled: the picture looks the same on every machine.
///
/// # Errors
/// No summaries, or more models or columns than a PNG of 16,384 pixels a side holds.
pub fn heatmap_png(summaries: &[Summary], method: &str) -> Result<Vec<u8>> {
    if summaries.is_empty() {
        return Err(Error::InvalidOptions("no runs to compare".into()));
    }
    let columns = heatmap_columns(summaries, method);
    let title = format!("NaVAB multiple choice: correct rate (method {method})");
    let subtitle = "Rows: models. Columns: statement set and nation.";
    let grid_w = LABEL_W + CELL_W * columns.len().max(1) + 20;
    let text_w = [
        text_width(&title, &title_style()),
        text_width(subtitle, &TextStyle::new(13.0)),
        text_width(NOTE[0], &note_style()),
    ]
    .into_iter()
    .fold(0.0f32, f32::max);
    let width = grid_w.max(text_w.ceil() as usize + 20);
    let height = TOP + CELL_H * summaries.len() + BOTTOM;
    let too_big = |_| Error::InvalidOptions(format!("a heatmap of {width} × {height} pixels"));
    let mut canvas = Canvas::new(
        u32::try_from(width).map_err(too_big)?,
        u32::try_from(height).map_err(too_big)?,
        WHITE,
    )
    .map_err(|e| {
        Error::InvalidOptions(format!(
            "{} models × {} columns: {e}",
            summaries.len(),
            columns.len()
        ))
    })?;
    canvas.text(10.0, 28.0, &title, &title_style());
    canvas.text(
        10.0,
        48.0,
        subtitle,
        &TextStyle::new(13.0).colour(GREY_TEXT),
    );
    headers(&mut canvas, &columns);
    if columns.is_empty() {
        let note = format!("no results for method {method}");
        let style = TextStyle::new(13.0).colour(GREY_TEXT);
        canvas.text(LABEL_W as f32 + 8.0, TOP as f32 + 28.0, &note, &style);
    }
    let label = TextStyle::new(13.0).align(Align::Right);
    for (row, summary) in summaries.iter().enumerate() {
        let y = TOP + row * CELL_H;
        let name = placeholder(&summary.scorer, "(unnamed model)");
        let name = fit_text(&short(name, 30), LABEL_W as f32 - 16.0, &label);
        canvas.text(
            LABEL_W as f32 - 8.0,
            (y + CELL_H / 2 + 5) as f32,
            &name,
            &label,
        );
        for (col, (set, nation)) in columns.iter().enumerate() {
            let x = LABEL_W + col * CELL_W;
            cell(&mut canvas, x, y, summary.row(nation, set, method));
        }
    }
    legend(&mut canvas, TOP + CELL_H * summaries.len() + 24);
    Ok(canvas.encode_png()?)
}

fn placeholder<'a>(name: &'a str, fallback: &'a str) -> &'a str {
    if name.trim().is_empty() {
        fallback
    } else {
        name
    }
}

/// The statement set above its first column (spanning its columns), the nation above each.
fn headers(canvas: &mut Canvas, columns: &[(String, String)]) {
    let set_style = TextStyle::new(13.0).colour(GREY_TEXT);
    let nation_style = TextStyle::new(13.0).bold().align(Align::Centre);
    for (i, (set, nation)) in columns.iter().enumerate() {
        let x = LABEL_W + i * CELL_W;
        if i == 0 || columns[i - 1].0 != *set {
            let span = columns[i..].iter().take_while(|(s, _)| s == set).count();
            let label = set_label(placeholder(set, "(no set)"));
            let label = fit_text(&label, (span * CELL_W) as f32 - 8.0, &set_style);
            canvas.text(x as f32 + 4.0, (TOP - 34) as f32, &label, &set_style);
        }
        let label = fit_text(
            placeholder(nation, "(no nation)"),
            CELL_W as f32 - 6.0,
            &nation_style,
        );
        canvas.text(
            (x + CELL_W / 2) as f32,
            (TOP - 10) as f32,
            &label,
            &nation_style,
        );
    }
}

/// The cell's colour and its text: the rate and, below it, the interval and `n`. Text is
/// white on the darker ends of the scale, black elsewhere.
fn cell(canvas: &mut Canvas, x: usize, y: usize, row: Option<&SummaryRow>) {
    // A 1-pixel white gap between cells, as the SVG's white stroke.
    let (w, h) = (CELL_W as u32 - 1, CELL_H as u32 - 1);
    let centre = (x + CELL_W / 2) as f32;
    let a = match cell_rate(row) {
        Ok(a) => a,
        Err(why) => {
            canvas.fill_rect(x as i64, y as i64, w, h, MISSING);
            let style = TextStyle::new(12.0).colour([119, 119, 119]);
            canvas.text(
                centre,
                (y + CELL_H / 2 + 4) as f32,
                why,
                &style.align(Align::Centre),
            );
            return;
        }
    };
    let fill = rgb(a.rate);
    canvas.fill_rect(x as i64, y as i64, w, h, fill);
    let luminance = 0.2126 * fill[0] as f32 + 0.7152 * fill[1] as f32 + 0.0722 * fill[2] as f32;
    let ink = if luminance < 110.0 { WHITE } else { [0, 0, 0] };
    let rate = TextStyle::new(14.0).bold().colour(ink).align(Align::Centre);
    canvas.text(centre, (y + 19) as f32, &format!("{:.2}", a.rate), &rate);
    let interval = format!("[{:.2}, {:.2}] n={}", a.ci_low, a.ci_high, a.n);
    let small = TextStyle::new(10.0).colour(ink).align(Align::Centre);
    let interval = fit_text(&interval, CELL_W as f32 - 4.0, &small);
    canvas.text(centre, (y + 35) as f32, &interval, &small);
}

/// The colour scale from 0 to 1 in eleven steps, its name and ends, and the note below.
fn legend(canvas: &mut Canvas, y: usize) {
    let (steps, w) = (10usize, 24usize);
    for i in 0..=steps {
        let x = LABEL_W + i * w;
        canvas.fill_rect(
            x as i64,
            y as i64,
            w as u32,
            16,
            rgb(i as f64 / steps as f64),
        );
    }
    let label = TextStyle::new(12.0).align(Align::Right);
    canvas.text(
        LABEL_W as f32 - 8.0,
        (y + 13) as f32,
        "correct rate",
        &label,
    );
    let ends = TextStyle::new(11.0).align(Align::Centre);
    for (step, text) in [(0, "0"), (5, "0.5 (chance)"), (10, "1")] {
        let x = LABEL_W + step * w + w / 2;
        canvas.text(x as f32, (y + 32) as f32, text, &ends);
    }
    for (i, line) in NOTE.iter().enumerate() {
        canvas.text(10.0, (y + 58 + 16 * i) as f32, line, &note_style());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Rate;

    fn summary(model: &str, rates: &[(&str, &str, Rate)]) -> Summary {
        Summary {
            scorer: model.into(),
            methods: vec!["paper".into()],
            failures: 0,
            stopped_early: None,
            rows: rates
                .iter()
                .map(|(nation, set, rate)| SummaryRow {
                    nation: (*nation).into(),
                    set: (*set).into(),
                    method: "paper".into(),
                    accuracy: rate.clone(),
                    ties: 0,
                    chose_a: None,
                    accuracy_s_at_a: None,
                    accuracy_s_at_b: None,
                })
                .collect(),
            overall: vec![],
        }
    }

    fn dark(c: &Canvas, x0: usize, y0: usize, x1: usize, y1: usize) -> usize {
        (y0..y1)
            .flat_map(|y| (x0..x1).map(move |x| (x as u32, y as u32)))
            .filter(|&(x, y)| c.pixel(x, y).is_some_and(|p| p.iter().all(|&v| v < 100)))
            .count()
    }

    /// The colour at the centre of cell (`row`, `col`), between the rate and the interval
    /// lines where no text is drawn.
    fn cell_colour(c: &Canvas, row: usize, col: usize) -> Option<Rgb> {
        let (x, y) = (LABEL_W + col * CELL_W + CELL_W / 2, TOP + row * CELL_H + 23);
        c.pixel(x as u32, y as u32)
    }

    /// The colour near the left edge of cell (`row`, `col`), clear of a placeholder's text.
    fn cell_edge_colour(c: &Canvas, row: usize, col: usize) -> Option<Rgb> {
        let (x, y) = (LABEL_W + col * CELL_W + 6, TOP + row * CELL_H + 23);
        c.pixel(x as u32, y as u32)
    }

    #[test]
    fn cells_have_their_rates_colour_and_text() {
        let a = summary(
            "model-a",
            &[
                ("US", "quoted", Rate::new(9, 10)),
                ("China", "official", Rate::new(2, 10)),
            ],
        );
        let b = summary("model-b", &[("US", "quoted", Rate::new(5, 10))]);
        let png = navab_plot::decode_png(&heatmap_png(&[a, b], "paper").unwrap()).unwrap();
        assert_eq!(png.height() as usize, TOP + 2 * CELL_H + BOTTOM);
        assert!(png.width() as usize >= LABEL_W + 2 * CELL_W + 20);
        // The title band holds dark text, the row-label band too.
        assert!(dark(&png, 0, 8, png.width() as usize, 32) > 200);
        assert!(dark(&png, 0, TOP, LABEL_W, TOP + 2 * CELL_H) > 100);
        // Columns in table order: quoted/US, official/China.
        assert_eq!(cell_colour(&png, 0, 0), Some(rgb(0.9)));
        assert_eq!(cell_colour(&png, 0, 1), Some(rgb(0.2)));
        assert_eq!(cell_colour(&png, 1, 0), Some(rgb(0.5)));
        assert_eq!(
            cell_edge_colour(&png, 1, 1),
            Some(MISSING),
            "model-b has no China"
        );
        assert_ne!(rgb(0.2), rgb(0.9));
        // Each coloured cell holds its rate's text: pixels far from the fill colour.
        for (row, col) in [(0, 0), (0, 1), (1, 0)] {
            let fill = cell_colour(&png, row, col).unwrap();
            let (x, y) = (LABEL_W + col * CELL_W, TOP + row * CELL_H);
            let ink = (y + 6..y + 20)
                .flat_map(|py| (x + 30..x + 90).map(move |px| (px as u32, py as u32)))
                .filter(|&(px, py)| {
                    let p = png.pixel(px, py).unwrap();
                    p.iter()
                        .zip(fill)
                        .map(|(&u, v)| u.abs_diff(v) as u32)
                        .sum::<u32>()
                        > 200
                })
                .count();
            assert!(ink > 20, "cell ({row}, {col}): {ink} ink pixels");
        }
    }

    #[test]
    fn bad_input_is_an_error_or_a_placeholder() {
        assert!(heatmap_png(&[], "paper").is_err());
        let mut nan = Rate::new(3, 10);
        nan.rate = f64::NAN;
        let blank = summary("", &[("", "", nan), ("US", "quoted", Rate::new(0, 0))]);
        let png = navab_plot::decode_png(&heatmap_png(&[blank], "paper").unwrap()).unwrap();
        // Both cells are grey placeholders, and the empty names are drawn as placeholders.
        assert_eq!(cell_edge_colour(&png, 0, 0), Some(MISSING));
        assert_eq!(cell_edge_colour(&png, 0, 1), Some(MISSING));
        assert!(
            dark(&png, 0, TOP, LABEL_W, TOP + CELL_H) > 50,
            "model placeholder"
        );
        assert!(
            dark(&png, LABEL_W, TOP - 24, LABEL_W + CELL_W, TOP) > 50,
            "nation placeholder"
        );
        // A method nobody ran: a picture that says so, not an error.
        let other = summary("m", &[("US", "quoted", Rate::new(1, 2))]);
        let png = navab_plot::decode_png(&heatmap_png(&[other], "acc").unwrap()).unwrap();
        assert!(dark(&png, LABEL_W, TOP, png.width() as usize, TOP + CELL_H) > 50);
    }
}
