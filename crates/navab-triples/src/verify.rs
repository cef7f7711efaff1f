//! Human verification (paper Appendix B): sample statements per nation into a sheet that people
//! fill with Align / Conflict / Unrelated marks, then compute the rates with 95% intervals.
//!
//! ```
//! use navab_core::{Nation, StatementSet, Triple};
//! use navab_triples::{read_sheet, sample_for_verification, verification_rates, write_sheet_csv,
//!     VerificationParams};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let triples: Vec<Triple> = (0..5)
//!     .map(|i| Triple {
//!         id: Triple::navab_id(&Nation::Germany, StatementSet::Quoted, i),
//!         nation: Nation::Germany,
//!         set: StatementSet::Quoted,
//!         question: "Q?".into(),
//!         statement: format!("Aussage {i}."),
//!         reverse_statement: format!("Gegenaussage {i}."),
//!         source: Some("Die Ministerin".into()),
//!         raw_news: Some("Die Ministerin sagte am Montag ...".into()),
//!     })
//!     .collect();
//! let params = VerificationParams::default()
//!     .with_reference(Nation::Germany, "Das Wahlalter soll gesenkt werden.");
//! let rows = sample_for_verification(&triples, &params)?;
//! assert_eq!(rows.len(), 5); // fewer than 100: all of them
//!
//! let dir = tempfile::tempdir()?;
//! let sheet = dir.path().join("german.csv");
//! write_sheet_csv(&sheet, &rows)?;
//! // ... people fill the align / conflict / unrelated columns; here, by code:
//! let filled = std::fs::read_to_string(&sheet)?
//!     .replace(",,,\r\n", ",,,x\r\n"); // every row: unrelated
//! std::fs::write(&sheet, filled)?;
//!
//! let report = verification_rates(&read_sheet(&sheet)?)?;
//! assert_eq!(report.nations[0].unrelated.count, 5);
//! assert_eq!(report.nations[0].align.rate, 0.0);
//! // Per nation and statement set as well.
//! assert_eq!((report.sets[0].nation.as_str(), report.sets[0].set.as_str()), ("Germany", "quoted"));
//! println!("{}", report.to_markdown());
//! # Ok(()) }
//! ```
//!
//! A sheet has the columns `id, nation, set, statement, news, reference, align, conflict,
//! unrelated`: `news` is the start of the news text, `reference` the verified statement of the
//! nation the others are compared with (Appendix B), empty unless given. A mark is `x`, `1`,
//! `yes`, `true`, `✓` (any case); an empty cell, `0`, `no` or `false` is no mark. Each row needs
//! exactly one mark. A sheet without the `set` column (or a row with an empty `set` cell, as for
//! statements not yet judged quoted or official) counts under the set `all`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use navab_core::hash::fnv1a;
use navab_core::stats::wilson_interval;
use navab_core::{Nation, StatementSet, Triple};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::dataset::{write_jsonl_values, write_text};
use crate::error::{io_error, Error, Result};
use crate::source::{ExtractedStatement, JudgedStatement};

/// Settings of [`sample_for_verification`].
#[derive(Debug, Clone, PartialEq)]
pub struct VerificationParams {
    /// Statements sampled per nation (default 100, as in the paper); at least 1.
    pub per_nation: usize,
    /// Seed of the sample (default 42).
    pub seed: u64,
    /// Characters of news text shown in the `news` column (default 300; 0: none).
    pub news_chars: usize,
    /// The verified reference statement of each nation, shown in the `reference` column.
    pub references: BTreeMap<Nation, String>,
}

impl Default for VerificationParams {
    fn default() -> Self {
        Self {
            per_nation: 100,
            seed: 42,
            news_chars: 300,
            references: BTreeMap::new(),
        }
    }
}

impl VerificationParams {
    /// Sets the reference statement of `nation`.
    pub fn with_reference(mut self, nation: Nation, statement: impl Into<String>) -> Self {
        self.references.insert(nation, statement.into());
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] if `per_nation` is 0.
    pub fn check(&self) -> Result<()> {
        if self.per_nation == 0 {
            return Err(Error::InvalidParam {
                name: "per_nation",
                value: "0".into(),
                reason: "sample at least one statement per nation",
            });
        }
        Ok(())
    }
}

