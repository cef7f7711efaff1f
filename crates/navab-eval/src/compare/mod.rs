//! Many models, one report: finished run folders (their `summary.json`) combined into one
//! Table-2-shaped table, a CSV with a row per model and cell, and a heatmap as SVG and PNG.
//!
//! ```no_run
//! use navab_eval::compare::{read_summary, write_comparison};
//!
//! # fn main() -> navab_eval::Result<()> {
//! let runs = ["runs/SmolLM2-135M-Instruct", "runs/gemma-3-270m"];
//! let summaries = runs.iter().map(|d| read_summary(d.as_ref())).collect::<Result<Vec<_>, _>>()?;
//! // comparison.md, comparison.csv, heatmap.svg and heatmap.png (the `paper` method's rates).
//! // The PNG alone: navab_eval::compare::heatmap_png(&summaries, "paper")?
//! write_comparison("runs/compare".as_ref(), &summaries, "paper")?;
//! # Ok(()) }
//! ```

use std::fmt::Write as _;
use std::path::Path;

mod png;
pub use png::heatmap_png;

use crate::report::{
    sorted_nations, sorted_sets, table2_markdown, write_atomic, Rate, Summary, SummaryRow,
};
use crate::{Error, Result};

/// Reads `summary.json` from a finished run folder (what `write_reports` wrote).
pub fn read_summary(run_dir: &Path) -> Result<Summary> {
    let path = run_dir.join("summary.json");
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| Error::Json {
        what: path.display().to_string(),
        source,
    })
}

/// One CSV row per model × statement set × nation × method: the rate, its interval and `n`.
pub fn comparison_csv(summaries: &[Summary]) -> String {
    let mut out = String::from("model,set,nation,method,n,correct,rate,ci_low,ci_high\n");
    for s in summaries {
        for r in s.rows.iter().chain(&s.overall) {
            let a = &r.accuracy;
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{:.6},{:.6},{:.6}",
                csv_field(&s.scorer),
                csv_field(&r.set),
                csv_field(&r.nation),
                csv_field(&r.method),
                a.n,
                a.correct,
                a.rate,
                a.ci_low,
                a.ci_high
            );
        }
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Writes `comparison.md` (the Table-2-shaped table, every model a row), `comparison.csv`
/// ([`comparison_csv`]), `heatmap.svg` ([`heatmap_svg`] for `method`) and `heatmap.png` (the
/// same picture, [`heatmap_png`]) into `out`, each replaced atomically.
pub fn write_comparison(out: &Path, summaries: &[Summary], method: &str) -> Result<()> {
    if summaries.is_empty() {
        return Err(Error::InvalidOptions("no runs to compare".into()));
    }
    std::fs::create_dir_all(out).map_err(|source| Error::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let mut md = String::from("# Multiple-choice correct rates, by model\n\n");
    md.push_str(&table2_markdown(summaries));
    md.push_str("\nCorrect: the model preferred S, the statement holding the nation's stance.\n");
    write_atomic(&out.join("comparison.md"), md.as_bytes())?;
    write_atomic(
        &out.join("comparison.csv"),
        comparison_csv(summaries).as_bytes(),
    )?;
    write_atomic(
        &out.join("heatmap.svg"),
        heatmap_svg(summaries, method).as_bytes(),
    )?;
    write_atomic(&out.join("heatmap.png"), &heatmap_png(summaries, method)?)?;
    Ok(())
}

const CELL_W: usize = 118;
const CELL_H: usize = 46;
const LABEL_W: usize = 230;
const TOP: usize = 92;

/// A heatmap of one method's correct rates: a row per model, a column per statement set ×
/// nation; each cell's colour is its rate (red 0, white 0.5, green 1) and its text the rate,
/// the 95% interval and `n`. Title, column groups, a colour legend and a note are part of the
/// picture, so it reads on its own. Plain SVG text: no font to bundle.
pub fn heatmap_svg(summaries: &[Summary], method: &str) -> String {
    let columns = heatmap_columns(summaries, method);
    let width = LABEL_W + CELL_W * columns.len().max(1) + 20;
    let height = TOP + CELL_H * summaries.len() + 110;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="DejaVu Sans, Arial, sans-serif">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="28" font-size="18" font-weight="bold">NaVAB multiple choice: correct rate by model, statement set and nation (method {})</text>"#,
        10,
        xml(method)
    );
    // Column headers: the set above, the nation below.
    for (i, (set, nation)) in columns.iter().enumerate() {
        let x = LABEL_W + i * CELL_W + CELL_W / 2;
        let first_of_set = i == 0 || columns[i - 1].0 != *set;
        if first_of_set {
            let _ = writeln!(
                svg,
                r#"<text x="{}" y="{}" font-size="13" font-style="italic">{}</text>"#,
                LABEL_W + i * CELL_W + 4,
                TOP - 34,
                xml(&set_label(set.as_str()))
            );
        }
        let _ = writeln!(
            svg,
            r#"<text x="{x}" y="{}" font-size="13" text-anchor="middle" font-weight="bold">{}</text>"#,
            TOP - 10,
            xml(nation)
        );
    }
    for (row, summary) in summaries.iter().enumerate() {
        let y = TOP + row * CELL_H;
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" font-size="13" text-anchor="end">{}</text>"#,
            LABEL_W - 8,
            y + CELL_H / 2 + 5,
            xml(&short(&summary.scorer, 30))
        );
        for (col, (set, nation)) in columns.iter().enumerate() {
            let x = LABEL_W + col * CELL_W;
            cell(&mut svg, x, y, summary.row(nation, set, method));
        }
    }
    legend(&mut svg, TOP + CELL_H * summaries.len() + 24);
    let _ = writeln!(svg, "</svg>");
    svg
}

