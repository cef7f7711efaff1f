//! Resume and failure handling of the whole pipeline on a synthetic corpus, a bag-of-words
//! embedder and a rule-based chat model (each run takes a fraction of a second): failed calls
//! leave a stage incomplete and the rerun sends exactly them, refused credentials stop the run,
//! and every input that changes results recomputes its stage and those after it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use navab_llm::cache::CachedChatModel;
use navab_llm::{BoxFuture, ChatModel, ChatRequest, ChatResponse};
use navab_pipeline::testing::{synthetic_corpus, HashEmbedder, RuleBasedChatModel};
use navab_pipeline::{
    read_json, run_pipeline, Error, Manifest, PipelineConfig, RunReport, StdExecutor,
};

fn config(corpus: &Path, out: &Path) -> PipelineConfig {
    let mut c = PipelineConfig::new(corpus, out);
    c.topics.hdbscan.min_cluster_size = 5;
    c.instag.min_frequency = 2;
    c.concurrency = 4;
    c
}

fn write_corpus(dir: &Path, n: usize) -> PathBuf {
    let path = dir.join("news.jsonl");
    std::fs::write(&path, synthetic_corpus(n)).unwrap();
    path
}

fn run(
    config: &PipelineConfig,
    llm: &dyn ChatModel,
    embedder: &HashEmbedder,
) -> navab_pipeline::Result<RunReport> {
    run_pipeline(config, llm, embedder, &StdExecutor, &mut |_, _, _| {})
}

/// What a test model does with call `n` (0-based) and its request.
type Rule = Box<dyn Fn(usize, &ChatRequest) -> Option<navab_llm::Error> + Send + Sync>;

/// The rule-based model behind a rule that may fail calls; records what reached it.
struct Faulty {
    id: String,
    rule: Rule,
    calls: AtomicUsize,
    sent: Mutex<Vec<String>>,
    answered: Mutex<HashSet<String>>,
}

