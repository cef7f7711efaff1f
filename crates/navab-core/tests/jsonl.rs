//! JSONL of triples and preference JSONL (MVPBench-style, LLaMA-Factory DPO): mapping, malformed
//! lines in strict and lenient mode, and writer round trips.

use std::fs;
use std::path::{Path, PathBuf};

use navab_core::{
    read_preferences_jsonl, read_triples_jsonl, write_preferences_jsonl, write_triples_jsonl,
    Error, Loaded, Nation, PreferenceFields, PreferenceItem, ReadOptions, StatementSet, Triple,
};

fn write_lines(dir: &Path, name: &str, lines: &[&str]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, lines.join("\n")).unwrap();
    path
}

fn triples() -> Vec<Triple> {
    vec![
        Triple {
            id: "UK/quoted/00000".into(),
            nation: Nation::UnitedKingdom,
            set: StatementSet::Quoted,
            question: "Should the voting age be lowered to 16?".into(),
            statement: "The minister said it should.".into(),
            reverse_statement: "The minister said it should not.".into(),
            source: Some("the minister".into()),
            raw_news: Some("Line one.\nLine two, \"quoted\".".into()),
        },
        Triple {
            id: "Kenya/official/00003".into(),
            nation: Nation::Other("Kenya".into()),
            set: StatementSet::Official,
            question: "公務員的退休金應該保證嗎？".into(),
            statement: " Kept as written. ".into(),
            reverse_statement: "Reverse.".into(),
            source: None,
            raw_news: None,
        },
    ]
}

fn preferences(path: &Path, options: &ReadOptions) -> navab_core::Result<Loaded<PreferenceItem>> {
    read_preferences_jsonl(path, options, &PreferenceFields::default())
}

#[test]
fn triples_round_trip_and_the_writer_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("a.jsonl");
    let second = dir.path().join("nested/b.jsonl");
    write_triples_jsonl(&first, &triples()).unwrap();
    write_triples_jsonl(&second, &triples()).unwrap();
    let bytes = fs::read(&first).unwrap();
    assert_eq!(bytes, fs::read(&second).unwrap());
    let text = String::from_utf8(bytes).unwrap();
    assert_eq!(text.lines().count(), 2);
    assert!(text.ends_with('\n'));
    assert!(
        text.starts_with(r#"{"id":"UK/quoted/00000","nation":"UK","set":"quoted","question":"#),
        "{text}"
    );
    assert!(text.contains("公務員"), "UTF-8 is written unescaped");
    let back = read_triples_jsonl(&first, &ReadOptions::strict()).unwrap();
    assert!(back.skipped.is_empty());
    assert_eq!(back.items, triples());

    // Rewriting over the file replaces it and leaves no temporary file.
    write_triples_jsonl(&first, &triples()[..1]).unwrap();
    assert_eq!(
        read_triples_jsonl(&first, &ReadOptions::strict())
            .unwrap()
            .items,
        triples()[..1]
    );
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn malformed_triple_lines_in_the_middle() {
    let dir = tempfile::tempdir().unwrap();
    let good: Vec<String> = triples()
        .iter()
        .map(|t| serde_json::to_string(t).unwrap())
        .collect();
    let missing_question = good[0].replace(r#""question""#, r#""questio""#);
    let path = write_lines(
        dir.path(),
        "triples.jsonl",
        &[
            &good[0],
            "",
            r#"{"id": "x", "nation": "UK", "set": "quoted", "question": "#,
            "   ",
            &missing_question,
            "[1, 2]",
            &good[1],
            "",
        ],
    );

    let err = read_triples_jsonl(&path, &ReadOptions::strict()).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Record {
                index: 1,
                line: Some(3),
                field: None,
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "{}: record 1 (line 3): not valid JSON: ",
            path.display()
        )),
        "{text}"
    );
    assert!(text.contains("column"), "{text}");

    let loaded = read_triples_jsonl(&path, &ReadOptions::lenient()).unwrap();
    assert_eq!(loaded.items, triples());
    let skipped: Vec<_> = loaded
        .skipped
        .iter()
        .map(|s| (s.index, s.line, s.field.as_deref()))
        .collect();
    assert_eq!(
        skipped,
        [
            (1, Some(3), None),
            (2, Some(5), Some("question")),
            (3, Some(6), None)
        ]
    );
    assert_eq!(
        loaded.skipped[1].to_string(),
        format!(
            "{}: record 2 (line 5): field \"question\": missing",
            path.display()
        )
    );
    assert_eq!(
        loaded.skipped[2].reason,
        "expected an object, found an array"
    );
}