/// The heatmap's columns, statement set × nation, in table order; only those where some model
/// has a row for `method`.
fn heatmap_columns(summaries: &[Summary], method: &str) -> Vec<(String, String)> {
    let nations = sorted_nations(summaries);
    let sets = sorted_sets(summaries);
    sets.iter()
        .flat_map(|s| nations.iter().map(move |n| (s.clone(), n.clone())))
        .filter(|(s, n)| summaries.iter().any(|m| m.row(n, s, method).is_some()))
        .collect()
}

/// The rate a cell shows, or why it shows none: no row or no items, or a rate that is not a
/// number in [0, 1] (a hand-edited summary), which is named rather than coloured.
fn cell_rate(row: Option<&SummaryRow>) -> std::result::Result<&Rate, &'static str> {
    let a = &row.filter(|r| r.accuracy.n > 0).ok_or("no items")?.accuracy;
    let valid = |v: f64| v.is_finite() && (0.0..=1.0).contains(&v);
    if valid(a.rate) && valid(a.ci_low) && valid(a.ci_high) {
        Ok(a)
    } else {
        Err("invalid rate")
    }
}

fn cell(svg: &mut String, x: usize, y: usize, row: Option<&SummaryRow>) {
    let a = match cell_rate(row) {
        Ok(a) => a,
        Err(why) => {
            let _ = writeln!(
                svg,
                r##"<rect x="{x}" y="{y}" width="{CELL_W}" height="{CELL_H}" fill="#eeeeee" stroke="white"/><text x="{}" y="{}" font-size="12" text-anchor="middle" fill="#777777">{why}</text>"##,
                x + CELL_W / 2,
                y + CELL_H / 2 + 4
            );
            return;
        }
    };
    let _ = writeln!(
        svg,
        r#"<rect x="{x}" y="{y}" width="{CELL_W}" height="{CELL_H}" fill="{}" stroke="white"/>"#,
        colour(a.rate)
    );
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" font-size="14" text-anchor="middle" font-weight="bold">{:.2}</text>"#,
        x + CELL_W / 2,
        y + 19,
        a.rate
    );
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" font-size="10" text-anchor="middle">[{:.2}, {:.2}] n={}</text>"#,
        x + CELL_W / 2,
        y + 35,
        a.ci_low,
        a.ci_high,
        a.n
    );
}

