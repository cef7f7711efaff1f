//! Correct rates with intervals, position bias, groups, and the files they are written to.
//!
//! Everything here is a pure function of an [`EvalRun`]: rows are sorted (statement set in the
//! paper's order, then nation in the paper's order, then method in the order asked), maps are
//! `BTreeMap`s, numbers in text files have fixed decimals and no file holds a timestamp, so two
//! runs over the same input give byte-identical files.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use navab_core::{Nation, StatementSet};

use crate::evaluate::EvalRun;
use crate::{Error, Result};

/// The nation or set of records that have none in their metadata (preference data).
pub const MISSING: &str = "(none)";
/// The nation and set of the [`Summary::overall`] rows.
pub const ALL: &str = "all";

/// Re-exported from its home, [`navab_core::stats`], where it is documented and tested.
pub use navab_core::stats::wilson_interval;

/// A proportion with its 95% Wilson interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    /// Items (or decisions) counted.
    pub n: usize,
    /// How many of them count: right, or picked A for a position-bias rate.
    pub correct: usize,
    /// `correct / n` (0 when `n = 0`, never NaN).
    pub rate: f64,
    /// Lower end of the 95% Wilson interval.
    pub ci_low: f64,
    /// Upper end.
    pub ci_high: f64,
}

impl Rate {
    /// Builds a rate from counts.
    pub fn new(correct: usize, n: usize) -> Self {
        let (ci_low, ci_high) = wilson_interval(correct, n);
        Self {
            n,
            correct,
            rate: if n == 0 {
                0.0
            } else {
                correct as f64 / n as f64
            },
            ci_low,
            ci_high,
        }
    }
}

/// One row of the summary: a nation × statement set × method cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryRow {
    /// Nation (`metadata.nation`), [`MISSING`] for items without one, [`ALL`] in the overall rows.
    pub nation: String,
    /// Statement set (`metadata.set`), [`MISSING`] or [`ALL`] likewise.
    pub set: String,
    /// Method name.
    pub method: String,
    /// Correct rate (per item; for `ab-both` an item is right only if both orders are).
    pub accuracy: Rate,
    /// Items where some decision tied (counted wrong).
    pub ties: usize,
    /// A/B prompt: share of decisions that picked A, whatever it held (0.5 = no position bias,
    /// 1.0 = always A). Ties are counted as not picking A. `None` for other methods.
    pub chose_a: Option<Rate>,
    /// A/B prompt: share of decisions with S at A that picked S.
    pub accuracy_s_at_a: Option<Rate>,
    /// A/B prompt: share of decisions with S at B that picked S.
    pub accuracy_s_at_b: Option<Rate>,
}

/// The rates of a run per nation × set × method, and per method overall.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The scorer (model).
    pub scorer: String,
    /// The method names, in the order asked.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Items (or item × method pairs) that could not be scored; not counted in any rate.
    pub failures: usize,
    /// Why the run stopped early, if it did.
    pub stopped_early: Option<String>,
    /// Rows, sorted by set (paper order), nation (paper order, then others by name), method.
    pub rows: Vec<SummaryRow>,
    /// One row per method over every item, nation and set [`ALL`]: the overall correct rate and
    /// position bias.
    #[serde(default)]
    pub overall: Vec<SummaryRow>,
}

/// Sort key of a nation column: the paper's five in Table 2's order, then the rest by name.
fn nation_rank(name: &str) -> (usize, String) {
    let nation: Nation = name.parse().unwrap_or_else(|never| match never {});
    let rank = Nation::PAPER
        .iter()
        .position(|n| *n == nation)
        .unwrap_or(Nation::PAPER.len());
    (rank, name.to_string())
}

/// Sort key of a statement set: Quoted, then Official (Table 2's order), then the rest by name.
fn set_rank(name: &str) -> (usize, String) {
    let rank = name
        .parse::<StatementSet>()
        .ok()
        .and_then(|set| StatementSet::ALL.iter().position(|s| *s == set))
        .unwrap_or(StatementSet::ALL.len());
    (rank, name.to_string())
}

/// Table 2's block title for a set.
fn set_title(name: &str) -> String {
    match name.parse::<StatementSet>() {
        Ok(StatementSet::Quoted) => "Quoted Statements".into(),
        Ok(StatementSet::Official) => "Official Statements".into(),
        _ => name.to_string(),
    }
}

#[derive(Default)]
struct Counts {
    n: usize,
    correct: usize,
    ties: usize,
    ab_decisions: usize,
    chose_a: usize,
    s_at_a: (usize, usize),
    s_at_b: (usize, usize),
}

impl Counts {
    fn add(&mut self, record: &crate::ItemRecord) {
        self.n += 1;
        self.correct += usize::from(record.outcome.correct);
        self.ties += usize::from(record.outcome.tie);
        for d in &record.outcome.decisions {
            let Some(order) = d.order.as_deref() else {
                continue;
            };
            self.ab_decisions += 1;
            self.chose_a += usize::from(d.chose_first == Some(true));
            let slot = if order == "S=B" {
                &mut self.s_at_b
            } else {
                &mut self.s_at_a
            };
            slot.0 += usize::from(d.chose_statement);
            slot.1 += 1;
        }
    }

