//! The pipeline end to end on 100 real BBC articles (20 per category) with the real
//! all-MiniLM-L6-v2, its LLM steps going over real HTTP (async-openai client, response cache)
//! to the embedded server (`navab-server`) on loopback. The server's chat backend is a
//! rule-based model that answers every step the way a capable LLM would, so the graph, triples
//! and files are exercised on real text quickly and deterministically (SmolLM2-135M, the
//! embedded default, is too weak to yield triples reliably and takes minutes: that run is the
//! `pipeline` example). Checked: a crash mid-run, a resume that repeats no answered call, a
//! rerun that computes nothing, and a dataset that navab-eval reads and scores.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use navab::embed::{CachedEmbedder, EmbedOptions, SentenceEmbedder};
use navab::eval::{evaluate, EvalOptions, LocalScorer, Method};
use navab::llm::cache::CachedChatModel;
use navab::llm::openai::{OpenAiChatModel, OpenAiConfig};
use navab::llm::{BoxFuture, ChatModel, ChatRequest, ChatResponse};
use navab::lm::{LanguageModel, LoadOptions};
use navab::pipeline::testing::RuleBasedChatModel;
use navab::pipeline::{read_json, run_pipeline, Executor, Manifest, PipelineConfig};
use navab::server::{Backends, ServerConfig};

fn models() -> PathBuf {
    navab::core::testing::models_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
}

/// The client side of a crash: the process dies when it is about to make call `after + 1`.
struct CrashAfter<M> {
    inner: M,
    after: usize,
    made: AtomicUsize,
}

impl<M: ChatModel> ChatModel for CrashAfter<M> {
    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, navab::llm::Result<ChatResponse>> {
        let n = self.made.fetch_add(1, Ordering::SeqCst);
        if n >= self.after {
            panic!("simulated crash before call {}", n + 1);
        }
        self.inner.chat(request)
    }

    fn model_id(&self) -> Option<&str> {
        self.inner.model_id()
    }
}

/// Drives the pipeline's async stages on the client's tokio runtime.
#[derive(Clone)]
struct TokioExecutor(tokio::runtime::Handle);

impl Executor for TokioExecutor {
    fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.0.block_on(future)
    }
}

/// The embedded server, and the model behind it (which counts the calls that reached it).
struct Running {
    url: String,
    model: Arc<RuleBasedChatModel>,
    _server: common::Running,
}

fn start_server() -> Running {
    let model = Arc::new(RuleBasedChatModel::new());
    let backends = Backends::new().with_chat(model.clone());
    let config = ServerConfig::new("rule-based").with_addr("127.0.0.1:0".parse().unwrap());
    let server = common::serve(&config, backends);
    Running {
        url: server.url.clone(),
        model,
        _server: server,
    }
}

/// 20 articles per BBC category, plus two lines the reader must skip.
fn write_corpus(bbc: &Path, path: &Path) {
    let text = std::fs::read_to_string(bbc).unwrap();
    let mut counts = std::collections::HashMap::new();
    let mut lines = vec![
        "{not json".to_string(),
        r#"{"id": "empty", "text": "  "}"#.to_string(),
    ];
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let c = counts
            .entry(v["category"].as_str().unwrap().to_string())
            .or_insert(0);
        if *c < 20 {
            *c += 1;
            lines.push(line.to_string());
        }
    }
    std::fs::write(path, lines.join("\n")).unwrap();
}

