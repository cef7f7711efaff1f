//! Verification rates per nation × statement set, per nation and overall, from a sheet the test
//! writes and fills, checked against counts the test makes itself.

use std::path::Path;

use navab_core::stats::wilson_interval;
use navab_core::{Nation, StatementSet, Triple};
use navab_triples::{
    read_sheet, sample_for_verification, verification_rates, write_sheet_csv, NationRates,
    SheetRow, VerificationParams,
};

fn triples() -> Vec<Triple> {
    let mut out = Vec::new();
    for (nation, quoted, official) in [
        (Nation::China, 9, 14),
        (Nation::UnitedKingdom, 12, 0),
        (Nation::Germany, 5, 8),
    ] {
        for (set, n) in [
            (StatementSet::Quoted, quoted),
            (StatementSet::Official, official),
        ] {
            for i in 0..n {
                out.push(Triple {
                    id: Triple::navab_id(&nation, set, i),
                    nation: nation.clone(),
                    set,
                    question: format!("Q{i}?"),
                    statement: format!("Statement {i}, with a comma."),
                    reverse_statement: format!("Reverse {i}."),
                    source: None,
                    raw_news: Some("新聞，第一行。\nLigne deux, « citée ».".into()),
                })
            }
        }
    }
    out
}

/// Which column a row is marked in: a fixed pattern mixing all three, different per row.
fn mark_of(row: usize) -> usize {
    (row * 7 + row / 3) % 3
}

/// Fills the mark columns of `rows` by [`mark_of`] and writes the sheet as CSV.
fn filled_sheet(path: &Path, rows: &[SheetRow]) {
    let filled: Vec<SheetRow> = rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let mut row = row.clone();
            let cells = [&mut row.align, &mut row.conflict, &mut row.unrelated];
            *cells.into_iter().nth(mark_of(i)).unwrap() = "x".into();
            row
        })
        .collect();
    write_sheet_csv(path, &filled).unwrap();
}

/// [align, conflict, unrelated] counts per group, from the rows and the pattern.
fn expected(rows: &[SheetRow], group: impl Fn(&SheetRow) -> Option<String>) -> [usize; 3] {
    let mut counts = [0; 3];
    for (i, row) in rows.iter().enumerate() {
        if group(row).is_some() {
            counts[mark_of(i)] += 1;
        }
    }
    counts
}

fn assert_rates(got: &NationRates, counts: [usize; 3]) {
    let n: usize = counts.iter().sum();
    assert_eq!(got.n, n, "{} / {}", got.nation, got.set);
    for (rate, count) in [&got.align, &got.conflict, &got.unrelated]
        .into_iter()
        .zip(counts)
    {
        assert_eq!(
            (rate.count, rate.n),
            (count, n),
            "{} / {}",
            got.nation,
            got.set
        );
        assert!((rate.rate - count as f64 / n as f64).abs() < 1e-12);
        let (low, high) = wilson_interval(count, n);
        assert_eq!((rate.ci_low, rate.ci_high), (low, high));
        assert!(rate.ci_low <= rate.rate && rate.rate <= rate.ci_high);
    }
}