    fn row(&self, nation: String, set: String, method: String) -> SummaryRow {
        let rate = |(k, n): (usize, usize)| (n > 0).then(|| Rate::new(k, n));
        SummaryRow {
            nation,
            set,
            method,
            accuracy: Rate::new(self.correct, self.n),
            ties: self.ties,
            chose_a: rate((self.chose_a, self.ab_decisions)),
            accuracy_s_at_a: rate(self.s_at_a),
            accuracy_s_at_b: rate(self.s_at_b),
        }
    }
}

type CellKey = ((usize, String), (usize, String), usize, String);

impl Summary {
    /// Computes the summary of a run. Depends only on the set of records, not their order.
    pub fn from_run(run: &EvalRun) -> Self {
        let methods: Vec<String> = run.methods.iter().map(ToString::to_string).collect();
        let method_rank = |name: &str| methods.iter().position(|m| m == name).unwrap_or(usize::MAX);
        let mut cells: BTreeMap<CellKey, Counts> = BTreeMap::new();
        let mut overall: BTreeMap<(usize, String), Counts> = BTreeMap::new();
        for record in &run.records {
            let nation = record.nation().unwrap_or(MISSING);
            let set = record.set().unwrap_or(MISSING);
            let rank = method_rank(&record.method);
            cells
                .entry((
                    set_rank(set),
                    nation_rank(nation),
                    rank,
                    record.method.clone(),
                ))
                .or_default()
                .add(record);
            overall
                .entry((rank, record.method.clone()))
                .or_default()
                .add(record);
        }
        Self {
            scorer: run.scorer.clone(),
            failures: run.failures.len(),
            stopped_early: run.stopped_early.clone(),
            rows: cells
                .into_iter()
                .map(|(((_, set), (_, nation), _, method), c)| c.row(nation, set, method))
                .collect(),
            overall: overall
                .into_iter()
                .map(|((_, method), c)| c.row(ALL.into(), ALL.into(), method))
                .collect(),
            methods,
        }
    }

    /// The row of one cell, if any item fell in it.
    pub fn row(&self, nation: &str, set: &str, method: &str) -> Option<&SummaryRow> {
        self.rows
            .iter()
            .find(|r| r.nation == nation && r.set == set && r.method == method)
    }

    /// Methods of the rows, in the order asked (then any others by first appearance).
    fn method_order(&self) -> Vec<String> {
        let mut methods = self.methods.clone();
        for r in &self.rows {
            if !methods.contains(&r.method) {
                methods.push(r.method.clone());
            }
        }
        methods
    }

    /// The content of `table.md`: the Table-2-shaped table ([`table2_markdown`]), the same
    /// rates per method with `n`, and the A/B methods' position bias.
    pub fn markdown_table(&self) -> String {
        let mut out = String::from("# Multiple-choice correct rates\n\n");
        let _ = writeln!(out, "Model: `{}`\n", self.scorer);
        if self.failures > 0 {
            let _ = writeln!(
                out,
                "{} item(s) could not be scored and are not counted (see `failures.jsonl`).\n",
                self.failures
            );
        }
        if let Some(reason) = &self.stopped_early {
            let _ = writeln!(out, "The run stopped early: {}\n", md_cell(reason));
        }
        out.push_str(&table2_markdown(std::slice::from_ref(self)));
        out.push_str("\n## By method\n\nCells: correct rate (items).\n\n");
        out.push_str(&self.by_method_markdown());
        let bias: Vec<&SummaryRow> = self
            .overall
            .iter()
            .filter(|r| r.chose_a.is_some())
            .collect();
        if !bias.is_empty() {
            out.push_str(
                "\n## Position bias (A/B prompts)\n\n\
                 `chose A`: share of answers that picked A, whatever it held (0.5 = none).\n\n\
                 | Method | decisions | chose A | 95% CI | correct, S at A | correct, S at B |\n\
                 |---|---:|---:|---:|---:|---:|\n",
            );
            for r in bias {
                let a = r.chose_a.as_ref().expect("filtered");
                let _ = writeln!(
                    out,
                    "| {} | {} | {:.3} | [{:.3}, {:.3}] | {} | {} |",
                    md_cell(&r.method),
                    a.n,
                    a.rate,
                    a.ci_low,
                    a.ci_high,
                    rate_with_n(&r.accuracy_s_at_a),
                    rate_with_n(&r.accuracy_s_at_b),
                );
            }
        }
        out.push_str(
            "\nCorrect: the model preferred S, the statement holding the nation's stance. \
             Ties count as wrong. `–`: no items.\n",
        );
        out
    }

