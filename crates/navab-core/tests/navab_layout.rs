//! The published NaVAB layout on hand-made datasets: folder discovery, ordering, malformed files
//! and records in strict and lenient mode, and the writer's checks.

use std::fs;
use std::path::Path;

use navab_core::{
    read_navab_dir, read_navab_file, read_navab_nation_dir, write_navab_dir, Error, Nation,
    ReadOptions, StatementSet, Triple,
};
use serde_json::{json, Value};

fn record(question: &str) -> Value {
    json!({
        "raw_news": "  news  ",
        "statement": " S. ",
        "filter_flag": "## yes",
        "full_source": "## unknown",
        "source": " unknown",
        "generated Q": question,
        "generated reverse statement": " RS. ",
        "generated raw data": "..."
    })
}

fn write_json(path: &Path, value: &Value) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, serde_json::to_string_pretty(value).unwrap()).unwrap();
}

fn triple(nation: Nation, set: StatementSet, index: usize, question: &str) -> Triple {
    Triple {
        id: Triple::navab_id(&nation, set, index),
        nation,
        set,
        question: question.into(),
        statement: "S.".into(),
        reverse_statement: "RS.".into(),
        source: Some("Jane Doe".into()),
        raw_news: Some("news".into()),
    }
}

/// A dataset whose UK official file holds good and bad records, beside a good US file.
fn dataset_with_bad_records() -> tempfile::TempDir {
    let dataset = tempfile::tempdir().unwrap();
    let mut missing_question = record("unused");
    missing_question
        .as_object_mut()
        .unwrap()
        .remove("generated Q");
    write_json(
        &dataset.path().join("UK/official_statement_result.json"),
        &json!([
            record("Q0?"),
            missing_question,
            record("   "),
            "not an object",
            record(" Q4? "),
        ]),
    );
    write_json(
        &dataset.path().join("US/human_statement_result.json"),
        &json!([record("US Q0?")]),
    );
    dataset
}

#[test]
fn strict_mode_stops_at_the_first_bad_record_naming_file_record_and_field() {
    let dataset = dataset_with_bad_records();
    let err = read_navab_dir(dataset.path(), &ReadOptions::strict()).unwrap_err();
    let file = dataset.path().join("UK/official_statement_result.json");
    match &err {
        Error::Record {
            path,
            index,
            line,
            field,
            reason,
        } => {
            assert_eq!(path, &file);
            assert_eq!((*index, *line), (1, None));
            assert_eq!(field.as_deref(), Some("generated Q"));
            assert_eq!(reason, "missing");
        }
        other => panic!("expected a record error, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!(
            "{}: record 1: field \"generated Q\": missing",
            file.display()
        )
    );
}

#[test]
fn lenient_mode_skips_exactly_the_bad_records_and_reports_them() {
    let dataset = dataset_with_bad_records();
    let loaded = read_navab_dir(dataset.path(), &ReadOptions::lenient()).unwrap();
    let kept: Vec<_> = loaded
        .items
        .iter()
        .map(|t| (t.id.as_str(), t.question.as_str()))
        .collect();
    // Ids keep the record's position in its file, so they do not shift when records are skipped.
    assert_eq!(
        kept,
        [
            ("UK/official/00000", "Q0?"),
            ("UK/official/00004", "Q4?"),
            ("US/quoted/00000", "US Q0?"),
        ]
    );
    let skipped: Vec<_> = loaded
        .skipped
        .iter()
        .map(|s| (s.index, s.line, s.field.as_deref(), s.reason.as_str()))
        .collect();
    assert_eq!(
        skipped,
        [
            (1, None, Some("generated Q"), "missing"),
            (2, None, Some("generated Q"), "empty"),
            (3, None, None, "expected an object, found a string"),
        ]
    );
    let file = dataset.path().join("UK/official_statement_result.json");
    assert!(loaded.skipped.iter().all(|s| s.path == file));
    assert_eq!(
        loaded.skipped[1].to_string(),
        format!("{}: record 2: field \"generated Q\": empty", file.display())
    );
}

#[test]
fn each_kind_of_bad_record_names_its_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("official_statement_result.json");
    let with = |field: &str, value: Value| {
        let mut r = record("Q?");
        r[field] = value;
        r
    };
    let without = |field: &str| {
        let mut r = record("Q?");
        r.as_object_mut().unwrap().remove(field);
        r
    };
    for (bad, field, reason) in [
        (without("statement"), Some("statement"), "missing"),
        (
            without("generated reverse statement"),
            Some("generated reverse statement"),
            "missing",
        ),
        (
            with("generated Q", Value::Null),
            Some("generated Q"),
            "missing",
        ),
        (
            with("statement", json!("\n\t ")),
            Some("statement"),
            "empty",
        ),
        (
            with("generated Q", json!(42)),
            Some("generated Q"),
            "expected a string, found a number",
        ),
        (
            with("source", json!(["a"])),
            Some("source"),
            "expected a string, found an array",
        ),
        (json!([1, 2]), None, "expected an object, found an array"),
        (Value::Null, None, "expected an object, found null"),
    ] {
        write_json(&file, &json!([record("Q?"), bad]));
        let err = read_navab_file(
            &file,
            Nation::China,
            StatementSet::Official,
            &ReadOptions::strict(),
        )
        .unwrap_err();
        let expected = match field {
            Some(field) => format!("{}: record 1: field \"{field}\": {reason}", file.display()),
            None => format!("{}: record 1: {reason}", file.display()),
        };
        assert_eq!(err.to_string(), expected);
    }
}