/// One row of a verification sheet. The mark columns are text, as people fill them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SheetRow {
    /// The triple's id.
    pub id: String,
    /// The nation's display name.
    pub nation: String,
    /// `quoted` or `official`.
    pub set: String,
    /// The statement S.
    pub statement: String,
    /// The start of the news text.
    pub news: String,
    /// The nation's verified reference statement.
    pub reference: String,
    /// Mark: the statement aligns with the reference.
    pub align: String,
    /// Mark: it conflicts with the reference.
    pub conflict: String,
    /// Mark: it is unrelated to the reference.
    pub unrelated: String,
}

/// The sheet's columns, in order.
pub const SHEET_COLUMNS: [&str; 9] = [
    "id",
    "nation",
    "set",
    "statement",
    "news",
    "reference",
    "align",
    "conflict",
    "unrelated",
];

impl SheetRow {
    fn cells(&self) -> [&str; 9] {
        [
            &self.id,
            &self.nation,
            &self.set,
            &self.statement,
            &self.news,
            &self.reference,
            &self.align,
            &self.conflict,
            &self.unrelated,
        ]
    }
}

/// Something a verification sheet can show: a triple, or a statement before triples are built
/// (the paper verifies the statements that Conflict Reduction kept).
pub trait Verifiable {
    /// Stable id.
    fn id(&self) -> &str;
    /// The nation.
    fn nation(&self) -> &Nation;
    /// `quoted`, `official`, or empty when not judged yet.
    fn set(&self) -> &str;
    /// The statement.
    fn statement(&self) -> &str;
    /// The news text, if known.
    fn news(&self) -> Option<&str>;
}

impl Verifiable for Triple {
    fn id(&self) -> &str {
        &self.id
    }
    fn nation(&self) -> &Nation {
        &self.nation
    }
    fn set(&self) -> &str {
        self.set.slug()
    }
    fn statement(&self) -> &str {
        &self.statement
    }
    fn news(&self) -> Option<&str> {
        self.raw_news.as_deref()
    }
}

impl Verifiable for JudgedStatement {
    fn id(&self) -> &str {
        &self.statement.id
    }
    fn nation(&self) -> &Nation {
        &self.statement.nation
    }
    fn set(&self) -> &str {
        self.set.slug()
    }
    fn statement(&self) -> &str {
        self.statement.text.trim()
    }
    fn news(&self) -> Option<&str> {
        self.statement.raw_news.as_deref()
    }
}

impl Verifiable for ExtractedStatement {
    fn id(&self) -> &str {
        &self.id
    }
    fn nation(&self) -> &Nation {
        &self.nation
    }
    fn set(&self) -> &str {
        ""
    }
    fn statement(&self) -> &str {
        self.text.trim()
    }
    fn news(&self) -> Option<&str> {
        self.raw_news.as_deref()
    }
}

/// Samples up to `params.per_nation` items (triples or statements, see [`Verifiable`]) of each
/// nation into sheet rows, mark columns empty.
///
/// Per nation, items are ordered by id, shuffled with a `StdRng` seeded from `seed` and the
/// nation's name, and the first `per_nation` taken; a nation with fewer gives all. Rows come by
/// nation (in [`Nation`]'s order: the paper's five, then others by name), then id. The same
/// items and seed give the same sheet, whatever their order and whatever the other nations.
///
/// # Errors
/// [`Error::InvalidParam`] for bad `params`.
pub fn sample_for_verification<T: Verifiable>(
    items: &[T],
    params: &VerificationParams,
) -> Result<Vec<SheetRow>> {
    params.check()?;
    let mut by_nation: BTreeMap<&Nation, Vec<&T>> = BTreeMap::new();
    for item in items {
        by_nation.entry(item.nation()).or_default().push(item);
    }
    let mut rows = Vec::new();
    for (nation, mut members) in by_nation {
        members.sort_by(|a, b| a.id().cmp(b.id()));
        let mut rng = StdRng::seed_from_u64(params.seed ^ fnv1a(nation.name().as_bytes()));
        members.shuffle(&mut rng);
        members.truncate(params.per_nation);
        members.sort_by(|a, b| a.id().cmp(b.id()));
        for item in members {
            let news: String = item
                .news()
                .unwrap_or("")
                .trim()
                .chars()
                .take(params.news_chars)
                .collect();
            rows.push(SheetRow {
                id: item.id().to_string(),
                nation: nation.name().to_string(),
                set: item.set().to_string(),
                statement: item.statement().to_string(),
                news,
                reference: params.references.get(nation).cloned().unwrap_or_default(),
                ..SheetRow::default()
            });
        }
    }
    Ok(rows)
}

// ---------------------------------------------------------------------------------------------
// CSV (RFC 4180), by hand: the sheets are small, and quoting is a dozen lines.