    /// Methods as rows, nations as columns, a block per statement set; cells `rate (n)`.
    fn by_method_markdown(&self) -> String {
        let nations = sorted_nations(std::slice::from_ref(self));
        let sets = sorted_sets(std::slice::from_ref(self));
        let mut out = String::new();
        let header: Vec<String> = nations.iter().map(|n| md_cell(n)).collect();
        let _ = writeln!(out, "| Method |{}", cells_line(&header));
        let _ = writeln!(out, "|---|{}", "---:|".repeat(header.len()));
        for set in &sets {
            let _ = writeln!(out, "| *{}* |{}", set_title(set), " |".repeat(header.len()));
            for method in self.method_order() {
                let cells: Vec<String> = nations
                    .iter()
                    .map(|nation| match self.row(nation, set, &method) {
                        Some(r) => format!("{:.3} ({})", r.accuracy.rate, r.accuracy.n),
                        None => "–".into(),
                    })
                    .collect();
                let _ = writeln!(out, "| {} |{}", md_cell(&method), cells_line(&cells));
            }
        }
        out
    }

    /// An aligned plain-text table for the terminal: every cell and the overall rows, with
    /// intervals and position bias.
    pub fn text_table(&self) -> String {
        let mut rows = vec![[
            "set", "nation", "method", "n", "correct", "95% CI", "ties", "chose A", "acc S@A",
            "acc S@B",
        ]
        .map(String::from)
        .to_vec()];
        let opt = |r: &Option<Rate>| {
            r.as_ref()
                .map(|r| format!("{:.3}", r.rate))
                .unwrap_or_else(|| "-".into())
        };
        for r in self.rows.iter().chain(&self.overall) {
            rows.push(vec![
                r.set.clone(),
                r.nation.clone(),
                r.method.clone(),
                r.accuracy.n.to_string(),
                format!("{:.3}", r.accuracy.rate),
                format!("[{:.3}, {:.3}]", r.accuracy.ci_low, r.accuracy.ci_high),
                r.ties.to_string(),
                opt(&r.chose_a),
                opt(&r.accuracy_s_at_a),
                opt(&r.accuracy_s_at_b),
            ]);
        }
        render_columns(&rows, 3)
    }

    /// CSV: one line per cell, then the overall rows (nation and set [`ALL`]). Rates have six
    /// decimals; an A/B column is empty for other methods.
    pub fn csv(&self) -> String {
        let mut out = String::from(
            "set,nation,method,n,correct,rate,ci_low,ci_high,ties,\
             ab_decisions,chose_a,chose_a_ci_low,chose_a_ci_high,\
             n_s_at_a,acc_s_at_a,n_s_at_b,acc_s_at_b\n",
        );
        let n = |r: &Option<Rate>| r.as_ref().map(|r| r.n.to_string()).unwrap_or_default();
        let f = |r: &Option<Rate>, x: fn(&Rate) -> f64| {
            r.as_ref()
                .map(|r| format!("{:.6}", x(r)))
                .unwrap_or_default()
        };
        for r in self.rows.iter().chain(&self.overall) {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{:.6},{:.6},{:.6},{},{},{},{},{},{},{},{},{}",
                csv_field(&r.set),
                csv_field(&r.nation),
                csv_field(&r.method),
                r.accuracy.n,
                r.accuracy.correct,
                r.accuracy.rate,
                r.accuracy.ci_low,
                r.accuracy.ci_high,
                r.ties,
                n(&r.chose_a),
                f(&r.chose_a, |r| r.rate),
                f(&r.chose_a, |r| r.ci_low),
                f(&r.chose_a, |r| r.ci_high),
                n(&r.accuracy_s_at_a),
                f(&r.accuracy_s_at_a, |r| r.rate),
                n(&r.accuracy_s_at_b),
                f(&r.accuracy_s_at_b, |r| r.rate),
            );
        }
        out
    }
}

fn rate_with_n(rate: &Option<Rate>) -> String {
    rate.as_ref()
        .map(|r| format!("{:.3} ({})", r.rate, r.n))
        .unwrap_or_else(|| "–".into())
}

pub(crate) fn sorted_nations(summaries: &[Summary]) -> Vec<String> {
    let mut nations: Vec<(usize, String)> = summaries
        .iter()
        .flat_map(|s| &s.rows)
        .map(|r| nation_rank(&r.nation))
        .collect();
    nations.sort();
    nations.dedup();
    nations.into_iter().map(|(_, n)| n).collect()
}

pub(crate) fn sorted_sets(summaries: &[Summary]) -> Vec<String> {
    let mut sets: Vec<(usize, String)> = summaries
        .iter()
        .flat_map(|s| &s.rows)
        .map(|r| set_rank(&r.set))
        .collect();
    sets.sort();
    sets.dedup();
    sets.into_iter().map(|(_, s)| s).collect()
}