impl Faulty {
    fn new(id: &str, rule: Rule) -> Self {
        Faulty {
            id: id.into(),
            rule,
            calls: AtomicUsize::new(0),
            sent: Mutex::new(Vec::new()),
            answered: Mutex::new(HashSet::new()),
        }
    }
    fn healthy(id: &str) -> Self {
        Self::new(id, Box::new(|_, _| None))
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl ChatModel for Faulty {
    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, navab_llm::Result<ChatResponse>> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let key = request.canonical_json();
        self.sent.lock().unwrap().push(key.clone());
        let outcome = match (self.rule)(n, request) {
            Some(e) => Err(e),
            None => {
                self.answered.lock().unwrap().insert(key);
                Ok(ChatResponse::new(RuleBasedChatModel::reply(request)))
            }
        };
        Box::pin(async move { outcome })
    }
    fn model_id(&self) -> Option<&str> {
        Some(&self.id)
    }
}

fn server_error() -> navab_llm::Error {
    navab_llm::Error::Http {
        url: "http://127.0.0.1:9/v1/chat/completions".into(),
        status: Some(503),
        attempts: 7,
        message: "server said: overloaded".into(),
    }
}

fn dataset_bytes(out: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![out.join("dataset"), out.join("dpo")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let name = path.strip_prefix(out).unwrap().display().to_string();
                files.push((name, std::fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn failed_calls_leave_the_stage_incomplete_and_the_rerun_sends_exactly_them() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = write_corpus(tmp.path(), 60);
    let embedder = HashEmbedder::new(32);

    // The reference: one clean run.
    let clean_out = tmp.path().join("clean");
    let clean = run(
        &config(&corpus, &clean_out),
        &RuleBasedChatModel::new(),
        &embedder,
    )
    .unwrap();
    assert_eq!(clean.failed_calls, 0);
    assert!(clean.triples > 0, "{}", clean.markdown());

    // Every third call fails with a 5xx (after the client's retries).
    let out = tmp.path().join("run");
    let cache = out.join("llm-cache");
    let flaky = Faulty::new("m", Box::new(|n, _| (n % 3 == 1).then(server_error)));
    let first = {
        let llm = CachedChatModel::open(&flaky, &cache).unwrap();
        run(&config(&corpus, &out), &llm, &embedder).unwrap()
    };
    assert!(first.failed_calls > 0);
    assert!(
        first.markdown().contains("Incomplete"),
        "{}",
        first.markdown()
    );
    let manifest: Manifest = read_json(&out.join("manifest.json")).unwrap();
    let incomplete: Vec<&String> = manifest
        .stages
        .iter()
        .filter(|(_, r)| !r.complete())
        .map(|(name, _)| name)
        .collect();
    assert!(!incomplete.is_empty());
    let failed_in_manifest: usize = manifest.stages.values().map(|r| r.failed_calls).sum();
    assert_eq!(failed_in_manifest, first.failed_calls);

    // The rerun: no stage with failed calls is reused, no answered call is sent again, and
    // the result is the clean run's, byte for byte.
    let healthy = Faulty::healthy("m");
    let second = {
        let llm = CachedChatModel::open(&healthy, &cache).unwrap();
        run(&config(&corpus, &out), &llm, &embedder).unwrap()
    };
    assert_eq!(second.failed_calls, 0, "{}", second.markdown());
    for stage in &second.stages {
        if incomplete.contains(&&stage.stage) {
            assert!(!stage.resumed, "{} was incomplete", stage.stage);
        }
    }
    let answered_before = flaky.answered.lock().unwrap().clone();
    let repeated = healthy
        .sent
        .lock()
        .unwrap()
        .iter()
        .filter(|k| answered_before.contains(*k))
        .count();
    assert_eq!(repeated, 0, "answered calls sent again");
    assert!(healthy.calls() > 0);
    assert_eq!(second.per_nation, clean.per_nation);
    assert_eq!(dataset_bytes(&out), dataset_bytes(&clean_out));

    // And a third run reuses everything and calls nobody.
    let idle = Faulty::healthy("m");
    let third = {
        let llm = CachedChatModel::open(&idle, &cache).unwrap();
        run(&config(&corpus, &out), &llm, &embedder).unwrap()
    };
    assert_eq!(idle.calls(), 0);
    assert!(third.stages.iter().all(|s| s.resumed));
}

#[test]
fn refused_credentials_stop_the_run_and_keep_what_was_computed() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = write_corpus(tmp.path(), 60);
    let embedder = HashEmbedder::new(32);
    let out = tmp.path().join("run");
    let refused = Faulty::new(
        "m",
        Box::new(|_, _| {
            Some(navab_llm::Error::Http {
                url: "http://127.0.0.1:9/v1/chat/completions".into(),
                status: Some(401),
                attempts: 1,
                message: "server said: invalid api key".into(),
            })
        }),
    );
    let error = run(&config(&corpus, &out), &refused, &embedder).unwrap_err();
    // The first stage that calls the model (InsTag, unless HDBSCAN left no outlier).
    let stopped_at = match &error {
        Error::LlmUnavailable { stage, reason } => {
            assert!(reason.contains("401"), "{reason}");
            stage.clone()
        }
        other => panic!("{other:?}"),
    };
    assert!(
        ["instag", "labels"].contains(&stopped_at.as_str()),
        "{stopped_at}"
    );
    // Only the first call reached the model: the rest were not sent.
    assert_eq!(refused.calls(), 1);
    let manifest: Manifest = read_json(&out.join("manifest.json")).unwrap();
    let before: Vec<&str> = ["corpus", "embed:en", "topics", "instag"]
        .into_iter()
        .take_while(|s| *s != stopped_at)
        .collect();
    for stage in &before {
        assert!(manifest.stages[*stage].complete(), "{stage}");
    }
    assert!(!manifest.stages[&stopped_at].complete());
    assert!(manifest.stages[&stopped_at].failed_calls > 0);

    // With a working key the rerun reuses the stages before it and completes.
    let good = Faulty::healthy("m");
    let report = run(&config(&corpus, &out), &good, &embedder).unwrap();
    let resumed: Vec<&str> = report
        .stages
        .iter()
        .filter(|s| s.resumed)
        .map(|s| s.stage.as_str())
        .collect();
    assert_eq!(resumed, before);
    assert_eq!(report.failed_calls, 0);
}

/// A model whose readiness check fails, as an endpoint that refuses the connection does.
struct Unreachable;

impl ChatModel for Unreachable {
    fn chat<'a>(&'a self, _: &'a ChatRequest) -> BoxFuture<'a, navab_llm::Result<ChatResponse>> {
        panic!("no call may be made after a failed readiness check")
    }
    fn check_ready(&self) -> BoxFuture<'_, navab_llm::Result<()>> {
        Box::pin(async {
            Err(navab_llm::Error::Http {
                url: "http://127.0.0.1:9/v1/models".into(),
                status: None,
                attempts: 1,
                message: "could not connect: connection refused".into(),
            })
        })
    }
}

#[test]
fn an_unreachable_endpoint_stops_the_run_before_any_stage() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = write_corpus(tmp.path(), 20);
    let out = tmp.path().join("run");
    let error = run(&config(&corpus, &out), &Unreachable, &HashEmbedder::new(32)).unwrap_err();
    assert!(
        matches!(&error, Error::LlmUnavailable { stage, .. } if stage == "start"),
        "{error:?}"
    );
    assert!(error.to_string().contains("could not connect"), "{error}");
    assert!(!out.join("manifest.json").exists());
}

/// Stage names resumed in `report`.
fn resumed(report: &RunReport) -> Vec<&str> {
    report
        .stages
        .iter()
        .filter(|s| s.resumed)
        .map(|s| s.stage.as_str())
        .collect()
}

#[test]
fn every_input_that_changes_results_recomputes_its_stage_and_those_after() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = write_corpus(tmp.path(), 60);
    let out = tmp.path().join("run");
    let embedder = HashEmbedder::new(32);
    let first = run(
        &config(&corpus, &out),
        &Faulty::healthy("model-a"),
        &embedder,
    )
    .unwrap();
    assert!(first.stages.iter().all(|s| !s.resumed));