fn csv_field(out: &mut String, field: &str) {
    if field.contains([',', '"', '\n', '\r']) || field.starts_with(' ') || field.ends_with(' ') {
        out.push('"');
        out.push_str(&field.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(field);
    }
}

fn csv_record(out: &mut String, fields: &[&str]) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(out, field);
    }
    out.push_str("\r\n");
}

/// Parses CSV text into records: quoted fields may hold commas, `""` and line breaks; `\r\n`
/// and `\n` end records; blank lines are skipped. Returns each record with the 1-based line it
/// starts on.
fn parse_csv(text: &str, path: &Path) -> Result<Vec<(usize, Vec<String>)>> {
    let mut records = Vec::new();
    let mut record: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut line = 1;
    let mut record_line = 1;
    let mut quote_line = 1;
    let mut chars = text.chars().peekable();
    let mut end_record = |record: &mut Vec<String>, field: &mut String, at: usize| {
        record.push(std::mem::take(field));
        let blank = record.len() == 1 && record[0].is_empty();
        let done = std::mem::take(record);
        if !blank {
            records.push((at, done));
        }
    };
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                '\n' => {
                    line += 1;
                    field.push('\n');
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => {
                in_quotes = true;
                quote_line = line;
            }
            ',' => record.push(std::mem::take(&mut field)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => {
                end_record(&mut record, &mut field, record_line);
                line += 1;
                record_line = line;
            }
            _ => field.push(c),
        }
    }
    if in_quotes {
        return Err(Error::Sheet {
            path: path.to_path_buf(),
            row: records.len(),
            id: None,
            reason: format!("a quoted field opened on line {quote_line} is never closed"),
        });
    }
    if !field.is_empty() || !record.is_empty() {
        end_record(&mut record, &mut field, record_line);
    }
    Ok(records)
}

/// Writes sheet rows as CSV (RFC 4180, `\r\n`, a UTF-8 byte-order mark so that spreadsheet
/// programs read Chinese text right), header first.
///
/// # Errors
/// [`Error::Io`] if the file cannot be written.
pub fn write_sheet_csv(path: impl AsRef<Path>, rows: &[SheetRow]) -> Result<()> {
    let mut out = String::from("\u{feff}");
    csv_record(&mut out, &SHEET_COLUMNS);
    for row in rows {
        csv_record(&mut out, &row.cells());
    }
    write_text(path.as_ref(), &out)
}

/// Writes sheet rows as JSONL, one object per row with the [`SHEET_COLUMNS`] fields.
///
/// # Errors
/// [`Error::Io`] if the file cannot be written.
pub fn write_sheet_jsonl(path: impl AsRef<Path>, rows: &[SheetRow]) -> Result<()> {
    write_jsonl_values(
        path.as_ref(),
        rows.iter().map(|row| {
            let mut object = serde_json::Map::new();
            for (column, cell) in SHEET_COLUMNS.iter().zip(row.cells()) {
                object.insert(column.to_string(), Value::String(cell.to_string()));
            }
            Value::Object(object)
        }),
    )
}

/// Which marks a filled row carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Marks {
    /// Marked Align.
    pub align: bool,
    /// Marked Conflict.
    pub conflict: bool,
    /// Marked Unrelated.
    pub unrelated: bool,
}

/// A row of a filled sheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilledRow {
    /// 1-based data row (the header is row 0).
    pub row: usize,
    /// The row's id.
    pub id: String,
    /// The nation, as written in the sheet.
    pub nation: String,
    /// The statement set: `quoted` or `official` (any alias of [`StatementSet`], written as its
    /// slug), another name as written, or `all` when the sheet has no `set` column or the cell
    /// is empty.
    pub set: String,
    /// Its marks.
    pub marks: Marks,
}

/// A filled sheet, as read by [`read_sheet`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilledSheet {
    /// The file it was read from.
    pub path: PathBuf,
    /// Its rows.
    pub rows: Vec<FilledRow>,
}

/// The set a row counts under: the slug of a known set, another name as written, or `all`.
fn set_of(cell: Option<&str>) -> String {
    match cell.map(str::trim).filter(|s| !s.is_empty()) {
        None => ALL.to_string(),
        Some(name) => name
            .parse::<StatementSet>()
            .map_or_else(|_| name.to_string(), |set| set.slug().to_string()),
    }
}

/// The name of the group of every nation or every set.
const ALL: &str = "all";