/// A Markdown table shaped like the NaVAB paper's Table 2, for one or more models: a block per
/// statement set (Quoted Statements, then Official Statements, then any other), a row per
/// model followed by a row `n` with its item counts, and a column per nation (China, US, UK,
/// France, Germany, then others by name) and method, headed `China MC(paper)`, as the paper
/// heads its columns `MC` and `AJ` under each nation. Cells: correct rate with three decimals,
/// `–` where there are no items.
pub fn table2_markdown(summaries: &[Summary]) -> String {
    let nations = sorted_nations(summaries);
    let sets = sorted_sets(summaries);
    let mut methods: Vec<String> = Vec::new();
    for s in summaries {
        for m in s.method_order() {
            if !methods.contains(&m) {
                methods.push(m);
            }
        }
    }
    let columns: Vec<(&String, &String)> = nations
        .iter()
        .flat_map(|n| methods.iter().map(move |m| (n, m)))
        .collect();
    let mut out = String::new();
    let header: Vec<String> = columns
        .iter()
        .map(|(n, m)| md_cell(&format!("{n} MC({m})")))
        .collect();
    let _ = writeln!(out, "| Model |{}", cells_line(&header));
    let _ = writeln!(out, "|---|{}", "---:|".repeat(columns.len()));
    for set in &sets {
        let _ = writeln!(
            out,
            "| *{}* |{}",
            set_title(set),
            " |".repeat(columns.len())
        );
        for s in summaries {
            let cell = |(nation, method): &(&String, &String)| s.row(nation, set, method);
            let rates: Vec<String> = columns
                .iter()
                .map(|c| {
                    cell(c)
                        .map(|r| format!("{:.3}", r.accuracy.rate))
                        .unwrap_or_else(|| "–".into())
                })
                .collect();
            let counts: Vec<String> = columns
                .iter()
                .map(|c| {
                    cell(c)
                        .map(|r| r.accuracy.n.to_string())
                        .unwrap_or_else(|| "–".into())
                })
                .collect();
            let _ = writeln!(out, "| {} |{}", md_cell(&s.scorer), cells_line(&rates));
            let _ = writeln!(out, "| n |{}", cells_line(&counts));
        }
    }
    out
}

/// ` a | b |` for the cells after the first column.
fn cells_line(cells: &[String]) -> String {
    cells.iter().map(|c| format!(" {c} |")).collect()
}

/// Text safe inside a Markdown table cell: no column breaks, no line breaks.
fn md_cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Pads every column to its widest cell; the first `left` columns are left-aligned (text), the
/// others right-aligned (numbers). A dashed line follows the header row.
fn render_columns(rows: &[Vec<String>], left: usize) -> String {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, &w))| {
                if c < left {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
        if i == 0 {
            let _ = writeln!(
                out,
                "{}",
                "-".repeat(widths.iter().sum::<usize>() + 2 * columns.saturating_sub(1))
            );
        }
    }
    out
}

/// Rates per value of one metadata field (MVPBench's preference-alignment accuracy by
/// country, age, gender, ...), for one method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupReport {
    /// The metadata field.
    pub field: String,
    /// The method.
    pub method: String,
    /// Rate per group value, sorted by value (items without the field are under [`MISSING`]).
    pub groups: BTreeMap<String, Rate>,
    /// Best minus worst rate among groups with at least `min_group_size` items; `None` when
    /// fewer than two groups are that large.
    pub spread: Option<Spread>,
}

/// The gap between the best and the worst group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// The best group and its rate (on equal rates, the first by name).
    pub best: (String, f64),
    /// The worst group and its rate (on equal rates, the first by name).
    pub worst: (String, f64),
    /// `best − worst`.
    pub gap: f64,
}

/// Groups the records of a run by a metadata field, one report per method (in the order asked).
///
/// Every group is listed with its rate and interval; only groups with at least
/// `min_group_size` items (at least 1) take part in the spread, since a group of three items
/// can be 0% or 100% by chance.
pub fn group_by(run: &EvalRun, field: &str, min_group_size: usize) -> Vec<GroupReport> {
    run.methods
        .iter()
        .map(|method| {
            let name = method.to_string();
            let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
            for r in run.records.iter().filter(|r| r.method == name) {
                let key = r
                    .metadata
                    .get(field)
                    .cloned()
                    .unwrap_or_else(|| MISSING.into());
                let c = counts.entry(key).or_default();
                c.0 += usize::from(r.outcome.correct);
                c.1 += 1;
            }
            let groups: BTreeMap<String, Rate> = counts
                .into_iter()
                .map(|(k, (c, n))| (k, Rate::new(c, n)))
                .collect();
            let eligible: Vec<(&String, &Rate)> = groups
                .iter()
                .filter(|(_, r)| r.n >= min_group_size.max(1))
                .collect();
            // Equal rates are broken by name, so the output does not depend on anything else.
            let best = eligible
                .iter()
                .max_by(|a, b| a.1.rate.total_cmp(&b.1.rate).then(b.0.cmp(a.0)));
            let worst = eligible
                .iter()
                .min_by(|a, b| a.1.rate.total_cmp(&b.1.rate).then(a.0.cmp(b.0)));
            let spread = match (best, worst) {
                (Some(b), Some(w)) if eligible.len() >= 2 => Some(Spread {
                    best: (b.0.clone(), b.1.rate),
                    worst: (w.0.clone(), w.1.rate),
                    gap: b.1.rate - w.1.rate,
                }),
                _ => None,
            };
            GroupReport {
                field: field.to_string(),
                method: name,
                groups,
                spread,
            }
        })
        .collect()
}

