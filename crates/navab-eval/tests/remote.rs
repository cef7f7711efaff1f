//! `RemoteScorer` against `navab-server` on 127.0.0.1:0 with a fake scoring backend: the
//! log-likelihoods equal those computed from the backend directly, and a resumable evaluation
//! through a failing server loses nothing.
#![cfg(feature = "remote")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use navab_eval::{Error, LogLikelihood, RemoteScorer, RemoteScorerConfig, ScoreRequest, Scorer};
use navab_server::testing::FakePromptScorer;
use navab_server::{Backends, Prompt, PromptScorer, ScoreOptions, Server, ServerConfig};

const MODEL: &str = "fake";

struct Running {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn start(scorer: Arc<dyn PromptScorer>, token: Option<&str>) -> Running {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut config = ServerConfig::new(MODEL)
        .with_addr("127.0.0.1:0".parse().unwrap())
        .with_concurrency(2, 16);
    config.bearer_token = token.map(str::to_string);
    let backends = Backends {
        chat: None,
        scorer: Some(scorer),
        ..Backends::new()
    };
    let server = runtime.block_on(Server::bind(&config, backends)).unwrap();
    let addr = server.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        runtime
            .block_on(server.run_until(async {
                let _ = stopped.await;
            }))
            .unwrap();
    });
    Running {
        addr,
        stop: Some(stop),
        thread: Some(thread),
    }
}

/// What the backend says, split by bytes at the context's end, independently of the client's
/// character arithmetic.
fn direct(scorer: &FakePromptScorer, request: &ScoreRequest) -> LogLikelihood {
    let text = format!("{}{}", request.context, request.continuation);
    let scored = scorer
        .score_prompt(Prompt::Text(&text), &ScoreOptions::default())
        .unwrap();
    let mut ll = LogLikelihood {
        context_logprob: 0.0,
        context_tokens: 0,
        continuation_logprob: 0.0,
        continuation_tokens: 0,
    };
    for (k, logprob) in scored.token_logprobs.iter().enumerate() {
        let Some(logprob) = logprob else { continue };
        let end = scored.text_offset.get(k + 1).copied().unwrap_or(text.len());
        if end > request.context.len() {
            ll.continuation_logprob += f64::from(*logprob);
            ll.continuation_tokens += 1;
        } else {
            ll.context_logprob += f64::from(*logprob);
            ll.context_tokens += 1;
        }
    }
    ll
}

fn requests() -> Vec<ScoreRequest> {
    let mut requests = vec![
        ScoreRequest::new("My answer is", " A"),
        ScoreRequest::new("香港是", "一個國際城市。"),
        ScoreRequest::new("The value abc", "def ghi"), // " abcdef" straddles the boundary
        ScoreRequest::new("Statement: 自由 matters.\nAnswer:", " 同意"),
    ];
    for i in 0..21 {
        requests.push(ScoreRequest::new(
            format!("Question {i}: is it right? My answer is"),
            if i % 2 == 0 { " yes" } else { " no, it is not" },
        ));
    }
    requests
}

fn assert_close(remote: &[LogLikelihood], scorer: &FakePromptScorer, requests: &[ScoreRequest]) {
    assert_eq!(remote.len(), requests.len());
    for (request, got) in requests.iter().zip(remote) {
        let want = direct(scorer, request);
        assert_eq!(
            (got.context_tokens, got.continuation_tokens),
            (want.context_tokens, want.continuation_tokens),
            "{request:?}"
        );
        // f32 values cross the wire as their shortest decimals: equal to ~1e-7 per token.
        assert!(
            (got.context_logprob - want.context_logprob).abs() < 1e-5,
            "{request:?}"
        );
        assert!(
            (got.continuation_logprob - want.continuation_logprob).abs() < 1e-5,
            "{request:?}"
        );
    }
}

