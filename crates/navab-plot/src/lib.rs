//! PNG figures that carry their own text: an RGB [`Canvas`] with filled rectangles, dots and
//! anti-aliased text in a bundled font (DejaVu Sans, regular and bold), written as PNG.
//!
//! ```
//! use navab_plot::{Align, Canvas, TextStyle, WHITE};
//!
//! # fn main() -> navab_plot::Result<()> {
//! let mut canvas = Canvas::new(320, 120, WHITE)?;
//! let title = TextStyle::new(18.0).bold();
//! canvas.text(10.0, 28.0, "Correct rate by model", &title);
//! canvas.fill_rect(10, 50, 60, 30, [26, 152, 80]);
//! canvas.dot(120.0, 65.0, 6.0, [31, 119, 180]);
//! let note = TextStyle::new(11.0).align(Align::Centre).colour([68, 68, 68]);
//! canvas.text(160.0, 110.0, "0.5 is chance", &note);
//! assert!(navab_plot::text_width("wide text", &note) > navab_plot::text_width("w", &note));
//! let bytes = canvas.encode_png()?;
//! let back = navab_plot::decode_png(&bytes)?;
//! assert_eq!((back.width(), back.height()), (320, 120));
//! assert_eq!(back.pixel(40, 65), Some([26, 152, 80]));
//! # Ok(()) }
//! ```
//!
//! Text is laid out on one line, left-, centre- or right-aligned on an anchor, with kerning;
//! [`text_width`] measures it for layout and [`fit_text`] shortens it to a width. Characters
//! the font lacks (DejaVu Sans covers Latin, Greek, Cyrillic, Arabic and Hebrew, not CJK) are
//! drawn as the font's empty box; control characters are skipped.
//!
//! The crate depends on no ML library: `ab_glyph` (pure Rust) rasterises, `png` encodes, and
//! [`Canvas::write_png`] replaces the file atomically (`navab_core::replace_file`).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ab_glyph::{point, Font as _, FontRef, PxScale, ScaleFont as _};

/// An sRGB colour.
pub type Rgb = [u8; 3];
/// White.
pub const WHITE: Rgb = [255, 255, 255];
/// Black.
pub const BLACK: Rgb = [0, 0, 0];

/// The largest canvas side in pixels (PNG allows more; a figure never needs it).
pub const MAX_SIDE: u32 = 16_384;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A canvas size or image that cannot be used.
    #[error("{0}")]
    Input(String),
    /// Encoding or decoding a PNG failed.
    #[error("PNG: {0}")]
    Png(String),
    /// Writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// This crate's result.
pub type Result<T> = std::result::Result<T, Error>;

/// Where a text's anchor sits on its line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Align {
    /// The anchor is the text's left end.
    #[default]
    Left,
    /// The anchor is the text's middle.
    Centre,
    /// The anchor is the text's right end.
    Right,
}

/// Regular or bold DejaVu Sans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Weight {
    /// DejaVu Sans.
    #[default]
    Regular,
    /// DejaVu Sans Bold.
    Bold,
}

/// How a text is drawn: pixel size (the font's em), weight, colour and alignment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextStyle {
    /// The em size in pixels (like SVG's `font-size`).
    pub size: f32,
    /// Regular or bold.
    pub weight: Weight,
    /// The text's colour.
    pub colour: Rgb,
    /// Where the anchor sits.
    pub align: Align,
}

impl TextStyle {
    /// Black, regular, left-aligned text of `size` pixels.
    pub fn new(size: f32) -> Self {
        Self {
            size,
            weight: Weight::Regular,
            colour: BLACK,
            align: Align::Left,
        }
    }

    /// The same in bold.
    pub fn bold(mut self) -> Self {
        self.weight = Weight::Bold;
        self
    }

    /// The same in `colour`.
    pub fn colour(mut self, colour: Rgb) -> Self {
        self.colour = colour;
        self
    }

    /// The same with another alignment.
    pub fn align(mut self, align: Align) -> Self {
        self.align = align;
        self
    }

    /// A size that can be drawn: a non-finite or non-positive size becomes 1 pixel, a huge one
    /// 512 (no glyph of a figure is larger).
    fn scale(&self) -> PxScale {
        let size = if self.size.is_finite() {
            self.size.clamp(1.0, 512.0)
        } else {
            1.0
        };
        PxScale::from(size)
    }
}