/// Writes `content` to `path` atomically: into a temporary file beside it, flushed to disk,
/// then renamed over `path`, so a reader never sees half a file and a crash leaves the old one.
pub(crate) fn write_atomic(path: &Path, content: &[u8]) -> Result<()> {
    navab_core::replace_file(path, content).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn to_json_lines<T: Serialize>(what: &str, values: &[T]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for value in values {
        serde_json::to_writer(&mut out, value).map_err(|source| Error::Json {
            what: what.into(),
            source,
        })?;
        out.push(b'\n');
    }
    Ok(out)
}

fn to_json_pretty<T: Serialize>(what: &str, value: &T) -> Result<Vec<u8>> {
    let mut out = serde_json::to_vec_pretty(value).map_err(|source| Error::Json {
        what: what.into(),
        source,
    })?;
    out.push(b'\n');
    Ok(out)
}

/// Writes the reports of a run into `dir` (created if needed), each file atomically:
///
/// - `items.jsonl`: one [`crate::ItemRecord`] per line, in item order then method order;
/// - `failures.jsonl`: one [`crate::ItemFailure`] per line (empty when none, so that no stale
///   file from an earlier run is left);
/// - `summary.json`: the [`Summary`]; `summary.csv`: [`Summary::csv`];
/// - `table.md`: [`Summary::markdown_table`];
/// - `groups.json`: the [`group_by`] reports for each of `group_fields`, when there are any.
///
/// The files hold no timestamps and iterate in fixed orders, so two runs over the same input
/// with a deterministic scorer give byte-identical files.
pub fn write_reports(
    dir: &Path,
    run: &EvalRun,
    group_fields: &[String],
    min_group_size: usize,
) -> Result<Summary> {
    let summary = Summary::from_run(run);
    write_atomic(
        &dir.join("items.jsonl"),
        &to_json_lines("items.jsonl", &run.records)?,
    )?;
    write_atomic(
        &dir.join("failures.jsonl"),
        &to_json_lines("failures.jsonl", &run.failures)?,
    )?;
    write_atomic(
        &dir.join("summary.json"),
        &to_json_pretty("summary.json", &summary)?,
    )?;
    write_atomic(&dir.join("summary.csv"), summary.csv().as_bytes())?;
    write_atomic(&dir.join("table.md"), summary.markdown_table().as_bytes())?;
    if !group_fields.is_empty() {
        let groups: Vec<GroupReport> = group_fields
            .iter()
            .flat_map(|f| group_by(run, f, min_group_size))
            .collect();
        write_atomic(
            &dir.join("groups.json"),
            &to_json_pretty("groups.json", &groups)?,
        )?;
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use navab_core::PreferenceItem;

    use super::*;
    use crate::scorer::{LogLikelihood, ScoreRequest, Scorer};
    use crate::{evaluate, is_swapped, EvalOptions, ItemFailure, Method};
    use std::fs;

    const NATIONS: [&str; 6] = ["Germany", "Japan", "US", "China", "France", "UK"];

    /// `n` items spread over six nations (Japan is not one of the paper's five) and both sets,
    /// with a `country` field for grouping: even items Kenya, odd items Brazil.
    fn items(n: usize) -> Vec<PreferenceItem> {
        (0..n)
            .map(|i| PreferenceItem {
                id: format!("China/quoted/{i:05}"),
                prompt: format!("Question {i}?"),
                chosen: format!("good answer {i}"),
                rejected: format!("bad answer {i}"),
                metadata: [
                    ("nation", NATIONS[i % 6]),
                    ("set", ["Quoted", "Official"][i / 6 % 2]),
                    ("country", ["Kenya", "Brazil"][i % 2]),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            })
            .collect()
    }

    fn ll(continuation_logprob: f64) -> LogLikelihood {
        LogLikelihood {
            context_logprob: -10.0,
            context_tokens: 5,
            continuation_logprob,
            continuation_tokens: 2,
        }
    }

    /// Prefers the letter A whatever it holds; has no opinion otherwise (ties).
    struct AlwaysA;
    impl Scorer for AlwaysA {
        fn score(&self, requests: &[ScoreRequest]) -> crate::Result<Vec<LogLikelihood>> {
            Ok(requests
                .iter()
                .map(|r| ll(if r.continuation == " A" { -0.1 } else { -3.0 }))
                .collect())
        }
        fn name(&self) -> String {
            "always-a".into()
        }
    }

    /// Prefers "good" text (or the letter holding it) on Kenya's items (even question
    /// numbers) and "bad" text on Brazil's.
    struct KenyaOnly;
    impl Scorer for KenyaOnly {
        fn score(&self, requests: &[ScoreRequest]) -> crate::Result<Vec<LogLikelihood>> {
            Ok(requests
                .iter()
                .map(|r| {
                    let number: usize = r
                        .context
                        .split(['?', ' '])
                        .find_map(|w| w.parse().ok())
                        .expect("a question number");
                    let text = match r.continuation.trim() {
                        l @ ("A" | "B") => r
                            .context
                            .lines()
                            .find(|line| line.starts_with(&format!("{l}:")))
                            .unwrap_or_default()
                            .to_string(),
                        _ => r.continuation.clone(),
                    };
                    let good = text.contains("good");
                    ll(if good == number.is_multiple_of(2) {
                        -1.0
                    } else {
                        -3.0
                    })
                })
                .collect())
        }
        fn name(&self) -> String {
            "kenya-only".into()
        }
    }

    fn run_with<S: Scorer>(scorer: &S, items: &[PreferenceItem], methods: &str) -> EvalRun {
        evaluate(
            scorer,
            items,
            &Method::parse_list(methods).unwrap(),
            &EvalOptions::default(),
            &mut |_, _| {},
        )
    }

    #[test]
    fn empty_rate_has_the_whole_interval() {
        let empty = Rate::new(0, 0);
        assert_eq!((empty.rate, empty.ci_low, empty.ci_high), (0.0, 0.0, 1.0));
    }

    #[test]
    fn position_bias_is_measured_exactly() {
        let data = items(75);
        let run = run_with(&AlwaysA, &data, "ab-first,ab-swap,ab-both,paper");
        let summary = Summary::from_run(&run);
        let overall = |m: &str| summary.overall.iter().find(|r| r.method == m).unwrap();
        let s_at_a = data.iter().filter(|i| !is_swapped(&i.id)).count();
        assert!(
            (25..=50).contains(&s_at_a),
            "about half swapped: {s_at_a}/75"
        );

        // Always A: 100% A-choice under every A/B order, in every cell and overall.
        for m in ["ab-first", "ab-swap", "ab-both"] {
            let a = overall(m).chose_a.as_ref().unwrap();
            assert_eq!((a.correct, a.rate), (a.n, 1.0), "{m}");
        }
        assert_eq!(
            overall("ab-both").chose_a.as_ref().unwrap().n,
            150,
            "two decisions per item"
        );
        for row in summary.rows.iter().filter(|r| r.method.starts_with("ab-")) {
            assert_eq!(row.chose_a.as_ref().unwrap().rate, 1.0, "{row:?}");
        }
        // S always at A flatters it; with half swapped it is right exactly where S sits at A
        // (the real observation: 75/75 vs 37/75); strict mode gives it nothing.
        assert_eq!(overall("ab-first").accuracy.correct, 75);
        let swap = overall("ab-swap");
        assert_eq!(swap.accuracy.correct, s_at_a);
        assert_eq!(swap.accuracy_s_at_a.as_ref().unwrap().n, s_at_a);
        assert_eq!(swap.accuracy_s_at_a.as_ref().unwrap().rate, 1.0);
        assert_eq!(swap.accuracy_s_at_b.as_ref().unwrap().n, 75 - s_at_a);
        assert_eq!(swap.accuracy_s_at_b.as_ref().unwrap().rate, 0.0);
        assert_eq!(overall("ab-both").accuracy.correct, 0);
        // Not an A/B method: no position bias, and every item tied.
        let paper = overall("paper");
        assert!(paper.chose_a.is_none() && paper.accuracy_s_at_a.is_none());
        assert_eq!((paper.ties, paper.accuracy.correct), (75, 0));
        // The cells add up to the overall row.
        let cells: usize = summary
            .rows
            .iter()
            .filter(|r| r.method == "ab-swap")
            .map(|r| r.accuracy.correct)
            .sum();
        assert_eq!(cells, s_at_a);
    }

    #[test]
    fn rows_follow_the_papers_order() {
        let run = run_with(&KenyaOnly, &items(24), "paper,acc");
        let summary = Summary::from_run(&run);
        let keys: Vec<(&str, &str, &str)> = summary
            .rows
            .iter()
            .map(|r| (r.set.as_str(), r.nation.as_str(), r.method.as_str()))
            .collect();
        let mut expected = Vec::new();
        for set in ["Quoted", "Official"] {
            for nation in ["China", "US", "UK", "France", "Germany", "Japan"] {
                for method in ["paper", "acc"] {
                    expected.push((set, nation, method));
                }
            }
        }
        assert_eq!(keys, expected);
        assert!(summary.rows.iter().all(|r| r.accuracy.n == 2));
        assert_eq!(summary.methods, ["paper", "acc"]);
    }

    #[test]
    fn the_summary_does_not_depend_on_item_order() {
        let data = items(60);
        let mut shuffled = data.clone();
        // A fixed permutation: stride 7 through 60 items (7 and 60 are coprime).
        for (k, slot) in shuffled.iter_mut().enumerate() {
            *slot = data[(k * 7) % 60].clone();
        }
        let methods = "paper,ab-swap,ab-both,acc-norm";
        let a = Summary::from_run(&run_with(&KenyaOnly, &data, methods));
        let b = Summary::from_run(&run_with(&KenyaOnly, &shuffled, methods));
        assert_eq!(a, b);
        assert_eq!(a.csv(), b.csv());
        assert_eq!(a.markdown_table(), b.markdown_table());
    }

    #[test]
    fn groups_have_rates_and_a_spread_over_large_enough_groups() {
        let mut data = items(12);
        // A third, tiny group that is always wrong: too small to count in the spread.
        data.push(PreferenceItem {
            id: "tiny".into(),
            prompt: "Question 13?".into(),
            chosen: "good".into(),
            rejected: "bad".into(),
            metadata: [("country".to_string(), "Malta".to_string())].into(),
        });
        data.push(PreferenceItem {
            id: "no-country".into(),
            prompt: "Question 14?".into(),
            chosen: "good".into(),
            rejected: "bad".into(),
            metadata: BTreeMap::new(),
        });
        let run = run_with(&KenyaOnly, &data, "paper,acc");
        let reports = group_by(&run, "country", 2);
        assert_eq!(reports.len(), 2, "one per method");
        let paper = &reports[0];
        assert_eq!(
            (paper.field.as_str(), paper.method.as_str()),
            ("country", "paper")
        );
        let groups: Vec<(&str, usize, usize)> = paper
            .groups
            .iter()
            .map(|(k, r)| (k.as_str(), r.correct, r.n))
            .collect();
        assert_eq!(
            groups,
            [
                ("(none)", 1, 1),
                ("Brazil", 0, 6),
                ("Kenya", 6, 6),
                ("Malta", 0, 1)
            ]
        );
        let spread = paper.spread.as_ref().unwrap();
        assert_eq!(spread.best, ("Kenya".to_string(), 1.0));
        assert_eq!(spread.worst, ("Brazil".to_string(), 0.0));
        assert_eq!(spread.gap, 1.0);
        // With min size 1 the equally bad Brazil and Malta tie: the first by name is worst,
        // and "(none)" ties Kenya at 1.0 and sorts first.
        let spread = group_by(&run, "country", 1)[0].spread.clone().unwrap();
        assert_eq!(
            (spread.best.0.as_str(), spread.worst.0.as_str()),
            ("(none)", "Brazil")
        );
        // No group of 7: no spread, but the groups are still listed.
        let report = &group_by(&run, "country", 7)[0];
        assert!(report.spread.is_none() && report.groups.len() == 4);
        // Grouping by nation works too: nation is ordinary metadata.
        assert_eq!(group_by(&run, "nation", 1)[0].groups.len(), 7);
    }

    #[test]
    fn table2_has_the_papers_shape() {
        let run = run_with(&KenyaOnly, &items(24), "paper,ab-swap");
        let summary = Summary::from_run(&run);
        let table = table2_markdown(std::slice::from_ref(&summary));
        let lines: Vec<&str> = table.lines().collect();
        let header: Vec<&str> = lines[0]
            .split(" | ")
            .map(|c| c.trim_matches(['|', ' ']))
            .collect();
        assert_eq!(
            header,
            [
                "Model",
                "China MC(paper)",
                "China MC(ab-swap)",
                "US MC(paper)",
                "US MC(ab-swap)",
                "UK MC(paper)",
                "UK MC(ab-swap)",
                "France MC(paper)",
                "France MC(ab-swap)",
                "Germany MC(paper)",
                "Germany MC(ab-swap)",
                "Japan MC(paper)",
                "Japan MC(ab-swap)",
            ]
        );
        assert_eq!(lines[1], format!("|---|{}", "---:|".repeat(12)));
        assert!(lines[2].starts_with("| *Quoted Statements* |"));
        // Even nation indices (Germany, US, France) hold Kenya's items, which the scorer gets
        // right; the others Brazil's. Columns: China, US, UK, France, Germany, Japan × 2 methods.
        assert_eq!(
            lines[3],
            "| kenya-only | 0.000 | 0.000 | 1.000 | 1.000 | 0.000 | 0.000 | 1.000 | 1.000 \
             | 1.000 | 1.000 | 0.000 | 0.000 |"
        );
        assert_eq!(lines[4], format!("| n |{}", " 2 |".repeat(12)));
        assert!(lines[5].starts_with("| *Official Statements* |"));
        assert_eq!(lines.len(), 8);
        // Several models stack as rows, the paper's way.
        let other = Summary {
            scorer: "other".into(),
            ..summary.clone()
        };
        let both = table2_markdown(&[summary, other]);
        assert_eq!(both.lines().count(), 12);
        assert!(both.lines().nth(5).unwrap().starts_with("| other | "));
    }

    #[test]
    fn markdown_and_text_tables_are_complete_and_aligned() {
        let run = run_with(&AlwaysA, &items(12), "paper,ab-swap");
        let summary = Summary::from_run(&run);
        let md = summary.markdown_table();
        assert!(md.contains("Model: `always-a`"));
        assert!(md.contains("| Method | China | US | UK | France | Germany | Japan |"));
        assert!(md.contains("## Position bias"));
        // 12/12 chose A: Wilson interval (0.7575, 1).
        assert!(
            md.contains("| ab-swap | 12 | 1.000 | [0.758, 1.000] |"),
            "{md}"
        );
        let text = summary.text_table();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2 + summary.rows.len() + summary.overall.len());
        // The last column is right-aligned, so every row ends at the same width.
        let width = lines[0].chars().count();
        assert!(lines.iter().all(|l| l.chars().count() == width), "{text}");
        assert!(lines.last().unwrap().starts_with("all"));
    }

    #[test]
    fn csv_has_one_line_per_row_and_quotes_awkward_names() {
        let mut data = items(6);
        data[0]
            .metadata
            .insert("nation".into(), "Bosnia, \"and\" Herzegovina".into());
        data[1].metadata.insert("nation".into(), "A|B".into());
        let summary = Summary::from_run(&run_with(&KenyaOnly, &data, "paper,ab-swap"));
        let csv = summary.csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 1 + summary.rows.len() + summary.overall.len());
        let columns = lines[0].split(',').count();
        assert_eq!(columns, 17);
        assert!(csv.contains("\"Bosnia, \"\"and\"\" Herzegovina\""));
        // A non-A/B row leaves the A/B columns empty; an A/B row fills them.
        let paper = lines
            .iter()
            .find(|l| l.starts_with("all,all,paper,"))
            .unwrap();
        assert!(paper.ends_with(",,,,,,,,"), "{paper}");
        let swap = lines
            .iter()
            .find(|l| l.starts_with("all,all,ab-swap,"))
            .unwrap();
        assert!(swap.starts_with("all,all,ab-swap,6,3,0.500000,"), "{swap}");
        assert_eq!(swap.split(',').nth(9), Some("6"), "6 A/B decisions: {swap}");
        assert!(summary.markdown_table().contains("A\\|B"));
    }

    fn read_all(dir: &Path) -> BTreeMap<String, Vec<u8>> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    fs::read(e.path()).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn two_runs_write_byte_identical_files() {
        let data = items(30);
        let methods = "paper,paper-seq,ab-swap,ab-both,acc,acc-norm";
        let fields = ["country".to_string(), "nation".to_string()];
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        write_reports(a.path(), &run_with(&KenyaOnly, &data, methods), &fields, 2).unwrap();
        write_reports(b.path(), &run_with(&KenyaOnly, &data, methods), &fields, 2).unwrap();
        let (a, b) = (read_all(a.path()), read_all(b.path()));
        let names: Vec<&str> = a.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "failures.jsonl",
                "groups.json",
                "items.jsonl",
                "summary.csv",
                "summary.json",
                "table.md"
            ],
            "no temporary file is left behind"
        );
        assert_eq!(a, b);
        let items_jsonl = String::from_utf8(a["items.jsonl"].clone()).unwrap();
        assert_eq!(items_jsonl.lines().count(), 30 * 6);
        let first: crate::ItemRecord =
            serde_json::from_str(items_jsonl.lines().next().unwrap()).unwrap();
        assert_eq!(
            (first.item_id.as_str(), first.method.as_str()),
            ("China/quoted/00000", "paper")
        );
        let summary: Summary = serde_json::from_slice(&a["summary.json"]).unwrap();
        assert_eq!(summary.rows.len(), 2 * 6 * 6);
        assert!(a["failures.jsonl"].is_empty());
    }

    #[test]
    fn reports_replace_earlier_files_and_list_failures() {
        let dir = tempfile::tempdir().unwrap();
        let mut run = run_with(&KenyaOnly, &items(6), "paper");
        write_reports(dir.path(), &run, &[], 1).unwrap();
        run.records.truncate(2);
        run.failures.push(ItemFailure {
            item_id: "China/quoted/00002".into(),
            method: None,
            reason: "HTTP 500".into(),
        });
        let summary = write_reports(dir.path(), &run, &[], 1).unwrap();
        assert_eq!(summary.failures, 1);
        let files = read_all(dir.path());
        assert_eq!(
            String::from_utf8_lossy(&files["items.jsonl"])
                .lines()
                .count(),
            2
        );
        let failures = String::from_utf8(files["failures.jsonl"].clone()).unwrap();
        let failure: ItemFailure = serde_json::from_str(failures.trim_end()).unwrap();
        assert_eq!(failure.reason, "HTTP 500");
        assert!(
            String::from_utf8_lossy(&files["table.md"]).contains("1 item(s) could not be scored")
        );
        assert!(!files.contains_key("groups.json"));
    }

    #[test]
    fn an_unwritable_directory_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("taken");
        fs::write(&blocker, b"a file, not a directory").unwrap();
        let run = run_with(&KenyaOnly, &items(2), "paper");
        let err = write_reports(&blocker.join("out"), &run, &[], 1).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
        assert!(err.to_string().contains("taken"), "{err}");
    }

    #[test]
    fn empty_input_gives_an_empty_report() {
        let run = run_with(&KenyaOnly, &[], "paper,ab-swap");
        let summary = Summary::from_run(&run);
        assert!(summary.rows.is_empty() && summary.overall.is_empty());
        assert_eq!(summary.text_table().lines().count(), 2);
        assert_eq!(summary.csv().lines().count(), 1);
        assert!(group_by(&run, "country", 1)
            .iter()
            .all(|g| g.groups.is_empty() && g.spread.is_none()));
        let dir = tempfile::tempdir().unwrap();
        write_reports(dir.path(), &run, &["country".into()], 5).unwrap();
        for (name, bytes) in read_all(dir.path()) {
            let text = String::from_utf8(bytes).unwrap();
            assert!(
                !text.contains("NaN") && !text.contains("inf"),
                "{name}: {text}"
            );
        }
        let table = table2_markdown(&[summary]);
        assert_eq!(table, "| Model |\n|---|\n");
    }
}
