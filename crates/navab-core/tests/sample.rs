//! The readers and writers on the real NaVAB sample (`shared/data/navab-hk-sample`: one nation's
//! two files, 35 quoted and 40 official records, not inside a nation folder). Expected values are
//! computed from the JSON itself, read independently with `serde_json::Value`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use navab_core::{
    read_navab_dir, read_navab_file, read_navab_nation_dir, read_preferences_jsonl,
    read_triples_jsonl, write_navab_dir, write_preferences_jsonl, write_triples_jsonl, Nation,
    PreferenceFields, PreferenceItem, ReadOptions, StatementSet, Triple,
};
use serde_json::Value;

/// The real sample (`NAVAB_DATA_DIR`, see `navab_core::testing`); each test skips without it.
fn sample_dir() -> PathBuf {
    let dir = navab_core::testing::data_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .join("navab-hk-sample");
    assert!(
        dir.join("official_statement_result.json").is_file()
            && dir.join("human_statement_result.json").is_file(),
        "the NaVAB sample is missing: expected {}/{{official,human}}_statement_result.json \
         (set NAVAB_DATA_DIR)",
        dir.display()
    );
    dir
}

fn raw_records(set: StatementSet) -> Vec<Value> {
    let text = fs::read_to_string(sample_dir().join(set.file_name())).unwrap();
    match serde_json::from_str(&text).unwrap() {
        Value::Array(records) => records,
        other => panic!("{} is not an array: {other}", set.file_name()),
    }
}

fn raw_text<'a>(record: &'a Value, field: &str) -> &'a str {
    record[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} is not a string"))
        .trim()
}

/// Checks triples against the raw records of their file, field by field.
fn assert_match_raw(triples: &[&Triple], set: StatementSet, folder: &str) {
    let raw = raw_records(set);
    assert_eq!(triples.len(), raw.len(), "{set}");
    for (index, (triple, record)) in triples.iter().zip(&raw).enumerate() {
        let context = format!("{set} record {index}");
        assert_eq!(triple.set, set, "{context}");
        assert_eq!(
            triple.id,
            format!("{folder}/{}/{index:05}", set.slug()),
            "{context}"
        );
        assert_eq!(
            triple.question,
            raw_text(record, "generated Q"),
            "{context}"
        );
        assert_eq!(triple.statement, raw_text(record, "statement"), "{context}");
        assert_eq!(
            triple.reverse_statement,
            raw_text(record, "generated reverse statement"),
            "{context}"
        );
        let source = raw_text(record, "source");
        let expected_source =
            (!source.is_empty() && !source.eq_ignore_ascii_case("unknown")).then_some(source);
        assert_eq!(triple.source.as_deref(), expected_source, "{context}");
        let raw_news = raw_text(record, "raw_news");
        assert_eq!(
            triple.raw_news.as_deref(),
            (!raw_news.is_empty()).then_some(raw_news),
            "{context}"
        );
        for text in [
            &triple.question,
            &triple.statement,
            &triple.reverse_statement,
        ] {
            assert!(
                !text.is_empty() && text.trim() == text.as_str(),
                "{context}"
            );
        }
    }
}

fn of_set(triples: &[Triple], set: StatementSet) -> Vec<&Triple> {
    triples.iter().filter(|t| t.set == set).collect()
}

#[test]
fn all_75_sample_records_load_with_the_fields_of_the_json() {
    navab_core::real_data!("navab-hk-sample");
    let loaded = read_navab_dir(sample_dir(), &ReadOptions::strict()).unwrap();
    assert!(loaded.skipped.is_empty());
    assert_eq!(loaded.items.len(), 75);
    // Quoted before official; the folder's own name gives the nation, kept as given.
    let sets: Vec<_> = loaded.items.iter().map(|t| t.set).collect();
    assert!(sets.is_sorted(), "quoted first, then official");
    let nation = Nation::Other("navab-hk-sample".into());
    assert!(loaded.items.iter().all(|t| t.nation == nation));
    let quoted = of_set(&loaded.items, StatementSet::Quoted);
    let official = of_set(&loaded.items, StatementSet::Official);
    assert_eq!((quoted.len(), official.len()), (35, 40));
    assert_match_raw(&quoted, StatementSet::Quoted, "navab-hk-sample");
    assert_match_raw(&official, StatementSet::Official, "navab-hk-sample");
    // The real data's quoted set names speakers; its official set never does.
    assert!(quoted.iter().any(|t| t.source.is_some()));
    assert!(official.iter().all(|t| t.source.is_none()));
    // Lenient mode finds nothing to skip either.
    let lenient = read_navab_dir(sample_dir(), &ReadOptions::lenient()).unwrap();
    assert_eq!(lenient, loaded);
}

#[test]
fn files_and_folders_read_with_a_nation_the_caller_names() {
    navab_core::real_data!("navab-hk-sample");
    for set in StatementSet::ALL {
        let loaded = read_navab_file(
            sample_dir().join(set.file_name()),
            Nation::China,
            set,
            &ReadOptions::strict(),
        )
        .unwrap();
        assert!(loaded.items.iter().all(|t| t.nation == Nation::China));
        let triples: Vec<_> = loaded.items.iter().collect();
        assert_match_raw(&triples, set, "China");
    }
    let folder = read_navab_nation_dir(sample_dir(), Nation::China, &ReadOptions::strict())
        .unwrap()
        .items;
    assert_eq!(folder.len(), 75);
    assert_eq!(folder[0].id, "China/quoted/00000");
    assert_eq!(folder[35].id, "China/official/00000");
}