    // The same inputs: everything reused, with the timings the manifest recorded.
    let again = run(
        &config(&corpus, &out),
        &Faulty::healthy("model-a"),
        &embedder,
    )
    .unwrap();
    assert_eq!(resumed(&again).len(), again.stages.len());
    let manifest: Manifest = read_json(&out.join("manifest.json")).unwrap();
    for s in &again.stages {
        assert_eq!(s.seconds, manifest.stages[&s.stage].seconds, "{}", s.stage);
    }
    // Equal up to serde_json's float parsing, which may be one unit in the last place off.
    assert_eq!(first.stages.len(), again.stages.len());
    for (a, b) in first.stages.iter().zip(&again.stages) {
        assert!(
            (a.seconds - b.seconds).abs() <= 1e-12 * a.seconds.max(1.0),
            "{}",
            a.stage
        );
    }

    // Another model (another endpoint or name): the LLM stages again, not the numeric ones.
    let other = Faulty::healthy("model-b");
    let report = run(&config(&corpus, &out), &other, &embedder).unwrap();
    assert_eq!(resumed(&report), ["corpus", "embed:en", "topics"]);
    assert!(other.calls() > 0);

    // The local model's own settings, passed by the caller.
    let mut c = config(&corpus, &out);
    c.llm_settings = serde_json::json!({"max_new_tokens": 64});
    let report = run(&c, &other, &embedder).unwrap();
    assert_eq!(resumed(&report), ["corpus", "embed:en", "topics"]);

    // A setting of one stage: that stage and the ones after it.
    c.statement_language = Some("French".into());
    let report = run(&c, &other, &embedder).unwrap();
    assert_eq!(
        resumed(&report),
        [
            "corpus",
            "embed:en",
            "topics",
            "instag",
            "labels",
            "screen-topics"
        ]
    );

    // Another embedder.
    let report = run(&c, &other, &HashEmbedder::new(24)).unwrap();
    assert_eq!(resumed(&report), ["corpus"]);

    // The corpus edited in place (same path, same line count).
    let text = std::fs::read_to_string(&corpus)
        .unwrap()
        .replacen("economy", "economics", 1);
    std::fs::write(&corpus, text).unwrap();
    let report = run(&c, &other, &HashEmbedder::new(24)).unwrap();
    assert!(resumed(&report).is_empty());
}

