//! The 2-D topic map as SVG (with a legend) and PNG (feature `map`).
//!
//! Available with the crate feature `map`.

use std::path::Path;

use ndarray::ArrayView2;

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

/// Writes the map as an RGB PNG (`size × size`), dots only: the SVG carries the legend.
pub fn write_map_png(
    path: &Path,
    points: ArrayView2<'_, f32>,
    labels: &[Option<usize>],
    size: u32,
) -> Result<()> {
    let side = size.max(64) as f32;
    let xy = scaled(points, side, side, 12.0)?;
    if labels.len() != xy.len() {
        return Err(Error::Input(format!(
            "{} labels for {} points",
            labels.len(),
            xy.len()
        )));
    }
    let n = size.max(64) as usize;
    let mut pixels = vec![255u8; n * n * 3];
    let radius = 2i32;
    for outliers_pass in [true, false] {
        for (&(x, y), &label) in xy.iter().zip(labels) {
            if label.is_none() != outliers_pass {
                continue;
            }
            let (r, g, b) = colour(label);
            for dy in -radius..=radius {
                for dx in -radius..=radius {
                    if dx * dx + dy * dy > radius * radius {
                        continue;
                    }
                    let (px, py) = (x as i32 + dx, y as i32 + dy);
                    if px >= 0 && py >= 0 && (px as usize) < n && (py as usize) < n {
                        let k = (py as usize * n + px as usize) * 3;
                        pixels[k..k + 3].copy_from_slice(&[r, g, b]);
                    }
                }
            }
        }
    }
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::create(path).map_err(io)?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), n as u32, n as u32);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let png_error = |e: png::EncodingError| Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    };
    let mut writer = encoder.write_header().map_err(png_error)?;
    writer.write_image_data(&pixels).map_err(png_error)?;
    writer.finish().map_err(png_error)?;
    Ok(())
}