/// The sample's triples spread over three nations, with the ids the readers give them.
fn sample_over_three_nations() -> Vec<Triple> {
    let sample = read_navab_nation_dir(sample_dir(), Nation::China, &ReadOptions::strict())
        .unwrap()
        .items;
    let nations = [Nation::China, Nation::UnitedStates, Nation::France];
    let mut next_index: BTreeMap<(Nation, StatementSet), usize> = BTreeMap::new();
    sample
        .into_iter()
        .enumerate()
        .map(|(i, mut triple)| {
            triple.nation = nations[i % nations.len()].clone();
            let index = next_index
                .entry((triple.nation.clone(), triple.set))
                .or_default();
            triple.id = Triple::navab_id(&triple.nation, triple.set, *index);
            *index += 1;
            triple
        })
        .collect()
}

fn files_under(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    for folder in fs::read_dir(dir).unwrap() {
        let folder = folder.unwrap().path();
        for file in fs::read_dir(&folder).unwrap() {
            let file = file.unwrap().path();
            let relative = file.strip_prefix(dir).unwrap().to_path_buf();
            files.insert(relative, fs::read(&file).unwrap());
        }
    }
    files
}

#[test]
fn the_sample_round_trips_through_the_published_layout() {
    navab_core::real_data!("navab-hk-sample");
    let triples = sample_over_three_nations();
    let dataset = tempfile::tempdir().unwrap();
    write_navab_dir(dataset.path(), &triples).unwrap();

    let files = files_under(dataset.path());
    let names: Vec<_> = files
        .keys()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "China/human_statement_result.json",
            "China/official_statement_result.json",
            "US/human_statement_result.json",
            "US/official_statement_result.json",
            "french/human_statement_result.json",
            "french/official_statement_result.json",
        ]
    );

    // Read back: sorted by folder name, quoted before official, then file order.
    let mut expected = triples.clone();
    expected.sort_by(|a, b| {
        (a.nation.dataset_folder(), a.set).cmp(&(b.nation.dataset_folder(), b.set))
    });
    let back = read_navab_dir(dataset.path(), &ReadOptions::strict()).unwrap();
    assert!(back.skipped.is_empty());
    assert_eq!(back.items, expected);

    // What Python's json.load sees: the published field names, 4-space indent, UTF-8 unescaped.
    let text = String::from_utf8(files[Path::new("french/official_statement_result.json")].clone())
        .unwrap();
    assert!(
        text.starts_with("[\n    {\n        \"raw_news\": \""),
        "{text:.60}"
    );
    assert!(!text.contains("\\u"), "non-ASCII text is written as UTF-8");
    let records: Vec<Value> = serde_json::from_str(&text).unwrap();
    let french_official: Vec<_> = triples
        .iter()
        .filter(|t| t.nation == Nation::France && t.set == StatementSet::Official)
        .collect();
    assert_eq!(records.len(), french_official.len());
    for (record, triple) in records.iter().zip(french_official) {
        assert_eq!(record["generated Q"], triple.question.as_str());
        assert_eq!(record["statement"], triple.statement.as_str());
        assert_eq!(
            record["generated reverse statement"],
            triple.reverse_statement.as_str()
        );
        assert_eq!(
            record["source"],
            triple.source.as_deref().unwrap_or("unknown")
        );
        assert_eq!(
            record["generated raw data"],
            format!(
                "Q: {} ## S: {} ## RS: {}",
                triple.question, triple.statement, triple.reverse_statement
            )
        );
    }

    // Byte-identical across runs, and over an existing dataset.
    let again = tempfile::tempdir().unwrap();
    write_navab_dir(again.path(), &triples).unwrap();
    assert_eq!(files_under(again.path()), files);
    write_navab_dir(dataset.path(), &triples).unwrap();
    assert_eq!(
        files_under(dataset.path()),
        files,
        "no temporary files left"
    );
}

#[test]
fn the_sample_round_trips_through_jsonl() {
    navab_core::real_data!("navab-hk-sample");
    let triples = sample_over_three_nations();
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.jsonl");
    let second = dir.path().join("second.jsonl");
    write_triples_jsonl(&first, &triples).unwrap();
    write_triples_jsonl(&second, &triples).unwrap();
    assert_eq!(fs::read(&first).unwrap(), fs::read(&second).unwrap());
    assert_eq!(
        fs::read_to_string(&first).unwrap().lines().count(),
        triples.len()
    );
    let back = read_triples_jsonl(&first, &ReadOptions::strict()).unwrap();
    assert!(back.skipped.is_empty());
    assert_eq!(back.items, triples);

    let items: Vec<PreferenceItem> = triples.iter().map(Triple::to_preference).collect();
    let prefs = dir.path().join("prefs.jsonl");
    write_preferences_jsonl(&prefs, &items).unwrap();
    let back = read_preferences_jsonl(&prefs, &ReadOptions::strict(), &PreferenceFields::default())
        .unwrap();
    assert_eq!(back.items, items);
}