#[test]
fn remote_scores_equal_the_backends_in_both_echo_modes() {
    let scorer = Arc::new(FakePromptScorer::new(MODEL));
    let server = start(scorer.clone(), None);
    let requests = requests();
    for generated_tokens in [0, 1] {
        let config = RemoteScorerConfig {
            generated_tokens,
            ..RemoteScorerConfig::new(format!("http://{}/v1", server.addr), MODEL)
                .with_batching(4, 3)
        };
        let remote = RemoteScorer::new(config).unwrap();
        let scores = remote.score(&requests).unwrap();
        assert_close(&scores, &scorer, &requests);
        assert!(remote.name().contains(&server.addr.to_string()));
    }
    // The straddling token counts with the continuation; the context keeps " value".
    let straddle = direct(&scorer, &requests[2]);
    assert_eq!(
        (straddle.context_tokens, straddle.continuation_tokens),
        (1, 2)
    );
}

#[test]
fn bearer_token_is_sent_and_a_wrong_one_is_reported() {
    let scorer = Arc::new(FakePromptScorer::new(MODEL));
    let server = start(scorer.clone(), Some("s3cret"));
    let url = format!("http://{}/v1", server.addr);
    let request = [ScoreRequest::new("My answer is", " B")];
    let good =
        RemoteScorer::new(RemoteScorerConfig::new(&url, MODEL).with_api_key("s3cret")).unwrap();
    assert_close(&good.score(&request).unwrap(), &scorer, &request);
    let bad = RemoteScorer::new(RemoteScorerConfig::new(&url, MODEL).with_api_key("nope")).unwrap();
    match bad.score(&request) {
        Err(Error::Remote {
            url: at,
            status: Some(401),
            message,
        }) => {
            assert_eq!(at, format!("{url}/completions"));
            assert!(message.contains("bearer"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn server_failures_are_retried_then_reported_with_url_and_status() {
    let scorer = Arc::new(FakePromptScorer::new(MODEL).failing_on("boom"));
    let server = start(scorer.clone(), None);
    let config = RemoteScorerConfig {
        max_retries: 2,
        ..RemoteScorerConfig::new(format!("http://{}/v1", server.addr), MODEL)
    };
    let remote = RemoteScorer::new(config).unwrap();
    let err = remote
        .score(&[ScoreRequest::new("it goes", " boom")])
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&server.addr.to_string()) && text.contains("HTTP 500"),
        "{text}"
    );
    assert_eq!(scorer.calls(), 3, "one try and two retries");
    // A 4xx is not retried.
    let unknown = RemoteScorer::new(RemoteScorerConfig::new(
        format!("http://{}/v1", server.addr),
        "gpt-4",
    ))
    .unwrap();
    let err = unknown.score(&[ScoreRequest::new("a", " b")]).unwrap_err();
    assert!(err.to_string().contains("HTTP 404"), "{err}");
    assert_eq!(scorer.calls(), 3);
}

#[test]
fn an_unreachable_server_is_an_error_naming_the_url() {
    // Bind and drop a listener to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = RemoteScorerConfig {
        max_retries: 0,
        ..RemoteScorerConfig::new(format!("http://127.0.0.1:{port}/v1"), MODEL)
    };
    let err = RemoteScorer::new(config)
        .unwrap()
        .score(&[ScoreRequest::new("a", " b")])
        .unwrap_err();
    match err {
        Error::Remote {
            url, status: None, ..
        } => assert!(url.contains(&port.to_string())),
        other => panic!("{other:?}"),
    }
}

#[test]
fn calling_inside_an_async_runtime_is_an_error_not_a_panic() {
    let remote =
        RemoteScorer::new(RemoteScorerConfig::new("http://127.0.0.1:9/v1", MODEL)).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let result = runtime.block_on(async { remote.score(&[ScoreRequest::new("a", " b")]) });
    assert!(result.unwrap_err().to_string().contains("spawn_blocking"));
    assert!(remote.score(&[ScoreRequest::new("a", "")]).is_err());
}

/// The fake backend behind a switch: while `broken`, prompts holding "poison" fail; a third
/// of the prompts fail the first time they come (a transient error the client retries).
struct Faulty {
    inner: FakePromptScorer,
    broken: std::sync::atomic::AtomicBool,
    seen: std::sync::Mutex<std::collections::HashSet<String>>,
    scored: std::sync::Mutex<Vec<String>>,
}

impl PromptScorer for Faulty {
    fn model_id(&self) -> &str {
        self.inner.model_id()
    }

    fn score_prompt(
        &self,
        prompt: Prompt<'_>,
        options: &ScoreOptions,
    ) -> navab_eval::Result<navab_eval::PromptLogprobs> {
        use std::sync::atomic::Ordering::SeqCst;
        let Prompt::Text(text) = prompt else {
            return self.inner.score_prompt(prompt, options);
        };
        let first_time = self.seen.lock().unwrap().insert(text.to_string());
        if first_time && navab_core::hash::fnv1a(text.as_bytes()).is_multiple_of(3) {
            return Err(Error::Scorer("transient".into()));
        }
        if self.broken.load(SeqCst) && text.contains("poison") {
            return Err(Error::Scorer("poisoned".into()));
        }
        self.scored.lock().unwrap().push(text.to_string());
        self.inner.score_prompt(prompt, options)
    }
}

fn report_bytes(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        // The journal's lines come in the order items finished; the reports must not.
        .filter(|p| !p.ends_with("progress.jsonl"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn a_resumable_evaluation_through_a_failing_server_loses_nothing() {
    use navab_core::PreferenceItem;
    use navab_eval::{evaluate_resumable, write_reports, EvalOptions, Method};
    use std::sync::atomic::Ordering::SeqCst;

    let items: Vec<PreferenceItem> = (0..12)
        .map(|i| PreferenceItem {
            id: format!("q{i}"),
            prompt: format!("Question {i}: should the city act?"),
            chosen: if i % 5 == 0 {
                format!("It should, poison {i}.")
            } else {
                format!("It should {i}.")
            },
            rejected: format!("It should not {i}."),
            metadata: [("nation".to_string(), ["China", "US"][i % 2].to_string())].into(),
        })
        .collect();
    let methods = Method::parse_list("paper,ab-swap").unwrap();
    let faulty = Arc::new(Faulty {
        inner: FakePromptScorer::new(MODEL),
        broken: true.into(),
        seen: Default::default(),
        scored: Default::default(),
    });
    let server = start(faulty.clone(), None);
    let config = RemoteScorerConfig {
        max_retries: 2,
        ..RemoteScorerConfig::new(format!("http://{}/v1", server.addr), MODEL).with_batching(2, 2)
    };
    let remote = RemoteScorer::new(config).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (out, clean) = (tmp.path().join("run"), tmp.path().join("clean"));
    // One item a call, so that a poisoned item's failure is its own.
    let options = EvalOptions {
        items_per_call: 1,
        ..EvalOptions::default()
    };
    let journal = out.join("progress.jsonl");
    std::fs::create_dir_all(&out).unwrap();
    let evaluate = |journal: &std::path::Path| {
        evaluate_resumable(&remote, &items, &methods, &options, journal, &mut |_, _| {}).unwrap()
    };

    // Broken: the poisoned items fail (recorded, not scored), every transient error was retried.
    let run = evaluate(&journal);
    let failed: Vec<&str> = run.failures.iter().map(|f| f.item_id.as_str()).collect();
    assert_eq!(failed, ["q0", "q5", "q10"]);
    assert_eq!(run.records.len(), 9 * methods.len());

    // Healthy again: the rerun sends exactly the failed items' prompts.
    faulty.broken.store(false, SeqCst);
    faulty.scored.lock().unwrap().clear();
    let run = evaluate(&journal);
    assert!(run.failures.is_empty(), "{:?}", run.failures);
    assert_eq!(run.records.len(), 12 * methods.len());
    let rescored = faulty.scored.lock().unwrap().clone();
    assert!(!rescored.is_empty());
    for text in &rescored {
        assert!(
            ["Question 0:", "Question 5:", "Question 10:"]
                .iter()
                .any(|q| text.contains(q)),
            "{text}"
        );
    }
    write_reports(&out, &run, &[], 1).unwrap();

    // The same reports as a run that never met a fault.
    std::fs::create_dir_all(&clean).unwrap();
    let fresh = evaluate(&clean.join("progress.jsonl"));
    write_reports(&clean, &fresh, &[], 1).unwrap();
    assert_eq!(report_bytes(&out), report_bytes(&clean));
}
