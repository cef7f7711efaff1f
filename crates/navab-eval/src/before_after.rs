//! Before/after comparison of two runs on the same items (a model before and after
//! alignment): correct rates with 95% intervals per group and method, the paired change, an
//! exact McNemar test on the items that changed, a Markdown table and an SVG plot.
//!
//! ```
//! use std::collections::BTreeMap;
//! use navab_eval::{compare_runs, EvalRun, ItemOutcome, ItemRecord, Method};
//!
//! let run = |name: &str, right: &[bool]| EvalRun {
//!     scorer: name.into(),
//!     methods: vec!["paper".parse::<Method>().unwrap()],
//!     records: right.iter().enumerate().map(|(i, &correct)| ItemRecord {
//!         item_id: format!("item-{i}"),
//!         method: "paper".into(),
//!         metadata: BTreeMap::from([("nation".to_string(), "UK".to_string())]),
//!         outcome: ItemOutcome { correct, tie: false, decisions: vec![] },
//!     }).collect(),
//!     failures: vec![],
//!     stopped_early: None,
//! };
//! let cmp = compare_runs(&run("base", &[false, false, true, false]),
//!                        &run("aligned", &[true, true, true, false]), &["nation".into()]);
//! let uk = &cmp.rows[0];
//! assert_eq!((uk.group.as_str(), uk.before.correct, uk.after.correct), ("UK", 1, 3));
//! assert_eq!((uk.gained, uk.lost), (2, 0));
//! assert!(cmp.markdown_table().contains("| UK | paper |"));
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::evaluate::EvalRun;
use crate::report::{Rate, ALL, MISSING};

/// One group × method: the rate before and after, on the items scored in both runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparisonRow {
    /// The group's values of the grouping fields, joined by " / " ([`ALL`] for every item).
    pub group: String,
    /// The method.
    pub method: String,
    /// Correct rate before.
    pub before: Rate,
    /// Correct rate after.
    pub after: Rate,
    /// `after.rate − before.rate`.
    pub change: f64,
    /// Items wrong before and right after.
    pub gained: usize,
    /// Items right before and wrong after.
    pub lost: usize,
    /// Two-sided exact McNemar p-value on `gained` vs `lost` (1 when none changed).
    pub p_value: f64,
    /// Whether the two 95% intervals do not overlap.
    pub beyond_intervals: bool,
}

/// The rows of [`compare_runs`], groups in name order, [`ALL`] last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The first run's scorer.
    pub before: String,
    /// The second run's scorer.
    pub after: String,
    /// The metadata fields that define a group.
    pub group_by: Vec<String>,
    /// Rows, by group then method (in the first run's method order).
    pub rows: Vec<ComparisonRow>,
}