#[test]
fn a_run_without_triples_still_writes_the_dataset_folder_with_a_note() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = write_corpus(tmp.path(), 40);
    let out = tmp.path().join("run");
    // A model that screens every statement out.
    let strict = Faulty::healthy("strict");
    struct No<'a>(&'a Faulty);
    impl ChatModel for No<'_> {
        fn chat<'a>(
            &'a self,
            r: &'a ChatRequest,
        ) -> BoxFuture<'a, navab_llm::Result<ChatResponse>> {
            if r.messages[0].content.starts_with("You screen") {
                return Box::pin(async { Ok(ChatResponse::new("Not a value. ## no")) });
            }
            self.0.chat(r)
        }
    }
    let report = run(&config(&corpus, &out), &No(&strict), &HashEmbedder::new(32)).unwrap();
    assert_eq!(report.triples, 0);
    let note = std::fs::read_to_string(out.join("dataset/EMPTY.md")).unwrap();
    assert!(note.contains("no triples"), "{note}");
    assert!(!out.join("dpo").exists());
}

#[test]
fn settings_and_paths_are_checked_before_anything_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = write_corpus(tmp.path(), 10);
    let out = tmp.path().join("run");
    let mut bad = config(&corpus, &out);
    bad.limit = Some(0);
    assert!(matches!(bad.check(), Err(Error::Input(m)) if m.contains("limit")));
    let mut bad = config(&corpus, &out);
    bad.concurrency = 0;
    assert!(matches!(bad.check(), Err(Error::Input(m)) if m.contains("concurrency")));
    let bad = config(&tmp.path().join("missing.jsonl"), &out);
    assert!(matches!(bad.check(), Err(Error::Input(m)) if m.contains("missing.jsonl")));
    // --out under a file: not writable.
    let bad = config(&corpus, &corpus.join("run"));
    assert!(matches!(bad.check(), Err(Error::Io { .. })));
    assert!(config(&corpus, &out).check().is_ok());
}

/// The synthetic corpus' texts, one a line of its JSONL.
fn synthetic_texts(n: usize) -> Vec<String> {
    synthetic_corpus(n)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["text"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn a_directory_of_text_files_and_a_csv_file_are_corpora_and_their_edits_are_seen() {
    let tmp = tempfile::tempdir().unwrap();
    let texts = synthetic_texts(60);
    let dir = tmp.path().join("articles");
    std::fs::create_dir(&dir).unwrap();
    for (i, text) in texts.iter().enumerate() {
        std::fs::write(dir.join(format!("{i:03}.txt")), text).unwrap();
    }
    let out = tmp.path().join("run");
    let mut c = config(&dir, &out);
    c.default_nation = "France".into();
    c.default_source = Some("Le Monde".into());
    // English text under a French outlet: the nation's language said explicitly.
    c.languages.by_nation.insert("france".into(), "en".into());
    let (model, embedder) = (Faulty::healthy("model-a"), HashEmbedder::new(32));
    let first = run(&c, &model, &embedder).unwrap();
    assert!(first.triples > 0, "{first:?}");
    let stage: serde_json::Value = read_json(&out.join("stages/01-corpus.json")).unwrap();
    let docs = stage["docs"].as_array().unwrap();
    assert_eq!(docs.len(), 60);
    assert_eq!(docs[7]["id"], "007");
    assert_eq!(docs[7]["nation"], "France");
    assert_eq!(docs[7]["source"], "Le Monde");

    // A file the reader does not read changes nothing; a new article is another corpus.
    std::fs::write(dir.join("notes.md"), "not an article").unwrap();
    let again = run(&c, &model, &embedder).unwrap();
    assert_eq!(resumed(&again).len(), again.stages.len());
    std::fs::write(dir.join("060.txt"), &texts[0]).unwrap();
    assert!(resumed(&run(&c, &model, &embedder).unwrap()).is_empty());

    // The same articles as CSV, with quoted cells holding commas and line breaks.
    let csv = tmp.path().join("news.csv");
    let mut body = String::from("id,text\n");
    for (i, text) in texts.iter().enumerate() {
        body.push_str(&format!(
            "c{i},\"{}, and more.\nSecond line.\"\n",
            text.replace('"', "\"\"")
        ));
    }
    std::fs::write(&csv, body).unwrap();
    let report = run(
        &config(&csv, &tmp.path().join("csv-run")),
        &model,
        &embedder,
    )
    .unwrap();
    assert!(report.triples > 0, "{report:?}");
    let stage: serde_json::Value =
        read_json(&tmp.path().join("csv-run/stages/01-corpus.json")).unwrap();
    assert_eq!(stage["docs"].as_array().unwrap().len(), 60);
    assert!(stage["docs"][0]["text"]
        .as_str()
        .unwrap()
        .ends_with("Second line."));
}