#[test]
fn a_line_that_is_not_utf8_is_a_bad_record_not_a_failed_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("prefs.jsonl");
    let mut bytes =
        b"\xEF\xBB\xBF{\"prompt\": \"p\", \"chosen\": \"c\", \"rejected\": \"r\"}\r\n".to_vec();
    bytes.extend(b"{\"prompt\": \"\xFF\"}\r\n");
    bytes.extend(b"{\"prompt\": \"p2\", \"chosen\": \"c\", \"rejected\": \"r\"}");
    fs::write(&path, bytes).unwrap();
    let loaded = preferences(&path, &ReadOptions::lenient()).unwrap();
    let prompts: Vec<_> = loaded.items.iter().map(|i| i.prompt.as_str()).collect();
    assert_eq!(prompts, ["p", "p2"], "BOM and CRLF are tolerated");
    assert_eq!(loaded.skipped.len(), 1);
    assert_eq!(loaded.skipped[0].line, Some(2));
    assert!(loaded.skipped[0].reason.starts_with("not valid UTF-8"));
}

#[test]
fn mvpbench_lines_map_prompt_responses_id_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_lines(
        dir.path(),
        "mvpbench.jsonl",
        &[
            r#"{"id": 7, "question": "Q1", "chosen": "good", "rejected": "bad", "country": "Kenya", "age": "25-34", "gender": "female"}"#,
            r#"{"id": "q-2", "prompt": "Q2", "answer": "a", "rejected_answer": "b", "score": 3, "verified": false, "tags": ["x"], "metadata": {"country": "Brazil", "education": "tertiary"}}"#,
            r#"{"prompt": "Q3", "preferred": "p", "dispreferred": "d", "id": 3.5}"#,
            "",
            r#"{"question": "Q4", "response_chosen": "rc", "response_rejected": "rr"}"#,
        ],
    );
    let items = preferences(&path, &ReadOptions::strict()).unwrap().items;
    let core: Vec<_> = items
        .iter()
        .map(|i| {
            (
                i.id.as_str(),
                i.prompt.as_str(),
                i.chosen.as_str(),
                i.rejected.as_str(),
            )
        })
        .collect();
    assert_eq!(
        core,
        [
            ("7", "Q1", "good", "bad"),
            ("q-2", "Q2", "a", "b"),
            ("3.5", "Q3", "p", "d"),
            ("line-5", "Q4", "rc", "rr"),
        ]
    );
    let metadata = |i: usize| -> Vec<String> {
        items[i]
            .metadata
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    };
    assert_eq!(metadata(0), ["age=25-34", "country=Kenya", "gender=female"]);
    assert_eq!(
        metadata(1),
        [
            "country=Brazil",
            "education=tertiary",
            "score=3",
            "verified=false"
        ]
    );
    assert!(items[2].metadata.is_empty());

    let only_country = PreferenceFields::default().with_metadata_keys(["country"]);
    let restricted = read_preferences_jsonl(&path, &ReadOptions::strict(), &only_country)
        .unwrap()
        .items;
    assert_eq!(
        restricted[0].metadata.keys().collect::<Vec<_>>(),
        ["country"]
    );
    assert_eq!(restricted[1].metadata["country"], "Brazil");

    // Custom field names.
    let custom = PreferenceFields {
        prompt: vec!["q".into()],
        chosen: vec!["good".into()],
        rejected: vec!["bad".into()],
        id: "uid".into(),
        ..PreferenceFields::default()
    };
    let path = write_lines(
        dir.path(),
        "custom.jsonl",
        &[r#"{"uid": "u1", "q": "Q", "good": "g", "bad": "b", "id": 9}"#],
    );
    let item = &read_preferences_jsonl(&path, &ReadOptions::strict(), &custom)
        .unwrap()
        .items[0];
    assert_eq!(
        (item.id.as_str(), item.prompt.as_str(), item.chosen.as_str()),
        ("u1", "Q", "g")
    );
    assert_eq!(
        item.metadata["id"], "9",
        "an unmapped `id` is just metadata"
    );
}

#[test]
fn llama_factory_dpo_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_lines(
        dir.path(),
        "dpo.jsonl",
        &[
            r#"{"instruction": "Translate to English.", "input": "bonjour", "chosen": "hello", "rejected": "goodbye"}"#,
            r#"{"instruction": "Say hi.", "input": "", "chosen": "hi", "rejected": "no", "system": "Be brief.", "history": []}"#,
            r#"{"instruction": "Say hi.", "chosen": "hi", "rejected": "no"}"#,
        ],
    );
    let items = preferences(&path, &ReadOptions::strict()).unwrap().items;
    assert_eq!(items[0].prompt, "Translate to English.\nbonjour");
    assert_eq!(items[0].id, "line-1");
    assert!(items[0].metadata.is_empty(), "{:?}", items[0].metadata);
    assert_eq!(items[1].prompt, "Say hi.");
    assert_eq!(items[1].metadata.keys().collect::<Vec<_>>(), ["system"]);
    assert_eq!(items[2].prompt, "Say hi.");
    assert_eq!(
        (items[2].chosen.as_str(), items[2].rejected.as_str()),
        ("hi", "no")
    );
}

