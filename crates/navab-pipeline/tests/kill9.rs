//! `kill -9` at random points of a run that produces a non-empty dataset: the run is resumed
//! after each kill, and the finished dataset is byte-identical to an uninterrupted run's.
//!
//! The child runs are this test binary itself, started with `NAVAB_KILL9_OUT` set, running
//! only [`child_run`]; the parent kills each with SIGKILL after a delay drawn from a seed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use navab_llm::cache::CachedChatModel;
use navab_llm::{BoxFuture, ChatModel, ChatRequest, ChatResponse};
use navab_pipeline::testing::{synthetic_corpus, HashEmbedder, RuleBasedChatModel};
use navab_pipeline::{read_json, run_pipeline, Manifest, PipelineConfig, StdExecutor};

const OUT_VAR: &str = "NAVAB_KILL9_OUT";
const CORPUS_VAR: &str = "NAVAB_KILL9_CORPUS";

/// The rule-based model, a millisecond per call, so that a kill lands inside the LLM stages.
struct Slow(RuleBasedChatModel);

impl ChatModel for Slow {
    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, navab_llm::Result<ChatResponse>> {
        std::thread::sleep(Duration::from_millis(1));
        self.0.chat(request)
    }
    fn model_id(&self) -> Option<&str> {
        self.0.model_id()
    }
}

fn config(corpus: &Path, out: &Path) -> PipelineConfig {
    let mut c = PipelineConfig::new(corpus, out);
    c.topics.hdbscan.min_cluster_size = 5;
    c.instag.min_frequency = 2;
    c.concurrency = 4;
    c
}

/// One run into `out`, with the response cache a resume needs.
fn run_into(corpus: &Path, out: &Path) {
    let llm =
        CachedChatModel::open(Slow(RuleBasedChatModel::new()), out.join("llm-cache")).unwrap();
    let report = run_pipeline(
        &config(corpus, out),
        &llm,
        &HashEmbedder::new(32),
        &StdExecutor,
        &mut |_, _, _| {},
    )
    .unwrap();
    assert_eq!(report.failed_calls, 0);
}

/// The child's side: does nothing unless the parent started this binary for it.
#[test]
fn child_run() {
    if let (Ok(out), Ok(corpus)) = (std::env::var(OUT_VAR), std::env::var(CORPUS_VAR)) {
        run_into(Path::new(&corpus), Path::new(&out));
    }
}

fn dataset_bytes(out: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![out.join("dataset"), out.join("dpo")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push((
                    path.strip_prefix(out).unwrap().to_path_buf(),
                    std::fs::read(&path).unwrap(),
                ));
            }
        }
    }
    files.push((
        "verification.csv".into(),
        std::fs::read(out.join("verification.csv")).unwrap(),
    ));
    files.sort();
    files
}

#[test]
fn kill_nine_at_random_points_then_resume_gives_identical_dataset_files() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("news.jsonl");
    std::fs::write(&corpus, synthetic_corpus(80)).unwrap();

    let reference = tmp.path().join("reference");
    let started = Instant::now();
    run_into(&corpus, &reference);
    let full = started.elapsed();
    let expected = dataset_bytes(&reference);
    assert!(expected.len() > 2, "the reference run wrote no dataset");

    // Each trial: a fresh run killed twice at random points, then resumed to the end.
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next_delay = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        full.mul_f64(0.05 + 0.9 * (seed % 1000) as f64 / 1000.0)
    };
    let (trials, kills_per_trial) = (4, 2);
    let mut killed = 0;
    for trial in 0..trials {
        let out = tmp.path().join(format!("killed-{trial}"));
        for _ in 0..kills_per_trial {
            let mut child = Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "child_run", "--test-threads=1"])
                .env(OUT_VAR, &out)
                .env(CORPUS_VAR, &corpus)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(next_delay());
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap(); // SIGKILL
                killed += 1;
            }
            child.wait().unwrap();
        }
        run_into(&corpus, &out);
        let manifest: Manifest = read_json(&out.join("manifest.json")).unwrap();
        assert!(manifest.stages.values().all(|r| r.complete()));
        assert_eq!(dataset_bytes(&out), expected, "trial {trial}");
    }
    eprintln!(
        "kill -9: {killed} of {} runs killed mid-way (a run takes {full:?}); every resume \
         gave identical dataset files",
        trials * kills_per_trial
    );
    assert!(killed >= trials, "only {killed} runs were killed mid-way");
}