#[test]
fn bbc_to_dataset_with_a_crash_a_resume_and_an_evaluation() {
    let bbc = navab::core::real_data!("bbc-news.jsonl");
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("bbc100.jsonl");
    write_corpus(&bbc, &corpus);
    let embedder = SentenceEmbedder::load(
        models().join("all-MiniLM-L6-v2"),
        EmbedOptions {
            char_limit: Some(3000),
            max_seq_length: Some(128),
            ..Default::default()
        },
    )
    .expect("run scripts/fetch-models.sh");
    let embedder = CachedEmbedder::open(embedder, tmp.path().join("embeddings.cache")).unwrap();
    let config = |out: &Path| {
        let mut c = PipelineConfig::new(&corpus, out);
        c.label_field = Some("category".into());
        c.topics.hdbscan.min_cluster_size = 8;
        // Small corpus: leaf clusters (eom merges the five categories into two here).
        c.topics.hdbscan.cluster_selection = navab::topics::hdbscan::ClusterSelection::Leaf;
        c.instag.min_frequency = 2;
        c.max_extraction_docs = Some(30);
        // One call at a time, so the crash happens after exactly the calls it says.
        c.concurrency = 1;
        c
    };
    let run_dir = tmp.path().join("run");
    let cache_dir = run_dir.join("llm-cache");
    let server = start_server();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let exec = TokioExecutor(runtime.handle().clone());
    let client = || {
        let _guard = runtime.enter();
        OpenAiChatModel::new(OpenAiConfig::new(&server.url, "rule-based")).unwrap()
    };
    let at_server = || server.model.calls();

    // 1. A crash in the middle of the LLM stages, after 25 answered calls.
    let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let llm = CachedChatModel::open(
            CrashAfter {
                inner: client(),
                after: 25,
                made: AtomicUsize::new(0),
            },
            &cache_dir,
        )
        .unwrap();
        run_pipeline(&config(&run_dir), &llm, &embedder, &exec, &mut |_, _, _| {})
    }));
    assert!(crashed.is_err(), "the simulated crash must stop the run");
    assert_eq!(at_server(), 25);
    let manifest: Manifest = read_json(&run_dir.join("manifest.json")).unwrap();
    for stage in ["corpus", "embed:en", "topics"] {
        assert!(
            manifest.stages.contains_key(stage),
            "{stage} finished before the crash"
        );
    }

    // 2. Resume: finished stages are read back; answered calls come from the cache.
    let llm = CachedChatModel::open(client(), &cache_dir).unwrap();
    let report =
        run_pipeline(&config(&run_dir), &llm, &embedder, &exec, &mut |_, _, _| {}).unwrap();
    let resumed_calls = at_server() - 25;
    for stage in &report.stages[..3] {
        assert!(stage.resumed, "{} should be resumed", stage.stage);
    }
    assert_eq!(report.documents, 100);
    assert_eq!(report.skipped_lines, 2);
    assert!(report.topics >= 3, "{}", report.markdown());
    let (ari, nmi) = (report.ari.unwrap(), report.nmi.unwrap());
    assert!(ari > 0.3 && nmi > 0.4, "ARI {ari}, NMI {nmi}");
    assert!(report.triples > 0, "{}", report.markdown());

    // The same run from scratch (no cache) makes exactly the calls the crash and the resume
    // made together.
    let before = at_server();
    let fresh_report = run_pipeline(
        &config(&tmp.path().join("fresh")),
        &client(),
        &embedder,
        &exec,
        &mut |_, _, _| {},
    )
    .unwrap();
    let total = at_server() - before;
    assert_eq!(
        resumed_calls + 25,
        total,
        "the resume repeated answered calls"
    );
    assert_eq!(fresh_report.per_nation, report.per_nation);

    // 3. A rerun computes nothing and calls nobody.
    let before = at_server();
    let llm = CachedChatModel::open(client(), &cache_dir).unwrap();
    let again = run_pipeline(&config(&run_dir), &llm, &embedder, &exec, &mut |_, _, _| {}).unwrap();
    assert!(again
        .stages
        .iter()
        .filter(|s| s.stage != "dataset")
        .all(|s| s.resumed));
    assert_eq!(at_server(), before);
    assert_eq!(again.per_nation, report.per_nation);

    // 4. The dataset reads back and navab-eval scores it.
    let loaded = navab::core::read_navab_dir(
        run_dir.join("dataset"),
        &navab::core::ReadOptions::default(),
    )
    .unwrap();
    assert_eq!(loaded.items.len(), report.triples);
    for file in [
        "dpo/navab_dpo_train.json",
        "dpo/trl_test.jsonl",
        "dpo/dataset_info.json",
        "verification.csv",
        "report.md",
    ] {
        assert!(run_dir.join(file).is_file(), "{file} missing");
    }
    let model = LanguageModel::load(
        models().join("smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"),
        &LoadOptions::cpu(),
    )
    .unwrap();
    let items: Vec<_> = loaded
        .items
        .iter()
        .take(6)
        .map(|t| t.to_preference())
        .collect();
    let method: Method = "paper".parse().unwrap();
    let run = evaluate(
        &LocalScorer::new(model, 4),
        &items,
        &[method],
        &EvalOptions::default(),
        &mut |_, _| {},
    );
    assert!(run.failures.is_empty(), "{:?}", run.failures);
    assert_eq!(run.records.len(), items.len());
}
