//! The 2-D topic map as SVG and PNG, each with a title and a legend (feature `map`).
//!
//! Available with the crate feature `map`.

use std::path::Path;

use ndarray::ArrayView2;

use navab_plot::{fit_text, Canvas, TextStyle, WHITE};

use crate::{Error, Result};

/// Colours for topics (Tableau 20); outliers are light grey.
const PALETTE: [(u8, u8, u8); 20] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
    (174, 199, 232),
    (255, 187, 120),
    (152, 223, 138),
    (255, 152, 150),
    (197, 176, 213),
    (196, 156, 148),
    (247, 182, 210),
    (199, 199, 199),
    (219, 219, 141),
    (158, 218, 229),
];
const OUTLIER: (u8, u8, u8) = (215, 215, 215);

fn colour(label: Option<usize>) -> (u8, u8, u8) {
    label.map_or(OUTLIER, |t| PALETTE[t % PALETTE.len()])
}

/// Point positions scaled into a `width × height` box with a margin; `None` when the input is
/// empty, not 2-D or not finite.
fn scaled(
    points: ArrayView2<'_, f32>,
    width: f32,
    height: f32,
    margin: f32,
) -> Result<Vec<(f32, f32)>> {
    if points.ncols() != 2 || points.nrows() == 0 {
        return Err(Error::Input(format!(
            "a map needs n × 2 points, got {:?}",
            points.dim()
        )));
    }
    if points.iter().any(|v| !v.is_finite()) {
        return Err(Error::Input("map points must be finite".into()));
    }
    let (mut min_x, mut max_x, mut min_y, mut max_y) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
    for row in points.rows() {
        min_x = min_x.min(row[0]);
        max_x = max_x.max(row[0]);
        min_y = min_y.min(row[1]);
        max_y = max_y.max(row[1]);
    }
    let sx = (width - 2.0 * margin) / (max_x - min_x).max(1e-6);
    let sy = (height - 2.0 * margin) / (max_y - min_y).max(1e-6);
    Ok(points
        .rows()
        .into_iter()
        .map(|r| {
            (
                margin + (r[0] - min_x) * sx,
                height - margin - (r[1] - min_y) * sy,
            )
        })
        .collect())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Writes the map as SVG: one dot per document coloured by topic (outliers grey, drawn first),
/// a title, and a legend with each topic's name (e.g. its top words).
pub fn write_map_svg(
    path: &Path,
    points: ArrayView2<'_, f32>,
    labels: &[Option<usize>],
    topic_names: &[String],
    title: &str,
) -> Result<()> {
    let (w, h, legend_w) = (900.0f32, 800.0f32, 330.0f32);
    let xy = scaled(points, w, h, 30.0)?;
    if labels.len() != xy.len() {
        return Err(Error::Input(format!(
            "{} labels for {} points",
            labels.len(),
            xy.len()
        )));
    }
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{h}\" font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"30\" y=\"20\" font-size=\"15\">{}</text>\n",
        w + legend_w,
        escape(title)
    );
    for outliers_pass in [true, false] {
        for (&(x, y), &label) in xy.iter().zip(labels) {
            if label.is_none() == outliers_pass {
                let (r, g, b) = colour(label);
                svg.push_str(&format!(
                    "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"2.2\" fill=\"rgb({r},{g},{b})\" fill-opacity=\"0.8\"/>\n"
                ));
            }
        }
    }
    let mut y = 50.0;
    for (t, name) in topic_names.iter().enumerate().take(40) {
        let (r, g, b) = colour(Some(t));
        svg.push_str(&format!(
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"5\" fill=\"rgb({r},{g},{b})\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\">{t}: {}</text>\n",
            w + 10.0, y - 4.0, w + 20.0, y, escape(name)
        ));
        y += 18.0;
    }
    let (r, g, b) = OUTLIER;
    svg.push_str(&format!(
        "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"5\" fill=\"rgb({r},{g},{b})\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\">outliers</text>\n</svg>\n",
        w + 10.0, y - 4.0, w + 20.0, y
    ));
    std::fs::write(path, svg).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes the map as an RGB PNG with a generic title and legend ("topic 0", "topic 1", …):
/// [`write_map_png_labeled`] with the topics' own names reads better. The plot is `size ×
/// size` pixels (at least 64); the title band and the legend are added around it.
pub fn write_map_png(
    path: &Path,
    points: ArrayView2<'_, f32>,
    labels: &[Option<usize>],
    size: u32,
) -> Result<()> {
    let topics = labels.iter().flatten().max().map_or(0, |&t| t + 1);
    let names: Vec<String> = (0..topics).map(|t| format!("topic {t}")).collect();
    let title = format!("Topic map: {} documents, {topics} topics", labels.len());
    write_map_png_labeled(path, points, labels, &names, &title, size)
}

const PNG_TOP: u32 = 52;
const PNG_LEGEND_W: u32 = 330;
const LEGEND_ROW: f32 = 18.0;

/// Writes the map as an RGB PNG that reads on its own, like the SVG: the title and a note on
/// what a dot is at the top, one dot per document coloured by topic (outliers light grey,
/// drawn first), and on the right a legend with each topic's colour and name (e.g. its top
/// words; an empty name becomes "topic N", a long one is shortened). The plot is `size ×
/// size` pixels (64 to 8,192); the picture is `size + 330` wide and `size + 52` high. The file
/// is replaced atomically.
pub fn write_map_png_labeled(
    path: &Path,
    points: ArrayView2<'_, f32>,
    labels: &[Option<usize>],
    topic_names: &[String],
    title: &str,
    size: u32,
) -> Result<()> {
    map_canvas(points, labels, topic_names, title, size)?.write_png(path)?;
    Ok(())
}

/// The labeled map, drawn (what [`write_map_png_labeled`] writes).
fn map_canvas(
    points: ArrayView2<'_, f32>,
    labels: &[Option<usize>],
    topic_names: &[String],
    title: &str,
    size: u32,
) -> Result<Canvas> {
    let side = size.clamp(64, 8192);
    let xy = scaled(points, side as f32, side as f32, 12.0)?;
    if labels.len() != xy.len() {
        return Err(Error::Input(format!(
            "{} labels for {} points",
            labels.len(),
            xy.len()
        )));
    }
    let mut canvas = Canvas::new(side + PNG_LEGEND_W, side + PNG_TOP, WHITE)?;
    let width = canvas.width() as f32 - 20.0;
    let title_style = TextStyle::new(16.0).bold();
    let title = if title.trim().is_empty() {
        "Topic map"
    } else {
        title
    };
    canvas.text(
        12.0,
        22.0,
        &fit_text(title, width, &title_style),
        &title_style,
    );
    let note = TextStyle::new(11.0).colour(GREY_TEXT);
    let what = "One dot per document, coloured by topic; outliers light grey. \
                2-D UMAP: the axes have no units, nearness is what counts.";
    canvas.text(12.0, 40.0, &fit_text(what, width, &note), &note);
    for outliers_pass in [true, false] {
        for (&(x, y), &label) in xy.iter().zip(labels) {
            if label.is_none() == outliers_pass {
                let (r, g, b) = colour(label);
                canvas.dot(x, y + PNG_TOP as f32, 2.2, [r, g, b]);
            }
        }
    }
    let topics = labels
        .iter()
        .flatten()
        .map(|&t| t + 1)
        .max()
        .unwrap_or(0)
        .max(topic_names.len());
    legend(&mut canvas, side as f32, topics, topic_names);
    Ok(canvas)
}

const GREY_TEXT: [u8; 3] = [68, 68, 68];

/// The legend right of the plot: a row per topic as long as rows fit, then "… and N more",
/// then the outliers' row.
fn legend(canvas: &mut Canvas, left: f32, topics: usize, topic_names: &[String]) {
    let text = TextStyle::new(12.0);
    let name_w = PNG_LEGEND_W as f32 - 40.0;
    let mut y = PNG_TOP as f32 + 20.0;
    canvas.text(left + 10.0, y, "Topics", &text.bold());
    y += LEGEND_ROW + 4.0;
    let bottom = canvas.height() as f32 - 8.0;
    let room = ((bottom - y) / LEGEND_ROW).floor().max(0.0) as usize;
    // Keep a row for the outliers, and one for "… and N more" when the topics overflow.
    let shown = if topics < room {
        topics
    } else {
        room.saturating_sub(2)
    };
    let row = |canvas: &mut Canvas, y: f32, dot: Option<[u8; 3]>, name: &str| {
        if let Some(c) = dot {
            canvas.dot(left + 16.0, y - 4.0, 5.0, c);
        }
        canvas.text(left + 28.0, y, &fit_text(name, name_w, &text), &text);
    };
    for t in 0..shown {
        let name = topic_names
            .get(t)
            .map(|n| n.trim())
            .filter(|n| !n.is_empty())
            .map_or_else(|| format!("topic {t}"), |n| format!("{t}: {n}"));
        let (r, g, b) = colour(Some(t));
        row(canvas, y, Some([r, g, b]), &name);
        y += LEGEND_ROW;
    }
    if shown < topics {
        row(canvas, y, None, &format!("… and {} more", topics - shown));
        y += LEGEND_ROW;
    }
    let (r, g, b) = OUTLIER;
    row(canvas, y, Some([r, g, b]), "outliers");
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn dark(c: &Canvas, x0: u32, y0: u32, x1: u32, y1: u32) -> usize {
        (y0..y1)
            .flat_map(|y| (x0..x1).map(move |x| (x, y)))
            .filter(|&(x, y)| c.pixel(x, y).is_some_and(|p| p.iter().all(|&v| v < 100)))
            .count()
    }

    fn two_clusters() -> (Array2<f32>, Vec<Option<usize>>) {
        let points = Array2::from_shape_fn((40, 2), |(i, j)| {
            let centre = if i < 20 { 0.0 } else { 10.0 };
            centre + ((i * 7 + j * 3) % 5) as f32 * 0.1
        });
        let labels = (0..40)
            .map(|i| match i {
                0 => None,
                i if i < 20 => Some(0),
                _ => Some(1),
            })
            .collect();
        (points, labels)
    }

    #[test]
    fn labeled_png_has_title_dots_and_legend() {
        let (points, labels) = two_clusters();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("map.png");
        let names = vec!["tax, election".to_string(), String::new()];
        write_map_png_labeled(&path, points.view(), &labels, &names, "Two topics", 300).unwrap();
        let png = navab_plot::decode_png(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(
            (png.width(), png.height()),
            (300 + PNG_LEGEND_W, 300 + PNG_TOP)
        );
        // The title band holds dark text pixels; a blank band would have none.
        assert!(dark(&png, 0, 0, 300, 28) > 50);
        // Each topic's colour appears in the plot and as the legend's dot.
        let legend_x = 300 + 16;
        let first_row = (PNG_TOP as f32 + 20.0 + LEGEND_ROW + 4.0 - 4.0) as u32;
        for (t, y) in [(0usize, first_row), (1, first_row + LEGEND_ROW as u32)] {
            let (r, g, b) = colour(Some(t));
            assert_eq!(png.pixel(legend_x, y), Some([r, g, b]), "legend dot {t}");
            let in_plot = (PNG_TOP..png.height())
                .flat_map(|y| (0..300).map(move |x| (x, y)))
                .filter(|&(x, y)| png.pixel(x, y) == Some([r, g, b]))
                .count();
            assert!(in_plot > 20, "topic {t}: {in_plot} pixels");
            // Legend text right of the dot.
            assert!(
                dark(&png, legend_x + 10, y - 8, png.width(), y + 6) > 10,
                "name {t}"
            );
        }
    }

    #[test]
    fn many_topics_fit_the_legend_and_bad_input_is_an_error() {
        let points = Array2::from_shape_fn((200, 2), |(i, j)| (i * (j + 1)) as f32);
        let labels: Vec<Option<usize>> = (0..200).map(|i| Some(i % 100)).collect();
        let c = map_canvas(points.view(), &labels, &[], "", 64).unwrap();
        assert_eq!(c.height(), 64 + PNG_TOP);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("map.png");
        assert!(write_map_png(&path, points.view(), &labels[..10], 100).is_err());
        let mut nan = points.clone();
        nan[[3, 1]] = f32::NAN;
        assert!(write_map_png(&path, nan.view(), &labels, 100).is_err());
        let empty = Array2::<f32>::zeros((0, 2));
        assert!(write_map_png(&path, empty.view(), &[], 100).is_err());
        assert!(!path.exists());
        // The unlabeled call still draws a title and names its topics.
        write_map_png(&path, points.view(), &labels, 100).unwrap();
        let png = navab_plot::decode_png(&std::fs::read(&path).unwrap()).unwrap();
        assert!(dark(&png, 0, 0, png.width(), 28) > 50);
    }
}