fn font(weight: Weight) -> &'static FontRef<'static> {
    static REGULAR: OnceLock<FontRef<'static>> = OnceLock::new();
    static BOLD: OnceLock<FontRef<'static>> = OnceLock::new();
    let (cell, bytes) = match weight {
        Weight::Regular => (&REGULAR, dejavu::sans::regular()),
        Weight::Bold => (&BOLD, dejavu::sans::bold()),
    };
    // The bytes are the bundled DejaVu Sans files, which parse (a test checks both weights).
    cell.get_or_init(|| FontRef::try_from_slice(bytes).expect("bundled DejaVu Sans parses"))
}

/// The glyphs of `text` in `style`, positioned from x = 0 on a baseline at y = 0, and the
/// width of the line (the pen's advance).
fn layout(text: &str, style: &TextStyle) -> (Vec<ab_glyph::Glyph>, f32) {
    let font = font(style.weight);
    let scaled = font.as_scaled(style.scale());
    let mut glyphs = Vec::with_capacity(text.len());
    let mut x = 0.0f32;
    let mut previous = None;
    for c in text.chars().filter(|c| !c.is_control()) {
        let id = font.glyph_id(c);
        if let Some(p) = previous {
            x += scaled.kern(p, id);
        }
        glyphs.push(id.with_scale_and_position(style.scale(), point(x, 0.0)));
        x += scaled.h_advance(id);
        previous = Some(id);
    }
    (glyphs, x)
}

/// The width in pixels of `text` drawn in `style` (kerning included).
pub fn text_width(text: &str, style: &TextStyle) -> f32 {
    layout(text, style).1
}