#[test]
fn rates_per_nation_and_set_match_counts_made_here() {
    let rows = sample_for_verification(&triples(), &VerificationParams::default()).unwrap();
    assert_eq!(rows.len(), 9 + 14 + 12 + 5 + 8);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("filled.csv");
    filled_sheet(&path, &rows);
    let report = verification_rates(&read_sheet(&path).unwrap()).unwrap();

    // Nation × set groups: China, Germany, UK by name; quoted before official; no UK official.
    let groups: Vec<(&str, &str)> = report
        .sets
        .iter()
        .map(|r| (r.nation.as_str(), r.set.as_str()))
        .collect();
    assert_eq!(
        groups,
        [
            ("China", "quoted"),
            ("China", "official"),
            ("Germany", "quoted"),
            ("Germany", "official"),
            ("UK", "quoted"),
        ]
    );
    for got in &report.sets {
        let counts = expected(&rows, |r| {
            (r.nation == got.nation && r.set == got.set).then(String::new)
        });
        assert_rates(got, counts);
    }
    for got in &report.nations {
        assert_eq!(got.set, "all");
        assert_rates(
            got,
            expected(&rows, |r| (r.nation == got.nation).then(String::new)),
        );
    }
    assert_rates(&report.overall, expected(&rows, |_| Some(String::new())));
    assert_eq!(
        (report.overall.nation.as_str(), report.overall.set.as_str()),
        ("all", "all")
    );

    // The table: each set, the nation's total only where it has two sets, then everything.
    let table = report.to_markdown();
    let firsts: Vec<String> = table
        .lines()
        .skip(2)
        .map(|l| l.split(" | ").take(2).collect::<Vec<_>>().join(" | "))
        .collect();
    assert_eq!(
        firsts,
        [
            "| China | quoted",
            "| China | official",
            "| China | all",
            "| Germany | quoted",
            "| Germany | official",
            "| Germany | all",
            "| UK | quoted",
            "| all | all",
        ]
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["sets"][1]["set"], "official");
    assert_eq!(json["sets"][1]["n"], 14);
}

#[test]
fn sheets_without_a_set_column_count_under_all_and_aliases_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.csv");
    std::fs::write(
        &old,
        "id,nation,statement,align,conflict,unrelated\r\n\
         a,China,\"S, one\",x,,\r\n\
         b,China,S two,,,x\r\n\
         c,France,S three,,x,\r\n",
    )
    .unwrap();
    let report = verification_rates(&read_sheet(&old).unwrap()).unwrap();
    let groups: Vec<(&str, &str, usize)> = report
        .sets
        .iter()
        .map(|r| (r.nation.as_str(), r.set.as_str(), r.n))
        .collect();
    assert_eq!(groups, [("China", "all", 2), ("France", "all", 1)]);
    assert_eq!(report.sets[0].align.count, 1);
    assert!(report.to_markdown().contains("| China | all | 2 | 50.0% ["));

    // Set names in any case and the published file's alias; unknown names kept as written.
    let mixed = dir.path().join("mixed.csv");
    std::fs::write(
        &mixed,
        "Set,ID,Nation,Align,Conflict,Unrelated\n\
         Human,a,US,x,,\n\
         QUOTED,b,US,,x,\n\
         ,c,US,,,x\n\
         editorial,d,US,,,x\n",
    )
    .unwrap();
    let sheet = read_sheet(&mixed).unwrap();
    let sets: Vec<&str> = sheet.rows.iter().map(|r| r.set.as_str()).collect();
    assert_eq!(sets, ["quoted", "quoted", "all", "editorial"]);
    let report = verification_rates(&sheet).unwrap();
    let groups: Vec<(&str, usize)> = report.sets.iter().map(|r| (r.set.as_str(), r.n)).collect();
    assert_eq!(groups, [("quoted", 2), ("all", 1), ("editorial", 1)]);
}

#[test]
fn a_bad_mark_names_the_row_and_id() {
    let rows = sample_for_verification(&triples()[..4], &VerificationParams::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.csv");
    let mut filled = rows.clone();
    for row in &mut filled {
        row.unrelated = "x".into();
    }
    filled[2].align = "maybe".into();
    write_sheet_csv(&path, &filled).unwrap();
    let err = read_sheet(&path).unwrap_err().to_string();
    assert!(err.contains("row 3") && err.contains(&rows[2].id), "{err}");
    assert!(
        err.contains("column align") && err.contains("maybe"),
        "{err}"
    );

    filled[2].align = "x".into();
    write_sheet_csv(&path, &filled).unwrap();
    let err = verification_rates(&read_sheet(&path).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("row 3") && err.contains("align and unrelated"),
        "{err}"
    );
}
