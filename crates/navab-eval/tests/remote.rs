//! `RemoteScorer` against `navab-server` on 127.0.0.1:0 with a fake scoring backend: the
//! log-likelihoods equal those computed from the backend directly.
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

fn start(scorer: Arc<FakePromptScorer>, token: Option<&str>) -> Running {
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