/// `text` itself when it fits in `max_width` pixels, else its longest prefix that fits with
/// `…` after it (just `…` when nothing else fits).
pub fn fit_text(text: &str, max_width: f32, style: &TextStyle) -> String {
    if text_width(text, style) <= max_width {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    // The widest prefix that fits, by bisection on the number of characters kept.
    let (mut lo, mut hi) = (0usize, chars.len());
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        let candidate: String = chars[..mid].iter().chain(['…'].iter()).collect();
        if text_width(&candidate, style) <= max_width {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let kept: String = chars[..lo].iter().collect();
    format!("{}…", kept.trim_end())
}

/// An RGB image being drawn: row-major, 3 bytes a pixel, the origin at the top left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canvas {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

impl Canvas {
    /// A `width × height` canvas filled with `background`; an error when a side is 0 or above
    /// [`MAX_SIDE`].
    pub fn new(width: u32, height: u32, background: Rgb) -> Result<Self> {
        if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
            return Err(Error::Input(format!(
                "a canvas needs sides of 1 to {MAX_SIDE} pixels, got {width} × {height}"
            )));
        }
        let n = width as usize * height as usize;
        Ok(Self {
            width,
            height,
            pixels: background.repeat(n),
        })
    }

    /// The width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// The height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The pixels, row-major RGB.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// The colour at (`x`, `y`), `None` outside the canvas.
    pub fn pixel(&self, x: u32, y: u32) -> Option<Rgb> {
        let k = self.index(x as i64, y as i64)?;
        Some([self.pixels[k], self.pixels[k + 1], self.pixels[k + 2]])
    }

    fn index(&self, x: i64, y: i64) -> Option<usize> {
        (x >= 0 && y >= 0 && x < self.width as i64 && y < self.height as i64)
            .then(|| (y as usize * self.width as usize + x as usize) * 3)
    }

    /// Mixes `colour` into the pixel at (`x`, `y`) with opacity `alpha` (0 to 1); nothing
    /// outside the canvas.
    pub fn blend(&mut self, x: i64, y: i64, colour: Rgb, alpha: f32) {
        let Some(k) = self.index(x, y) else { return };
        let a = alpha.clamp(0.0, 1.0);
        if a <= 0.0 {
            return;
        }
        for (p, c) in self.pixels[k..k + 3].iter_mut().zip(colour) {
            *p = (*p as f32 * (1.0 - a) + c as f32 * a).round() as u8;
        }
    }

    /// Fills the rectangle with its top left at (`x`, `y`), clipped to the canvas.
    pub fn fill_rect(&mut self, x: i64, y: i64, width: u32, height: u32, colour: Rgb) {
        let (x0, y0) = (x.max(0), y.max(0));
        let x1 = (x + width as i64).min(self.width as i64);
        let y1 = (y + height as i64).min(self.height as i64);
        for py in y0..y1 {
            for px in x0..x1 {
                if let Some(k) = self.index(px, py) {
                    self.pixels[k..k + 3].copy_from_slice(&colour);
                }
            }
        }
    }

    /// A filled disc centred on (`cx`, `cy`) with an anti-aliased edge.
    pub fn dot(&mut self, cx: f32, cy: f32, radius: f32, colour: Rgb) {
        if !(cx.is_finite() && cy.is_finite() && radius.is_finite() && radius > 0.0) {
            return;
        }
        let r = radius.min(MAX_SIDE as f32);
        let (x0, x1) = ((cx - r - 1.0).floor() as i64, (cx + r + 1.0).ceil() as i64);
        let (y0, y1) = ((cy - r - 1.0).floor() as i64, (cy + r + 1.0).ceil() as i64);
        for py in y0.max(0)..=y1.min(self.height as i64) {
            for px in x0.max(0)..=x1.min(self.width as i64) {
                let (dx, dy) = (px as f32 + 0.5 - cx, py as f32 + 0.5 - cy);
                let coverage = r + 0.5 - (dx * dx + dy * dy).sqrt();
                self.blend(px, py, colour, coverage);
            }
        }
    }

    /// Draws `text` on one line with its baseline at `y` and its anchor at `x` (see
    /// [`TextStyle::align`]); returns the width drawn. Pixels outside the canvas are dropped.
    pub fn text(&mut self, x: f32, y: f32, text: &str, style: &TextStyle) -> f32 {
        let (glyphs, width) = layout(text, style);
        if !(x.is_finite() && y.is_finite()) {
            return width;
        }
        let left = match style.align {
            Align::Left => x,
            Align::Centre => x - width / 2.0,
            Align::Right => x - width,
        };
        let font = font(style.weight);
        for mut glyph in glyphs {
            glyph.position = point(glyph.position.x + left, glyph.position.y + y);
            if let Some(outline) = font.outline_glyph(glyph) {
                let bounds = outline.px_bounds();
                let (bx, by) = (bounds.min.x as i64, bounds.min.y as i64);
                outline.draw(|gx, gy, coverage| {
                    self.blend(bx + gx as i64, by + gy as i64, style.colour, coverage);
                });
            }
        }
        width
    }

    /// The canvas as PNG bytes (8-bit RGB).
    pub fn encode_png(&self) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        let png_error = |e: png::EncodingError| Error::Png(e.to_string());
        let mut encoder = png::Encoder::new(&mut bytes, self.width, self.height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(png_error)?;
        writer.write_image_data(&self.pixels).map_err(png_error)?;
        writer.finish().map_err(png_error)?;
        Ok(bytes)
    }

    /// Writes the canvas to `path` as PNG, replacing the file atomically (missing parent
    /// directories are created).
    pub fn write_png(&self, path: &Path) -> Result<()> {
        let bytes = self.encode_png()?;
        navab_core::replace_file(path, &bytes).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Decodes an 8-bit RGB or RGBA PNG (what [`Canvas::encode_png`] writes; alpha is dropped):
/// for tests and for checking a written figure.
pub fn decode_png(bytes: &[u8]) -> Result<Canvas> {
    let png_error = |e: png::DecodingError| Error::Png(e.to_string());
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .map_err(png_error)?;
    let mut buffer = vec![0u8; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buffer).map_err(png_error)?;
    let channels = match (info.color_type, info.bit_depth) {
        (png::ColorType::Rgb, png::BitDepth::Eight) => 3,
        (png::ColorType::Rgba, png::BitDepth::Eight) => 4,
        (colour, depth) => {
            return Err(Error::Input(format!(
                "only 8-bit RGB or RGBA PNGs are read, this one is {colour:?} {depth:?}"
            )))
        }
    };
    let mut canvas = Canvas::new(info.width, info.height, WHITE)?;
    for (row, out) in buffer
        .chunks(info.line_size)
        .zip(canvas.pixels.chunks_mut(info.width as usize * 3))
    {
        for (px, o) in row.chunks(channels).zip(out.chunks_mut(3)) {
            o.copy_from_slice(&px[..3]);
        }
    }
    Ok(canvas)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dark_pixels(c: &Canvas, x0: u32, y0: u32, x1: u32, y1: u32) -> usize {
        (y0..y1)
            .flat_map(|y| (x0..x1).map(move |x| (x, y)))
            .filter(|&(x, y)| c.pixel(x, y).is_some_and(|p| p.iter().all(|&v| v < 128)))
            .count()
    }

    #[test]
    fn both_bundled_weights_parse_and_measure() {
        for weight in [Weight::Regular, Weight::Bold] {
            let style = TextStyle {
                weight,
                ..TextStyle::new(14.0)
            };
            let (a, b, c) = (
                text_width("N", &style),
                text_width("NaVAB", &style),
                text_width("NaVAB correct rate", &style),
            );
            assert!(0.0 < a && a < b && b < c, "{a} {b} {c}");
        }
        let regular = text_width("NaVAB", &TextStyle::new(14.0));
        assert!(text_width("NaVAB", &TextStyle::new(14.0).bold()) > regular);
        assert!(text_width("NaVAB", &TextStyle::new(28.0)) > 1.9 * regular);
        assert_eq!(text_width("", &TextStyle::new(14.0)), 0.0);
    }

    #[test]
    fn text_draws_dark_pixels_where_its_alignment_puts_it() {
        let style = TextStyle::new(16.0);
        let w = text_width("Title", &style);
        for (align, x, left) in [
            (Align::Left, 10.0, 10.0),
            (Align::Centre, 100.0, 100.0 - w / 2.0),
            (Align::Right, 190.0, 190.0 - w),
        ] {
            let mut c = Canvas::new(200, 40, WHITE).unwrap();
            c.text(x, 25.0, "Title", &style.align(align));
            let (l, r) = (left.floor() as u32, (left + w).ceil() as u32 + 1);
            assert!(dark_pixels(&c, l, 8, r, 27) > 20, "{align:?}");
            assert_eq!(dark_pixels(&c, 0, 0, 200, 40), dark_pixels(&c, l, 8, r, 27));
        }
    }

    #[test]
    fn fit_text_shortens_to_the_width() {
        let style = TextStyle::new(12.0);
        assert_eq!(fit_text("short", 500.0, &style), "short");
        let long = "a very long topic name with many words in it";
        let fitted = fit_text(long, 80.0, &style);
        assert!(
            fitted.ends_with('…') && fitted.len() < long.len(),
            "{fitted}"
        );
        assert!(text_width(&fitted, &style) <= 80.0);
        assert_eq!(fit_text(long, 1.0, &style), "…");
    }

    #[test]
    fn png_round_trip_keeps_size_and_pixels() {
        let mut c = Canvas::new(37, 21, [10, 20, 30]).unwrap();
        c.fill_rect(-5, 5, 20, 4, [200, 100, 0]);
        c.fill_rect(30, 18, 50, 50, [1, 2, 3]);
        c.dot(25.0, 5.0, 3.0, [0, 0, 255]);
        let back = decode_png(&c.encode_png().unwrap()).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.pixel(0, 6), Some([200, 100, 0]));
        assert_eq!(back.pixel(36, 20), Some([1, 2, 3]));
        assert_eq!(back.pixel(25, 5), Some([0, 0, 255]));
        assert_eq!(back.pixel(37, 0), None);
        assert!(decode_png(b"not a png").is_err());
    }

    #[test]
    fn bad_sizes_and_coordinates_are_errors_or_ignored() {
        assert!(Canvas::new(0, 10, WHITE).is_err());
        assert!(Canvas::new(10, MAX_SIDE + 1, WHITE).is_err());
        let mut c = Canvas::new(10, 10, WHITE).unwrap();
        c.dot(f32::NAN, 5.0, 2.0, BLACK);
        c.dot(5.0, 5.0, f32::INFINITY, BLACK);
        c.text(f32::NAN, 5.0, "x", &TextStyle::new(12.0));
        c.text(5.0, 5.0, "x\n\u{7}", &TextStyle::new(f32::NAN));
        assert_eq!(c.pixel(9, 9), Some(WHITE));
        c.fill_rect(i64::MIN / 2, 0, u32::MAX, 10, BLACK);
        assert_eq!(c.pixel(9, 9), Some(WHITE));
        c.fill_rect(-5, -5, u32::MAX, u32::MAX, BLACK);
        assert_eq!(c.pixel(9, 9), Some(BLACK));
    }

    #[test]
    fn write_png_replaces_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/figure.png");
        Canvas::new(4, 3, WHITE).unwrap().write_png(&path).unwrap();
        let back = decode_png(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!((back.width(), back.height()), (4, 3));
    }
}