#[test]
fn text_is_trimmed_and_unknown_sources_become_none() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("human_statement_result.json");
    let mut named = record(" Q? ");
    named["source"] = json!("  Jane Doe ");
    let mut empty_source = record("Q?");
    empty_source["source"] = json!("   ");
    empty_source["raw_news"] = json!("");
    let mut no_optional = record("Q?");
    no_optional.as_object_mut().unwrap().remove("source");
    no_optional.as_object_mut().unwrap().remove("raw_news");
    let mut shouted = record("Q?");
    shouted["source"] = json!("UNKNOWN");
    write_json(
        &file,
        &json!([named, empty_source, no_optional, shouted, record("Q?")]),
    );
    let items = read_navab_file(
        &file,
        Nation::UnitedKingdom,
        StatementSet::Quoted,
        &ReadOptions::strict(),
    )
    .unwrap()
    .items;
    let first = &items[0];
    assert_eq!(
        (
            first.question.as_str(),
            first.statement.as_str(),
            first.reverse_statement.as_str()
        ),
        ("Q?", "S.", "RS.")
    );
    assert_eq!(first.source.as_deref(), Some("Jane Doe"));
    assert_eq!(first.raw_news.as_deref(), Some("news"));
    let sources: Vec<_> = items.iter().map(|t| t.source.as_deref()).collect();
    assert_eq!(sources, [Some("Jane Doe"), None, None, None, None]);
    assert_eq!(items[1].raw_news, None);
    assert_eq!(items[2].raw_news, None);
}