/// Two-sided exact binomial test of `k` successes in `n` at p = ½ (McNemar's exact test).
fn mcnemar_exact(gained: usize, lost: usize) -> f64 {
    let n = gained + lost;
    if n == 0 {
        return 1.0;
    }
    let k = gained.min(lost);
    // P(X ≤ k) for X ~ Bin(n, ½), summed in log space so large n does not overflow.
    let ln_half_n = n as f64 * 0.5f64.ln();
    let mut ln_choose = 0f64;
    let mut tail = 0f64;
    for i in 0..=k {
        if i > 0 {
            ln_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        tail += (ln_choose + ln_half_n).exp();
    }
    (2.0 * tail).min(1.0)
}

/// Compares `before` and `after` on the items and methods scored in both, per group of
/// `group_by` metadata values and over all items.
///
/// # Complexity
/// `O(r log r)` for `r` records.
pub fn compare_runs(before: &EvalRun, after: &EvalRun, group_by: &[String]) -> Comparison {
    let key = |metadata: &BTreeMap<String, String>| -> String {
        group_by
            .iter()
            .map(|f| metadata.get(f).map_or(MISSING, String::as_str))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    let after_by_id: BTreeMap<(&str, &str), bool> = after
        .records
        .iter()
        .map(|r| ((r.item_id.as_str(), r.method.as_str()), r.outcome.correct))
        .collect();
    // (group, method) → [before right, after right, gained, lost, n]
    let mut cells: BTreeMap<(String, String), [usize; 5]> = BTreeMap::new();
    for r in &before.records {
        let Some(&right_after) = after_by_id.get(&(r.item_id.as_str(), r.method.as_str())) else {
            continue;
        };
        let right_before = r.outcome.correct;
        for group in [key(&r.metadata), ALL.to_string()] {
            let c = cells.entry((group, r.method.clone())).or_default();
            c[0] += usize::from(right_before);
            c[1] += usize::from(right_after);
            c[2] += usize::from(!right_before && right_after);
            c[3] += usize::from(right_before && !right_after);
            c[4] += 1;
        }
    }
    let method_rank = |m: &str| before.methods.iter().position(|x| x.to_string() == m);
    let mut rows: Vec<ComparisonRow> = cells
        .into_iter()
        .map(|((group, method), [b, a, gained, lost, n])| {
            let (before, after) = (Rate::new(b, n), Rate::new(a, n));
            ComparisonRow {
                change: after.rate - before.rate,
                beyond_intervals: after.ci_low > before.ci_high || after.ci_high < before.ci_low,
                p_value: mcnemar_exact(gained, lost),
                group,
                method,
                before,
                after,
                gained,
                lost,
            }
        })
        .collect();
    rows.sort_by(|x, y| {
        (x.group == ALL, &x.group, method_rank(&x.method)).cmp(&(
            y.group == ALL,
            &y.group,
            method_rank(&y.method),
        ))
    });
    Comparison {
        before: before.scorer.clone(),
        after: after.scorer.clone(),
        group_by: group_by.to_vec(),
        rows,
    }
}

fn pct(rate: &Rate) -> String {
    format!(
        "{:.1} [{:.1}, {:.1}]",
        100.0 * rate.rate,
        100.0 * rate.ci_low,
        100.0 * rate.ci_high
    )
}

impl Comparison {
    /// A Markdown table: group, method, n, before and after in % with 95% intervals, the
    /// change in points, items gained/lost and McNemar's p.
    pub fn markdown_table(&self) -> String {
        let group_title = if self.group_by.is_empty() {
            "group".to_string()
        } else {
            self.group_by.join(" / ")
        };
        let mut out = format!(
            "| {group_title} | method | n | before: {} | after: {} | change (points) | gained / lost | McNemar p |\n|---|---|---:|---:|---:|---:|---:|---:|\n",
            self.before, self.after
        );
        for r in &self.rows {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {:+.1}{} | {} / {} | {:.3} |\n",
                r.group,
                r.method,
                r.before.n,
                pct(&r.before),
                pct(&r.after),
                100.0 * r.change,
                if r.beyond_intervals { " *" } else { "" },
                r.gained,
                r.lost,
                r.p_value
            ));
        }
        out.push_str("\nIn % with 95% Wilson intervals; * marks a change beyond both intervals (no overlap).\n");
        out
    }

    /// A grouped bar chart (the NaVAB paper's Fig. 6 style) as SVG: one bar pair per group
    /// and method, before in grey and after in blue, with 95% interval whiskers.
    pub fn svg_plot(&self, title: &str) -> String {
        let (bar, gap, left, top, height) = (18.0, 14.0, 48.0, 40.0, 220.0);
        let slot = 2.0 * bar + gap;
        // SVG has no text layout: widths are estimated (0.6 em a character) so that the
        // title, the legend and the slanted labels stay inside the picture.
        let text_width = |text: &str, size: f64| text.chars().count() as f64 * size * 0.6;
        let (sin, cos) = 40f64.to_radians().sin_cos();
        let before = format!("before: {}", self.before);
        let after = format!("after: {}", self.after);
        let after_x = left + 14.0 + text_width(&before, 11.0) + 20.0;
        let labels: Vec<String> = self
            .rows
            .iter()
            .map(|r| format!("{} · {}", r.group, r.method))
            .collect();
        let label_x = |i: usize| left + gap / 2.0 + slot * i as f64 + bar;
        let label_right = labels
            .iter()
            .enumerate()
            .map(|(i, l)| label_x(i) + cos * text_width(l, 11.0))
            .fold(0.0, f64::max);
        let label_depth = labels
            .iter()
            .map(|l| sin * text_width(l, 11.0))
            .fold(0.0, f64::max);
        let width = (left + slot * self.rows.len() as f64 + 20.0)
            .max(left + text_width(title, 13.0) + 10.0)
            .max(after_x + 14.0 + text_width(&after, 11.0) + 10.0)
            .max(label_right + 10.0);
        let total = top + height + (label_depth + 30.0).max(110.0);
        let y = |rate: f64| top + height * (1.0 - rate);
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{total:.0}\" font-family=\"sans-serif\" font-size=\"11\">\n\
             <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
             <text x=\"{left}\" y=\"18\" font-size=\"13\">{}</text>\n\
             <rect x=\"{left}\" y=\"24\" width=\"10\" height=\"10\" fill=\"#9e9e9e\"/><text x=\"{:.0}\" y=\"33\">{}</text>\n\
             <rect x=\"{after_x:.0}\" y=\"24\" width=\"10\" height=\"10\" fill=\"#1f77b4\"/><text x=\"{:.0}\" y=\"33\">{}</text>\n",
            escape(title),
            left + 14.0,
            escape(&before),
            after_x + 14.0,
            escape(&after)
        );
        for tick in 0..=4 {
            let rate = tick as f64 / 4.0;
            svg.push_str(&format!(
                "<line x1=\"{left}\" x2=\"{:.0}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/><text x=\"{:.0}\" y=\"{:.1}\" text-anchor=\"end\">{:.0}%</text>\n",
                width - 10.0,
                y(rate),
                y(rate),
                left - 4.0,
                y(rate) + 4.0,
                100.0 * rate
            ));
        }
        for (i, r) in self.rows.iter().enumerate() {
            let x0 = left + gap / 2.0 + slot * i as f64;
            for (k, (rate, colour)) in [(&r.before, "#9e9e9e"), (&r.after, "#1f77b4")]
                .into_iter()
                .enumerate()
            {
                let x = x0 + bar * k as f64;
                let cx = x + bar / 2.0;
                svg.push_str(&format!(
                    "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar}\" height=\"{:.1}\" fill=\"{colour}\"/>\n\
                     <line x1=\"{cx:.1}\" x2=\"{cx:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"black\"/>\n",
                    y(rate.rate),
                    height * rate.rate,
                    y(rate.ci_high),
                    y(rate.ci_low)
                ));
            }
            let label = &labels[i];
            let lx = label_x(i);
            svg.push_str(&format!(
                "<text x=\"{lx:.1}\" y=\"{:.1}\" transform=\"rotate(40 {lx:.1} {:.1})\">{}</text>\n",
                top + height + 14.0,
                top + height + 14.0,
                escape(label)
            ));
        }
        svg.push_str("</svg>\n");
        svg
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcnemar_matches_the_binomial_tail() {
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        // 0 of 5 discordant pairs lost: 2 · 0.5^5.
        assert!((mcnemar_exact(5, 0) - 0.0625).abs() < 1e-12);
        // k = 1 of n = 6: 2 · (1 + 6) / 64.
        assert!((mcnemar_exact(1, 5) - 14.0 / 64.0).abs() < 1e-12);
        assert_eq!(mcnemar_exact(3, 3), 1.0);
    }

    fn svg_number(svg: &str, attr: &str) -> f64 {
        let start = svg.find(&format!("{attr}=\"")).unwrap() + attr.len() + 2;
        let end = start + svg[start..].find('"').unwrap();
        svg[start..end].parse().unwrap()
    }

    #[test]
    fn long_names_widen_the_plot_instead_of_running_off_it() {
        let row = |method: &str| ComparisonRow {
            group: "navab-hk-sample / Official".into(),
            method: method.into(),
            before: Rate::new(3, 8),
            after: Rate::new(4, 8),
            change: 0.125,
            gained: 1,
            lost: 0,
            p_value: 1.0,
            beyond_intervals: false,
        };
        let comparison = Comparison {
            before: "SmolLM2-135M-Instruct.Q4_1.gguf".into(),
            after: "SmolLM2-135M-Instruct.Q4_1.gguf+dpo".into(),
            group_by: vec!["nation".into(), "set".into()],
            rows: vec![row("paper"), row("acc")],
        };
        let title =
            "SmolLM2-135M-Instruct.Q4_1.gguf: MC correct rate before and after DPO (test split)";
        let svg = comparison.svg_plot(title);
        let width = svg_number(&svg, "width");
        // Two rows of bars alone need 48 + 2 × 50 + 20 = 168 px; the 83-character title at
        // 13 px needs about 650.
        assert!(width >= 48.0 + 83.0 * 13.0 * 0.6, "width {width}");
        // The "after" legend starts past the end of the "before" one.
        let after_rect = svg.find("fill=\"#1f77b4\"").unwrap();
        let x = svg[..after_rect].rfind("x=\"").unwrap();
        let after_x = svg_number(&svg[x..], "x");
        let before_text = "before: SmolLM2-135M-Instruct.Q4_1.gguf".chars().count() as f64;
        assert!(
            after_x >= 48.0 + 14.0 + before_text * 11.0 * 0.6,
            "after legend at {after_x}"
        );
    }
}