/// Reads a cell as a mark; `None` if it is neither a mark nor empty.
fn mark(cell: &str) -> Option<bool> {
    match cell.trim().to_lowercase().as_str() {
        "" | "0" | "no" | "n" | "false" | "-" => Some(false),
        "x" | "1" | "yes" | "y" | "true" | "✓" | "✔" | "v" | "*" => Some(true),
        _ => None,
    }
}

/// Reads a filled sheet: CSV, or JSONL when the file name ends in `.jsonl` or `.json`. Columns
/// are found by header name (any case and order; `id`, `nation`, `align`, `conflict`,
/// `unrelated` are required, `set` is read when present, others are ignored). In JSONL a mark may also be a boolean, a
/// number 0/1 or null.
///
/// # Errors
/// [`Error::Io`] if the file cannot be read; [`Error::Sheet`] naming the row (and id) for a
/// missing column, a row of the wrong length, or a cell that is neither a mark nor empty.
pub fn read_sheet(path: impl AsRef<Path>) -> Result<FilledSheet> {
    let path = path.as_ref();
    let text = fs::read_to_string(path).map_err(io_error(path))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let is_jsonl = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("jsonl") || e.eq_ignore_ascii_case("json"));
    let rows = if is_jsonl {
        read_jsonl_rows(text, path)?
    } else {
        read_csv_rows(text, path)?
    };
    Ok(FilledSheet {
        path: path.to_path_buf(),
        rows,
    })
}

const MARK_COLUMNS: [&str; 3] = ["align", "conflict", "unrelated"];

fn sheet_error(path: &Path, row: usize, id: Option<&str>, reason: String) -> Error {
    Error::Sheet {
        path: path.to_path_buf(),
        row,
        id: id.map(str::to_string),
        reason,
    }
}

fn marks_from(cells: [&str; 3], path: &Path, row: usize, id: &str) -> Result<Marks> {
    let mut values = [false; 3];
    for ((value, cell), column) in values.iter_mut().zip(cells).zip(MARK_COLUMNS) {
        *value = mark(cell).ok_or_else(|| {
            sheet_error(
                path,
                row,
                Some(id),
                format!("column {column}: {cell:?} is not a mark (use x, or leave it empty)"),
            )
        })?;
    }
    Ok(Marks {
        align: values[0],
        conflict: values[1],
        unrelated: values[2],
    })
}

fn read_csv_rows(text: &str, path: &Path) -> Result<Vec<FilledRow>> {
    let mut records = parse_csv(text, path)?.into_iter();
    let Some((_, header)) = records.next() else {
        return Err(sheet_error(
            path,
            0,
            None,
            "empty sheet: no header row".into(),
        ));
    };
    let column = |name: &str| -> Result<usize> {
        header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                sheet_error(
                    path,
                    0,
                    None,
                    format!(
                        "header has no `{name}` column (found: {})",
                        header.join(", ")
                    ),
                )
            })
    };
    let (id_col, nation_col) = (column("id")?, column("nation")?);
    let set_col = column("set").ok();
    let mark_cols = [column("align")?, column("conflict")?, column("unrelated")?];
    let mut rows = Vec::new();
    for (index, (line, record)) in records.enumerate() {
        let row = index + 1;
        let cell = |col: usize| record.get(col).map_or("", String::as_str);
        let id = cell(id_col).trim().to_string();
        if record.len() > header.len() {
            return Err(sheet_error(
                path,
                row,
                Some(&id),
                format!(
                    "line {line}: {} cells for {} columns (a comma inside an unquoted cell?)",
                    record.len(),
                    header.len()
                ),
            ));
        }
        let marks = marks_from(mark_cols.map(cell), path, row, &id)?;
        rows.push(FilledRow {
            row,
            nation: cell(nation_col).trim().to_string(),
            set: set_of(set_col.map(cell)),
            id,
            marks,
        });
    }
    Ok(rows)
}