#[test]
fn a_file_that_is_not_json_is_an_error_in_both_modes() {
    let dataset = tempfile::tempdir().unwrap();
    let file = dataset.path().join("china/official_statement_result.json");
    fs::create_dir_all(file.parent().unwrap()).unwrap();
    fs::write(
        &file,
        "[\n  {\"statement\": \"S\",\n   \"generated Q\": }\n]",
    )
    .unwrap();
    for options in [ReadOptions::strict(), ReadOptions::lenient()] {
        let err = read_navab_dir(dataset.path(), &options).unwrap_err();
        assert!(matches!(err, Error::Json { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.starts_with(&file.display().to_string()) && text.contains("line 3 column"),
            "{text}"
        );
    }
    // Valid JSON of the wrong shape is a file error too.
    fs::write(&file, r#"{"generated Q": "Q?"}"#).unwrap();
    let err = read_navab_dir(dataset.path(), &ReadOptions::lenient()).unwrap_err();
    assert!(matches!(err, Error::Format { .. }), "{err:?}");
    assert!(
        err.to_string()
            .ends_with("expected a JSON array of records, found an object"),
        "{err}"
    );
}

#[test]
fn a_byte_order_mark_is_tolerated() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("official_statement_result.json");
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend(serde_json::to_vec(&json!([record("Q?")])).unwrap());
    fs::write(&file, bytes).unwrap();
    let loaded = read_navab_file(
        &file,
        Nation::China,
        StatementSet::Official,
        &ReadOptions::strict(),
    )
    .unwrap();
    assert_eq!(loaded.items.len(), 1);
}

#[test]
fn nations_come_from_folder_names_in_sorted_order() {
    let dataset = tempfile::tempdir().unwrap();
    let root = dataset.path();
    for (folder, set) in [
        ("german", StatementSet::Official),
        ("german", StatementSet::Quoted),
        ("China", StatementSet::Official),
        ("Kenya", StatementSet::Quoted),
        ("french", StatementSet::Quoted),
        ("UK", StatementSet::Official),
    ] {
        write_json(
            &root.join(folder).join(set.file_name()),
            &json!([record(&format!("{folder} {set}?"))]),
        );
    }
    // Neither file: not a nation folder, ignored. Other files in a nation folder are too.
    fs::create_dir_all(root.join("notes")).unwrap();
    fs::write(root.join("notes/README.md"), "notes").unwrap();
    fs::write(
        root.join("China/filtered_statement_result.json"),
        "not json",
    )
    .unwrap();
    fs::write(root.join("README.md"), "a dataset").unwrap();

    let items = read_navab_dir(root, &ReadOptions::strict()).unwrap().items;
    let seen: Vec<_> = items
        .iter()
        .map(|t| (t.nation.clone(), t.set, t.id.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            (
                Nation::China,
                StatementSet::Official,
                "China/official/00000"
            ),
            (
                Nation::Other("Kenya".into()),
                StatementSet::Quoted,
                "Kenya/quoted/00000"
            ),
            (
                Nation::UnitedKingdom,
                StatementSet::Official,
                "UK/official/00000"
            ),
            (Nation::France, StatementSet::Quoted, "french/quoted/00000"),
            (Nation::Germany, StatementSet::Quoted, "german/quoted/00000"),
            (
                Nation::Germany,
                StatementSet::Official,
                "german/official/00000"
            ),
        ]
    );

    // One nation's folder read directly: nation from its own name, or as the caller says.
    let german = read_navab_dir(root.join("german"), &ReadOptions::strict())
        .unwrap()
        .items;
    assert_eq!(german.len(), 2);
    assert!(german.iter().all(|t| t.nation == Nation::Germany));
    let named = read_navab_nation_dir(
        root.join("german"),
        Nation::Other("Austria".into()),
        &ReadOptions::strict(),
    )
    .unwrap()
    .items;
    assert_eq!(named[0].id, "Austria/quoted/00000");
    assert_eq!(named[1].nation, Nation::Other("Austria".into()));
}

#[test]
fn directories_without_the_layout_are_clear_errors() {
    let dataset = tempfile::tempdir().unwrap();
    let root = dataset.path();
    let layout_error = |path: &Path| match read_navab_dir(path, &ReadOptions::strict()) {
        Err(err @ Error::Layout { .. }) => err.to_string(),
        other => panic!(
            "expected a layout error for {}, got {other:?}",
            path.display()
        ),
    };

    let missing = layout_error(&root.join("absent"));
    assert!(missing.contains("absent: no such directory"), "{missing}");
    assert!(missing.contains("human_statement_result.json"), "{missing}");

    fs::create_dir_all(root.join("empty/China")).unwrap();
    let empty = layout_error(&root.join("empty"));
    assert!(empty.contains("no statement files found"), "{empty}");
    assert!(empty.contains("official_statement_result.json"), "{empty}");

    let file = root.join("official_statement_result.json");
    write_json(&file, &json!([]));
    assert!(layout_error(&file).contains("is a file"));

    let nation_dir = read_navab_nation_dir(
        root.join("empty/China"),
        Nation::China,
        &ReadOptions::strict(),
    );
    assert!(
        matches!(nation_dir, Err(Error::Layout { .. })),
        "{nation_dir:?}"
    );

    let missing_file = read_navab_file(
        root.join("nope.json"),
        Nation::China,
        StatementSet::Quoted,
        &ReadOptions::lenient(),
    )
    .unwrap_err();
    assert!(matches!(missing_file, Error::Io { .. }), "{missing_file:?}");
    assert!(missing_file.to_string().contains("nope.json"));
}

#[test]
fn two_folders_naming_one_nation_are_refused() {
    let dataset = tempfile::tempdir().unwrap();
    for folder in ["US", "usa"] {
        write_json(
            &dataset
                .path()
                .join(folder)
                .join("human_statement_result.json"),
            &json!([record("Q?")]),
        );
    }
    let err = read_navab_dir(dataset.path(), &ReadOptions::strict()).unwrap_err();
    assert!(matches!(err, Error::Layout { .. }), "{err:?}");
    assert!(err.to_string().contains("`US` and `usa`"), "{err}");
}

#[test]
fn written_datasets_read_back_equal() {
    let triples = vec![
        triple(
            Nation::Other("Kenya".into()),
            StatementSet::Official,
            0,
            "K0?",
        ),
        triple(Nation::UnitedKingdom, StatementSet::Quoted, 0, "U0?"),
        triple(Nation::UnitedKingdom, StatementSet::Quoted, 1, "U1?"),
        Triple {
            source: None,
            raw_news: None,
            ..triple(
                Nation::UnitedKingdom,
                StatementSet::Official,
                0,
                "Ü0 — «引号»?",
            )
        },
    ];
    let dataset = tempfile::tempdir().unwrap();
    write_navab_dir(dataset.path(), &triples).unwrap();
    let back = read_navab_dir(dataset.path(), &ReadOptions::strict()).unwrap();
    // Kenya sorts before UK.
    assert_eq!(back.items, triples);

    let raw: Value = serde_json::from_str(
        &fs::read_to_string(dataset.path().join("UK/official_statement_result.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(raw[0]["source"], "unknown");
    assert_eq!(raw[0]["raw_news"], "");

    // An empty input writes nothing, which reads as "no dataset here".
    let empty = tempfile::tempdir().unwrap();
    write_navab_dir(empty.path(), &[]).unwrap();
    assert_eq!(fs::read_dir(empty.path()).unwrap().count(), 0);
}

#[test]
fn the_writer_refuses_folder_names_that_leave_the_dataset() {
    let dataset = tempfile::tempdir().unwrap();
    let root = dataset.path().join("out");
    for name in ["../escape", "a/b", "..", ""] {
        let triples = [
            triple(Nation::China, StatementSet::Quoted, 0, "Q?"),
            triple(Nation::Other(name.into()), StatementSet::Quoted, 0, "Q?"),
        ];
        let err = write_navab_dir(&root, &triples).unwrap_err();
        assert!(matches!(err, Error::Layout { .. }), "{name:?}: {err:?}");
        assert!(!root.exists(), "nothing is written when a name is refused");
    }
    assert_eq!(fs::read_dir(dataset.path()).unwrap().count(), 0);
}