fn legend(svg: &mut String, y: usize) {
    let x0 = LABEL_W;
    let steps = 10;
    let w = 24;
    for i in 0..=steps {
        let v = i as f64 / steps as f64;
        let _ = writeln!(
            svg,
            r#"<rect x="{}" y="{y}" width="{w}" height="16" fill="{}"/>"#,
            x0 + i * w,
            colour(v)
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" font-size="12" text-anchor="end">correct rate</text>"#,
        x0 - 8,
        y + 13
    );
    for (v, label) in [(0.0, "0"), (0.5, "0.5 (chance)"), (1.0, "1")] {
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" font-size="11" text-anchor="middle">{label}</text>"#,
            x0 + (v * steps as f64) as usize * w + w / 2,
            y + 32
        );
    }
    let _ = writeln!(
        svg,
        r##"<text x="10" y="{}" font-size="11" fill="#444444">Cell: correct rate (the model preferred S, the nation's stance, over its reverse RS), 95% Wilson interval, items. Ties count as wrong.</text>"##,
        y + 58
    );
}

/// Red (0) through white (0.5) to green (1), as SVG writes it.
fn colour(rate: f64) -> String {
    let [r, g, b] = rgb(rate);
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// Red (0) through white (0.5) to green (1); a NaN is white.
fn rgb(rate: f64) -> [u8; 3] {
    let t = if rate.is_nan() {
        0.5
    } else {
        rate.clamp(0.0, 1.0)
    };
    let (r, g, b) = if t < 0.5 {
        let k = t / 0.5;
        (215.0 + 40.0 * k, 48.0 + 207.0 * k, 39.0 + 216.0 * k)
    } else {
        let k = (t - 0.5) / 0.5;
        (255.0 - 229.0 * k, 255.0 - 103.0 * k, 255.0 - 175.0 * k)
    };
    [r as u8, g as u8, b as u8]
}

fn set_label(set: &str) -> String {
    match set {
        "quoted" => "Quoted Statements".into(),
        "official" => "Official Statements".into(),
        other => other.to_string(),
    }
}

fn short(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let tail: String = s
        .chars()
        .rev()
        .take(max - 1)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("…{tail}")
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(model: &str, rates: &[(&str, &str, usize, usize)]) -> Summary {
        let row = |nation: &str, set: &str, correct, n| SummaryRow {
            nation: nation.into(),
            set: set.into(),
            method: "paper".into(),
            accuracy: Rate::new(correct, n),
            ties: 0,
            chose_a: None,
            accuracy_s_at_a: None,
            accuracy_s_at_b: None,
        };
        Summary {
            scorer: model.into(),
            methods: vec!["paper".into()],
            failures: 0,
            stopped_early: None,
            rows: rates.iter().map(|&(n, s, c, t)| row(n, s, c, t)).collect(),
            overall: vec![],
        }
    }

    #[test]
    fn two_models_one_table_and_one_heatmap() {
        let a = summary(
            "model-a",
            &[("US", "quoted", 9, 10), ("China", "official", 2, 10)],
        );
        let b = summary("model-b", &[("US", "quoted", 5, 10)]);
        let dir = tempfile::tempdir().unwrap();
        write_comparison(dir.path(), &[a, b], "paper").unwrap();
        let md = std::fs::read_to_string(dir.path().join("comparison.md")).unwrap();
        let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| model-")).collect();
        assert_eq!(rows.len(), 4, "one row per model and set:\n{md}");
        let csv = std::fs::read_to_string(dir.path().join("comparison.csv")).unwrap();
        assert!(
            csv.contains("model-a,quoted,US,paper,10,9,0.900000"),
            "{csv}"
        );
        let svg = std::fs::read_to_string(dir.path().join("heatmap.svg")).unwrap();
        assert!(svg.contains("model-a") && svg.contains("model-b"));
        assert!(svg.contains(">0.90<") && svg.contains(">0.20<") && svg.contains(">0.50<"));
        assert!(svg.contains("no items"), "model-b has no China cell");
        assert!(svg.contains("Quoted Statements") && svg.contains("correct rate"));
        // 0.9 is green, 0.2 red, 0.5 white.
        assert_eq!(colour(0.5), "#ffffff");
        assert!(colour(0.9).starts_with("#4") && colour(0.2).starts_with("#e"));
    }

    #[test]
    fn nothing_to_compare_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(write_comparison(dir.path(), &[], "paper").is_err());
        assert!(read_summary(dir.path()).is_err());
    }
}