#[test]
fn a_line_without_a_chosen_response_is_a_bad_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_lines(
        dir.path(),
        "prefs.jsonl",
        &[
            r#"{"prompt": "Q1", "chosen": "c", "rejected": "r"}"#,
            r#"{"prompt": "Q2", "rejected": "r", "country": "Chile"}"#,
            r#"{"prompt": "Q3", "chosen": "  ", "rejected": "r"}"#,
            r#"{"chosen": "c", "rejected": "r"}"#,
            r#"{"prompt": "Q5", "chosen": "c", "rejected": "#,
            r#"{"prompt": "Q6", "chosen": "c", "rejected": "r"}"#,
        ],
    );
    let err = preferences(&path, &ReadOptions::strict()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: record 1 (line 2): field \"chosen\": missing (looked for chosen, answer, \
             preferred, response_chosen)",
            path.display()
        )
    );

    let loaded = preferences(&path, &ReadOptions::lenient()).unwrap();
    let prompts: Vec<_> = loaded.items.iter().map(|i| i.prompt.as_str()).collect();
    assert_eq!(prompts, ["Q1", "Q6"]);
    let skipped: Vec<_> = loaded
        .skipped
        .iter()
        .map(|s| (s.line, s.field.as_deref()))
        .collect();
    assert_eq!(
        skipped,
        [
            (Some(2), Some("chosen")),
            (Some(3), Some("chosen")),
            (Some(4), Some("prompt")),
            (Some(5), None),
        ]
    );
    assert_eq!(loaded.skipped[1].reason, "empty");
}

#[test]
fn preference_items_round_trip_and_the_writer_is_deterministic() {
    let items: Vec<PreferenceItem> = triples().iter().map(Triple::to_preference).collect();
    let mut with_more = items.clone();
    with_more[0].metadata.insert("age".into(), "25-34".into());
    with_more[1].metadata.clear();

    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("a.jsonl");
    let second = dir.path().join("b.jsonl");
    write_preferences_jsonl(&first, &with_more).unwrap();
    write_preferences_jsonl(&second, &with_more).unwrap();
    assert_eq!(fs::read(&first).unwrap(), fs::read(&second).unwrap());
    let text = fs::read_to_string(&first).unwrap();
    assert!(
        text.starts_with(r#"{"id":"UK/quoted/00000","prompt":"#),
        "{text}"
    );
    assert!(text.contains(r#""metadata":{"age":"25-34","nation":"UK","set":"Quoted"}"#));
    let back = preferences(&first, &ReadOptions::strict()).unwrap();
    assert_eq!(back.items, with_more);

    // An empty list writes an empty file, which reads as no items.
    write_preferences_jsonl(&first, &[]).unwrap();
    assert_eq!(fs::read(&first).unwrap(), b"");
    assert!(preferences(&first, &ReadOptions::strict())
        .unwrap()
        .items
        .is_empty());
}

#[test]
fn a_missing_jsonl_file_is_an_io_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.jsonl");
    for err in [
        read_triples_jsonl(&path, &ReadOptions::lenient()).unwrap_err(),
        preferences(&path, &ReadOptions::lenient()).unwrap_err(),
    ] {
        assert!(
            matches!(&err, Error::Io { path: p, .. } if p == &path),
            "{err:?}"
        );
    }
}

#[test]
fn the_format_guess_reads_the_first_records_fields_and_names_them_when_it_cannot_tell() {
    use navab_core::{resolve_format, DataFormat};
    let dir = tempfile::tempdir().unwrap();
    let guess = |lines: &[&str]| {
        resolve_format(&write_lines(dir.path(), "x.jsonl", lines), DataFormat::Auto)
    };
    // A triples file without `nation` is still triples: the reader then names the missing field.
    let triple = r#"{"question": "Q?", "statement": "S.", "reverse_statement": "R."}"#;
    assert_eq!(
        guess(&["", "not json", triple]).unwrap(),
        DataFormat::Triples
    );
    let pref = r#"{"question": "Q?", "chosen": "a", "rejected": "b"}"#;
    assert_eq!(guess(&[pref]).unwrap(), DataFormat::Preferences);
    let err = guess(&[r#"{"prompt": "Q?", "answer": "a"}"#]).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Format { .. }), "{text}");
    assert!(
        text.contains("prompt, answer") || text.contains("answer, prompt"),
        "{text}"
    );
    // An explicit format is taken as given.
    let path = write_lines(dir.path(), "y.jsonl", &[pref]);
    assert_eq!(
        resolve_format(&path, DataFormat::Triples).unwrap(),
        DataFormat::Triples
    );
}
