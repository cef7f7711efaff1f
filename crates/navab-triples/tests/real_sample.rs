//! The crate on the real replies of the authors' pipeline (`../shared/data/navab-hk-sample`,
//! read at test time, never copied into the repository): source judgment and triple
//! construction replayed through `ScriptedChatModel`, validation counts, and the NaVAB layout
//! round trip.

use std::path::PathBuf;

use navab_core::{
    read_navab_dir, read_navab_nation_dir, Nation, ReadOptions, StatementSet, Triple,
};
use navab_llm::squash_whitespace as squash;
use navab_llm::testing::ScriptedChatModel;
use navab_triples::{
    block_on, build_triples, judge_sources, sample_for_verification, validate_all, write_navab,
    BuildParams, ExtractedStatement, JudgedStatement, RunParams, StatementChoice, ValidationParams,
    VerificationParams,
};
use serde_json::Value;

/// The real data this file tests on (`NAVAB_DATA_DIR`, see `navab_core::testing`).
fn sample() -> std::path::PathBuf {
    navab_core::testing::data_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")))
        .join("navab-hk-sample")
}

fn records(file: &str) -> Vec<Value> {
    let path: PathBuf = sample().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the shared sample data must sit beside the repository)",
            path.display()
        )
    });
    match serde_json::from_str(&text).expect("sample is JSON") {
        Value::Array(items) => items,
        _ => panic!("{}: not a JSON array", path.display()),
    }
}

fn field<'v>(r: &'v Value, name: &str) -> &'v str {
    r[name]
        .as_str()
        .unwrap_or_else(|| panic!("field {name:?} missing"))
}

fn statement_of(file: &str, i: usize, r: &Value) -> ExtractedStatement {
    ExtractedStatement::new(format!("{file}#{i}"), Nation::China, field(r, "statement"))
        .with_raw_news(field(r, "raw_news"))
}

/// The 88 `full_source` replies of `source_statement_result.json`, replayed: every one parses,
/// and the set and speaker are those the authors stored (` unknown` → official).
#[test]
fn source_judgment_replays_the_stored_sources() {
    navab_core::real_data!("navab-hk-sample");
    let all = records("source_statement_result.json");
    let statements: Vec<_> = all
        .iter()
        .enumerate()
        .map(|(i, r)| statement_of("source", i, r))
        .collect();
    let model = ScriptedChatModel::new(all.iter().map(|r| field(r, "full_source")));
    let judged = block_on(judge_sources(&model, &statements, &RunParams::default())).unwrap();
    assert!(judged.failures.is_empty(), "{:?}", judged.failures);
    assert_eq!(judged.items.len(), 88);
    let mut official = 0;
    for (i, (item, r)) in judged.items.iter().zip(&all).enumerate() {
        assert_eq!(item.statement.id, format!("source#{i}"), "input order kept");
        assert_eq!(item.raw_reply, field(r, "full_source"));
        // The authors keep everything after `##`; the speaker is its first line.
        let stored = field(r, "source")
            .trim()
            .lines()
            .next()
            .unwrap_or("")
            .trim();
        if stored == "unknown" {
            official += 1;
            assert_eq!(
                (item.set, item.speaker.as_deref()),
                (StatementSet::Official, None)
            );
        } else {
            assert_eq!(item.set, StatementSet::Quoted, "[{i}]");
            assert_eq!(item.speaker.as_deref(), Some(stored), "[{i}]");
        }
    }
    assert_eq!(official, 47);
    // One request per statement, each naming its statement.
    let requests = model.requests();
    assert_eq!(requests.len(), 88);
    let last = &requests[1].messages.last().unwrap().content;
    assert!(last.contains(field(&all[1], "statement").trim()), "{last}");
}