fn read_jsonl_rows(text: &str, path: &Path) -> Result<Vec<FilledRow>> {
    let mut rows = Vec::new();
    for (line_index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row = rows.len() + 1;
        let value: Value = serde_json::from_str(line).map_err(|e| {
            sheet_error(
                path,
                row,
                None,
                format!("line {}: not JSON: {e}", line_index + 1),
            )
        })?;
        let text_of = |field: &str| -> Option<String> {
            match value.get(field) {
                Some(Value::String(s)) => Some(s.trim().to_string()),
                Some(Value::Number(n)) => Some(n.to_string()),
                Some(Value::Bool(b)) => Some(b.to_string()),
                _ => None,
            }
        };
        let id = text_of("id")
            .ok_or_else(|| sheet_error(path, row, None, "field `id` missing".into()))?;
        let nation = text_of("nation")
            .ok_or_else(|| sheet_error(path, row, Some(&id), "field `nation` missing".into()))?;
        let cells = MARK_COLUMNS.map(|c| text_of(c).unwrap_or_default());
        let marks = marks_from(
            [cells[0].as_str(), cells[1].as_str(), cells[2].as_str()],
            path,
            row,
            &id,
        )?;
        rows.push(FilledRow {
            row,
            set: set_of(text_of("set").as_deref()),
            id,
            nation,
            marks,
        });
    }
    Ok(rows)
}

// ---------------------------------------------------------------------------------------------
// Rates.

/// The 95% Wilson score interval of `count` successes in `n` trials; `(0, 1)` when `n = 0`.
#[deprecated(note = "use navab_core::stats::wilson_interval, the one home of this function")]
pub fn wilson_95(count: usize, n: usize) -> (f64, f64) {
    wilson_interval(count, n)
}

/// A rate with its 95% Wilson interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rate {
    /// Rows with this mark.
    pub count: usize,
    /// Rows in all.
    pub n: usize,
    /// `count / n` (0 when `n = 0`).
    pub rate: f64,
    /// Lower end of the 95% Wilson interval.
    pub ci_low: f64,
    /// Upper end.
    pub ci_high: f64,
}

impl Rate {
    fn of(count: usize, n: usize) -> Self {
        let (ci_low, ci_high) = wilson_interval(count, n);
        Self {
            count,
            n,
            rate: if n == 0 { 0.0 } else { count as f64 / n as f64 },
            ci_low,
            ci_high,
        }
    }
}

/// The rates of one group of rows: a nation and a statement set, a nation (set `all`), or every
/// row (nation and set `all`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NationRates {
    /// The nation as written in the sheet, or `all`.
    pub nation: String,
    /// The statement set (see [`FilledRow::set`]), or `all`.
    pub set: String,
    /// Rows.
    pub n: usize,
    /// Align rate.
    pub align: Rate,
    /// Conflict rate.
    pub conflict: Rate,
    /// Unrelated rate.
    pub unrelated: Rate,
}

/// The result of [`verification_rates`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerificationReport {
    /// Per nation (set `all`), sorted by name.
    pub nations: Vec<NationRates>,
    /// Per nation × statement set: by nation name, then quoted, official, and other sets by
    /// name.
    pub sets: Vec<NationRates>,
    /// All rows together.
    pub overall: NationRates,
}

impl VerificationReport {
    /// A Markdown table: nation, set, n, and each rate as `12.0% [7.0, 19.8]`. Each nation's
    /// sets, then the nation as a whole (set `all`) when it has more than one set, then every
    /// row together.
    pub fn to_markdown(&self) -> String {
        let mut out = String::from(
            "| nation | set | n | align | conflict | unrelated |\n|---|---|---:|---|---|---|\n",
        );
        for nation in &self.nations {
            let sets: Vec<&NationRates> = self
                .sets
                .iter()
                .filter(|s| s.nation == nation.nation)
                .collect();
            for rates in &sets {
                out.push_str(&markdown_row(rates));
            }
            if sets.len() != 1 {
                out.push_str(&markdown_row(nation));
            }
        }
        out.push_str(&markdown_row(&self.overall));
        out
    }
}

fn markdown_row(rates: &NationRates) -> String {
    let cell = |r: &Rate| {
        format!(
            "{:.1}% [{:.1}, {:.1}]",
            100.0 * r.rate,
            100.0 * r.ci_low,
            100.0 * r.ci_high
        )
    };
    format!(
        "| {} | {} | {} | {} | {} | {} |\n",
        rates.nation,
        rates.set,
        rates.n,
        cell(&rates.align),
        cell(&rates.conflict),
        cell(&rates.unrelated)
    )
}

fn rates(nation: &str, set: &str, marks: &[Marks]) -> NationRates {
    let n = marks.len();
    let count = |f: fn(&Marks) -> bool| marks.iter().filter(|m| f(m)).count();
    NationRates {
        nation: nation.to_string(),
        set: set.to_string(),
        n,
        align: Rate::of(count(|m| m.align), n),
        conflict: Rate::of(count(|m| m.conflict), n),
        unrelated: Rate::of(count(|m| m.unrelated), n),
    }
}