/// Source judgment then triple construction on the 75 records of the two set files, with the
/// replies the authors' model gave (`full_source`, then `generated raw data`).
fn rebuild_sample(choice: StatementChoice) -> (Vec<JudgedStatement>, navab_triples::TripleBatch) {
    let mut all = Vec::new();
    for file in [
        "human_statement_result.json",
        "official_statement_result.json",
    ] {
        for (i, r) in records(file).into_iter().enumerate() {
            all.push((statement_of(file, i, &r), r));
        }
    }
    let statements: Vec<_> = all.iter().map(|(s, _)| s.clone()).collect();
    let sources = ScriptedChatModel::new(all.iter().map(|(_, r)| field(r, "full_source")));
    let judged = block_on(judge_sources(&sources, &statements, &RunParams::default())).unwrap();
    assert!(judged.failures.is_empty());
    let triples = ScriptedChatModel::new(all.iter().map(|(_, r)| field(r, "generated raw data")));
    let params = BuildParams::default().with_statement(choice);
    let built = block_on(build_triples(&triples, &judged.items, &params)).unwrap();
    assert!(built.failures.is_empty(), "{:?}", built.failures);
    (judged.items, built)
}

/// Our triples from the real replies equal what navab-core reads from the authors' files:
/// same ids, sets, Q, S (the extracted statement), RS and speakers.
#[test]
fn rebuilt_triples_equal_the_published_records() {
    navab_core::real_data!("navab-hk-sample");
    let (_, built) = rebuild_sample(StatementChoice::Extracted);
    let ours = built.triples();
    assert_eq!(ours.len(), 75);
    let theirs = read_navab_nation_dir(sample(), Nation::China, &ReadOptions::default())
        .unwrap()
        .items;
    assert_eq!(theirs.len(), 75);
    // navab-core reads quoted first, then official: the order we fed them in.
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!((&a.id, a.set), (&b.id, b.set));
        assert_eq!(a.statement, b.statement, "{}", a.id);
        assert_eq!(squash(&a.question), squash(&b.question), "{}", a.id);
        assert_eq!(
            squash(&a.reverse_statement),
            squash(&b.reverse_statement),
            "{}",
            a.id
        );
        assert_eq!(a.source, b.source, "{}", a.id);
        assert_eq!(a.raw_news, b.raw_news, "{}", a.id);
    }
    assert_eq!(
        ours.iter()
            .filter(|t| t.set == StatementSet::Quoted)
            .count(),
        35
    );
}

/// With `Regenerated`, S is the model's own `S:`: it differs from the stored statement only
/// where the stored one still carries the extraction reply's explanation (2 of 75, see
/// navab-llm's real_replies test).
#[test]
fn regenerated_statements_come_from_the_reply() {
    navab_core::real_data!("navab-hk-sample");
    let (_, built) = rebuild_sample(StatementChoice::Regenerated);
    let mut differ = 0;
    for b in &built.items {
        assert_eq!(b.triple.statement, b.draft.statement.trim());
        if squash(&b.triple.statement) != squash(&stored_statement(&b.statement_id)) {
            differ += 1;
        }
    }
    assert_eq!(differ, 2);
}

fn stored_statement(id: &str) -> String {
    let (file, index) = id.split_once('#').unwrap();
    let r = &records(file)[index.parse::<usize>().unwrap()];
    field(r, "statement").to_string()
}

/// Validation of the 75 real triples. The counts are printed (see docs/benchmarks.md);
/// the assertions only bound them: most authors' questions are questions, and RS rarely
/// repeats S.
#[test]
fn validation_counts_on_the_real_triples() {
    navab_core::real_data!("navab-hk-sample");
    let (_, built) = rebuild_sample(StatementChoice::Extracted);
    let triples = built.triples();
    let report = validate_all(&triples, &ValidationParams::default()).unwrap();
    println!(
        "real sample, {} triples: question pass {} fail {}; differs pass {} fail {}; \
         opposes pass {} fail {} unclear {}; kept {}, excluded {}",
        report.total,
        report.question.pass,
        report.question.fail,
        report.differs.pass,
        report.differs.fail,
        report.opposes.pass,
        report.opposes.fail,
        report.opposes.unclear,
        report.kept.len(),
        report.excluded()
    );
    for r in &report.reports {
        let t = &triples[r.index];
        println!(
            "  {} {:?}\n    Q: {}\n    S: {}\n    RS: {}",
            r.id, r.issues, t.question, t.statement, t.reverse_statement
        );
    }
    assert_eq!(report.total, 75);
    let sum = |c: navab_triples::CheckCount| c.pass + c.fail + c.unclear;
    assert_eq!(sum(report.question), 75);
    assert_eq!(sum(report.differs), 75);
    assert_eq!(sum(report.opposes), 75);
    assert!(report.question.pass >= 60, "{:?}", report.question);
    assert!(report.differs.pass >= 70, "{:?}", report.differs);
    assert!(report.opposes.pass >= 40, "{:?}", report.opposes);
    assert_eq!(report.kept.len() + report.excluded(), 75);
    // Kept triples have no error.
    for t in &report.kept {
        assert!(
            navab_triples::validate(t).iter().all(|i| !i.is_error()),
            "{}",
            t.id
        );
    }
}

/// The NaVAB layout written from rebuilt triples reads back unchanged with navab-core's reader.
#[test]
fn navab_layout_round_trips() {
    navab_core::real_data!("navab-hk-sample");
    let (_, built) = rebuild_sample(StatementChoice::Extracted);
    let triples = built.triples();
    let dir = tempfile::tempdir().unwrap();
    write_navab(dir.path(), &triples).unwrap();
    let china = dir.path().join("China");
    assert!(china.join("human_statement_result.json").is_file());
    assert!(china.join("official_statement_result.json").is_file());
    let back = read_navab_dir(dir.path(), &ReadOptions::default()).unwrap();
    assert!(back.skipped.is_empty());
    assert_eq!(back.items, triples);
    // The published field names, as Python tools expect them.
    let written: Value = serde_json::from_str(
        &std::fs::read_to_string(china.join("human_statement_result.json")).unwrap(),
    )
    .unwrap();
    for key in [
        "raw_news",
        "statement",
        "source",
        "generated Q",
        "generated reverse statement",
        "generated raw data",
    ] {
        assert!(written[0].get(key).is_some(), "{key}");
    }
}

/// The verification sample of the real triples: all 75 when fewer than 100, a seeded subset
/// otherwise, stable under input order.
#[test]
fn verification_sample_of_the_real_triples() {
    navab_core::real_data!("navab-hk-sample");
    let (_, built) = rebuild_sample(StatementChoice::Extracted);
    let triples: Vec<Triple> = built.triples();
    let all = sample_for_verification(&triples, &VerificationParams::default()).unwrap();
    assert_eq!(all.len(), 75);
    assert!(all
        .iter()
        .all(|r| r.nation == "China" && r.align.is_empty()));
    assert!(all.iter().all(|r| r.news.chars().count() <= 300));

    let params = VerificationParams {
        per_nation: 20,
        ..VerificationParams::default()
    };
    let some = sample_for_verification(&triples, &params).unwrap();
    assert_eq!(some.len(), 20);
    let mut reversed = triples.clone();
    reversed.reverse();
    assert_eq!(sample_for_verification(&reversed, &params).unwrap(), some);
    let other_seed = VerificationParams {
        seed: 7,
        ..params.clone()
    };
    assert_ne!(
        sample_for_verification(&triples, &other_seed).unwrap(),
        some
    );
}

/// Statements can be sampled before triples exist: the 88 judged statements of the source file.
#[test]
fn verification_sample_of_judged_statements() {
    navab_core::real_data!("navab-hk-sample");
    let all = records("source_statement_result.json");
    let statements: Vec<_> = all
        .iter()
        .enumerate()
        .map(|(i, r)| statement_of("source", i, r))
        .collect();
    let model = ScriptedChatModel::new(all.iter().map(|r| field(r, "full_source")));
    let judged = block_on(judge_sources(&model, &statements, &RunParams::default())).unwrap();
    let params = VerificationParams {
        per_nation: 30,
        ..VerificationParams::default()
    };
    let rows = sample_for_verification(&judged.items, &params).unwrap();
    assert_eq!(rows.len(), 30);
    assert!(rows
        .iter()
        .all(|r| r.set == "quoted" || r.set == "official"));
    // The statement is shown trimmed, as it will be stored.
    assert!(rows.iter().all(|r| r.statement == r.statement.trim()));
    let unjudged = sample_for_verification(&statements, &params).unwrap();
    assert_eq!(
        unjudged.iter().map(|r| &r.id).collect::<Vec<_>>(),
        rows.iter().map(|r| &r.id).collect::<Vec<_>>(),
        "the sample depends on ids, not on the judgment"
    );
}