/// A key that sorts sets as the paper lists them (quoted, official), then others by name.
fn set_order(set: &str) -> (usize, &str) {
    let known = set
        .parse::<StatementSet>()
        .ok()
        .and_then(|s| StatementSet::ALL.iter().position(|&k| k == s));
    (known.unwrap_or(StatementSet::ALL.len()), set)
}

/// The error for a row without exactly one mark.
fn check_one_mark(sheet: &FilledSheet, row: &FilledRow) -> Result<()> {
    let m = row.marks;
    let marked: Vec<&str> = MARK_COLUMNS
        .iter()
        .zip([m.align, m.conflict, m.unrelated])
        .filter(|(_, on)| *on)
        .map(|(name, _)| *name)
        .collect();
    let reason = match marked.len() {
        1 => return Ok(()),
        0 => "no mark: put an x in exactly one of align, conflict, unrelated".to_string(),
        _ => format!("marked {}: exactly one is allowed", marked.join(" and ")),
    };
    Err(sheet_error(&sheet.path, row.row, Some(&row.id), reason))
}

/// Align, Conflict and Unrelated rates per nation × statement set, per nation and overall,
/// each with its 95% Wilson interval.
///
/// # Errors
/// [`Error::Sheet`] naming the row and id of the first row with no mark or with several.
///
/// # Complexity
/// `O(rows · log rows)`.
pub fn verification_rates(sheet: &FilledSheet) -> Result<VerificationReport> {
    let mut by_nation: BTreeMap<&str, Vec<Marks>> = BTreeMap::new();
    let mut by_set: BTreeMap<(&str, (usize, &str)), Vec<Marks>> = BTreeMap::new();
    for row in &sheet.rows {
        check_one_mark(sheet, row)?;
        by_nation.entry(&row.nation).or_default().push(row.marks);
        by_set
            .entry((&row.nation, set_order(&row.set)))
            .or_default()
            .push(row.marks);
    }
    let all: Vec<Marks> = sheet.rows.iter().map(|r| r.marks).collect();
    Ok(VerificationReport {
        nations: by_nation
            .into_iter()
            .map(|(nation, marks)| rates(nation, ALL, &marks))
            .collect(),
        sets: by_set
            .into_iter()
            .map(|((nation, (_, set)), marks)| rates(nation, set, &marks))
            .collect(),
        overall: rates(ALL, ALL, &all),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quoting_round_trips() {
        let fields = [
            "plain",
            "a,b",
            "say \"hi\"",
            "two\nlines",
            " padded ",
            "",
            "港獨，自決",
        ];
        let mut text = String::new();
        csv_record(&mut text, &fields);
        csv_record(&mut text, &["x"; 7]);
        let records = parse_csv(&text, Path::new("t.csv")).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].1, fields);
        assert_eq!((records[0].0, records[1].0), (1, 3));
    }

    proptest::proptest! {
        #[test]
        fn any_csv_record_round_trips(
            fields in proptest::collection::vec("(?s).{0,12}", 2..6),
            more in proptest::collection::vec("[a-z\"\r\n, ]{0,5}", 2..4),
        ) {
            let mut text = String::new();
            let a: Vec<&str> = fields.iter().map(String::as_str).collect();
            let b: Vec<&str> = more.iter().map(String::as_str).collect();
            csv_record(&mut text, &a);
            csv_record(&mut text, &b);
            let records = parse_csv(&text, Path::new("t.csv")).unwrap();
            let got: Vec<Vec<String>> = records.into_iter().map(|r| r.1).collect();
            proptest::prop_assert_eq!(got, vec![fields, more]);
        }
    }

    #[test]
    fn csv_from_spreadsheets_parses() {
        // LF endings, a blank line, no final newline.
        let records = parse_csv("a,b\n\n1,\"2\"\"\"\n3,4", Path::new("t.csv")).unwrap();
        let cells: Vec<Vec<String>> = records.into_iter().map(|r| r.1).collect();
        assert_eq!(cells, [vec!["a", "b"], vec!["1", "2\""], vec!["3", "4"]]);
        let e = parse_csv("a\n\"open", Path::new("t.csv")).unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
    }

    #[test]
    fn marks() {
        for yes in ["x", " X ", "1", "yes", "TRUE", "✓"] {
            assert_eq!(mark(yes), Some(true), "{yes:?}");
        }
        for no in ["", "  ", "0", "No", "false"] {
            assert_eq!(mark(no), Some(false), "{no:?}");
        }
        assert_eq!(mark("maybe"), None);
    }
}
