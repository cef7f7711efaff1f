//! The OpenAI-compatible backend against a real HTTP server on loopback (no mock of the
//! client): a round trip, the API key, permanent failures, and the response cache.

mod support;

use std::time::Duration;

use navab_llm::cache::CachedChatModel;
use navab_llm::openai::{OpenAiChatModel, OpenAiConfig};
use navab_llm::stage::run_stage;
use navab_llm::{ChatMessage, ChatModel, ChatRequest, Error, FinishReason, Sampling, StepOutcome};
use support::server::{echo, FakeServer};
use support::EchoItem;

fn fast_config(base_url: String) -> OpenAiConfig {
    let mut config = OpenAiConfig::new(base_url, "fake/echo-1");
    config.timeout = Duration::from_secs(5);
    config.max_retries = 2;
    config.backoff_base = Duration::from_millis(1);
    config.backoff_max = Duration::from_millis(5);
    config.max_concurrency = 16;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_round_trip_sends_every_field_and_reads_the_reply() {
    let server = FakeServer::start().await;
    let model = OpenAiChatModel::new(fast_config(server.base_url())).unwrap();
    let request = ChatRequest::new(vec![
        ChatMessage::system("Be brief."),
        ChatMessage::user("Is this a policy?"),
        ChatMessage::assistant("Maybe."),
        ChatMessage::user("Say it again"),
    ])
    .with_sampling(Sampling {
        temperature: Some(0.6),
        top_p: Some(0.8),
        max_tokens: Some(64),
        seed: Some(42),
    })
    .with_stop("##");

    let reply = model.chat(&request).await.unwrap();
    assert_eq!(reply.content, echo("Say it again"));
    assert_eq!(reply.finish_reason, Some(FinishReason::Stop));
    let usage = reply.usage.unwrap();
    // Words of the four messages; words of the reply.
    assert_eq!(
        (usage.prompt_tokens, usage.completion_tokens),
        (2 + 4 + 1 + 3, 4)
    );

    let sent = server.last_body().unwrap();
    assert_eq!(sent["model"], "fake/echo-1");
    assert_eq!(sent["messages"].as_array().unwrap().len(), 4);
    assert_eq!(sent["messages"][2]["role"], "assistant");
    assert_eq!(sent["messages"][2]["content"], "Maybe.");
    assert!((sent["temperature"].as_f64().unwrap() - 0.6).abs() < 1e-6);
    assert!((sent["top_p"].as_f64().unwrap() - 0.8).abs() < 1e-6);
    assert_eq!(sent["max_tokens"], 64);
    assert_eq!(sent["seed"], 42);
    assert_eq!(sent["stop"], "##");

    let stats = model.stats();
    assert_eq!(
        (stats.calls, stats.requests, stats.retries, stats.failures),
        (1, 1, 0, 0)
    );
    assert_eq!((stats.prompt_tokens, stats.completion_tokens), (10, 4));
    // The endpoint is part of the id: another server's "fake/echo-1" is another model.
    assert_eq!(
        model.model_id(),
        Some(format!("fake/echo-1 @ {}", server.base_url()).as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_key_is_sent_but_never_shown() {
    let key = "sk-navab-test-7f3a9c1e5b";
    let server = FakeServer::start_with_key(Some(key)).await;
    std::env::set_var("NAVAB_TEST_GOOD_KEY", key);
    let good = OpenAiChatModel::new(
        fast_config(server.base_url()).with_api_key_env("NAVAB_TEST_GOOD_KEY"),
    )
    .unwrap();
    let request = ChatRequest::new(vec![ChatMessage::user("hello")]);
    assert_eq!(good.chat(&request).await.unwrap().content, echo("hello"));
    assert!(!format!("{good:?}").contains(key));
    assert!(format!("{good:?}").contains("NAVAB_TEST_GOOD_KEY"));

    // A wrong key: the server's 401 body echoes the Authorization header it got.
    let wrong_key = "sk-navab-wrong-0c4d2e8f";
    std::env::set_var("NAVAB_TEST_WRONG_KEY", wrong_key);
    let wrong = OpenAiChatModel::new(
        fast_config(server.base_url()).with_api_key_env("NAVAB_TEST_WRONG_KEY"),
    )
    .unwrap();
    let error = wrong.chat(&request).await.unwrap_err();
    let shown = format!("{error} {error:?} {wrong:?}");
    assert!(!shown.contains(wrong_key), "{shown}");
    assert!(shown.contains("Bearer [redacted]"), "{shown}");
    match error {
        Error::Http {
            url,
            status,
            attempts,
            ..
        } => {
            assert_eq!(url, format!("{}/chat/completions", server.base_url()));
            assert_eq!(status, Some(401));
            assert_eq!(attempts, 1, "a 401 is not retried");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(wrong.stats().failures, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_and_unreachable_failures_are_clear() {
    let server = FakeServer::start().await;
    // A wrong path: 404, not retried.
    let model = OpenAiChatModel::new(fast_config(format!("http://{}/nope", server.addr))).unwrap();
    let request = ChatRequest::new(vec![ChatMessage::user("hi")]);
    match model.chat(&request).await.unwrap_err() {
        Error::Http {
            status: Some(404),
            attempts: 1,
            url,
            ..
        } => assert!(url.ends_with("/nope/chat/completions")),
        other => panic!("{other:?}"),
    }

    // Nothing listens there: retried, then a connection error naming the URL.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let model = OpenAiChatModel::new(fast_config(format!("http://{closed}/v1"))).unwrap();
    let error = model.chat(&request).await.unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains(&closed.to_string()) && text.contains("connect"),
        "{text}"
    );
    assert!(
        matches!(
            error,
            Error::Http {
                status: None,
                attempts: 3,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(model.stats().retries, 2);

    // A request no server should get: rejected before any I/O.
    let empty = ChatRequest::new(vec![]);
    assert!(matches!(
        model.chat(&empty).await,
        Err(Error::InvalidRequest(_))
    ));
    assert_eq!(model.stats().requests, 3);
    assert_eq!(model.stats().failures, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readiness_check_names_a_wrong_key_model_or_endpoint_at_once() {
    let key = "sk-navab-ready-91c2";
    let server = FakeServer::start_with_key(Some(key)).await;
    std::env::set_var("NAVAB_TEST_READY_KEY", key);
    std::env::set_var("NAVAB_TEST_READY_WRONG", "sk-wrong");
    let config = || fast_config(server.base_url());
    let good = OpenAiChatModel::new(config().with_api_key_env("NAVAB_TEST_READY_KEY")).unwrap();
    good.check_ready().await.unwrap();
    // Through the cache too: a pipeline sees the cached model.
    let dir = tempfile::tempdir().unwrap();
    let cached = CachedChatModel::open(good, dir.path()).unwrap();
    cached.check_ready().await.unwrap();

    let wrong = OpenAiChatModel::new(config().with_api_key_env("NAVAB_TEST_READY_WRONG")).unwrap();
    let error = wrong.check_ready().await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::Http {
                status: Some(401),
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.stops_run());
    assert!(!error.to_string().contains("sk-wrong"));

    let mut other = config().with_api_key_env("NAVAB_TEST_READY_KEY");
    other.model = "llama-70b".into();
    let error = OpenAiChatModel::new(other)
        .unwrap()
        .check_ready()
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("llama-70b") && text.contains("fake/echo-1"),
        "{text}"
    );

    // Nothing listens: one attempt, no backoff, a message that says so.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let down = OpenAiChatModel::new(fast_config(format!("http://{closed}/v1"))).unwrap();
    let started = std::time::Instant::now();
    let error = down.check_ready().await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(error.stops_run(), "{error:?}");
    assert!(error.to_string().contains("could not connect"), "{error}");
    // And a call that outlived its retries against it stops a run too.
    let call = ChatRequest::new(vec![ChatMessage::user("hi")]);
    assert!(down.chat(&call).await.unwrap_err().stops_run());
    // A 5xx or a parse failure does not.
    assert!(!Error::Http {
        url: "u".into(),
        status: Some(503),
        attempts: 7,
        message: "busy".into()
    }
    .stops_run());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_rerun_sends_nothing_to_the_server() {
    let server = FakeServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let items = EchoItem::batch(300);

    let first = {
        let model = CachedChatModel::open(
            OpenAiChatModel::new(fast_config(server.base_url())).unwrap(),
            dir.path(),
        )
        .unwrap();
        let run = run_stage(&model, &items, 32, |_| {}).await;
        assert_eq!(run.summary.ok, 300);
        assert_eq!((model.stats().misses, model.stats().stores), (300, 300));
        assert_eq!(model.inner().stats().requests, 300);
        run
    };
    assert_eq!(server.answered(), 300);

    // A new process would do just this: open the folder, run the stage again.
    let model = CachedChatModel::open(
        OpenAiChatModel::new(fast_config(server.base_url())).unwrap(),
        dir.path(),
    )
    .unwrap();
    assert_eq!(model.cache().open_report().entries, 300);
    assert!(model.cache().open_report().skipped.is_empty());
    let second = run_stage(&model, &items, 32, |_| {}).await;
    assert_eq!(server.answered(), 300, "no request reached the server");
    assert_eq!(model.inner().stats().requests, 0);
    assert_eq!((model.stats().hits, model.stats().misses), (300, 0));
    for (i, (a, b)) in first.outcomes.iter().zip(&second.outcomes).enumerate() {
        assert_eq!(a.value(), Some(&i));
        assert_eq!(a.raw(), b.raw());
    }

    // Other sampling is another request: it reaches the server.
    let hot = ChatRequest::new(vec![ChatMessage::user("item 0")]).with_sampling(Sampling::GREEDY);
    model.chat(&hot).await.unwrap();
    assert_eq!(server.answered(), 301);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_after_failures_repeats_only_the_failed_calls() {
    let server = FakeServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let items = EchoItem::batch(50);
    {
        // The first run dies halfway: only the first 20 items are asked.
        let model = CachedChatModel::open(
            OpenAiChatModel::new(fast_config(server.base_url())).unwrap(),
            dir.path(),
        )
        .unwrap();
        let run = run_stage(&model, &items[..20], 8, |_| {}).await;
        assert_eq!(run.summary.ok, 20);
    }
    let model = CachedChatModel::open(
        OpenAiChatModel::new(fast_config(server.base_url())).unwrap(),
        dir.path(),
    )
    .unwrap();
    let mut last_progress = None;
    let run = run_stage(&model, &items, 8, |p| last_progress = Some(*p)).await;
    assert_eq!(server.answered(), 50, "20 + the 30 not done before");
    assert_eq!((model.stats().hits, model.stats().misses), (20, 30));
    assert!(run
        .outcomes
        .iter()
        .enumerate()
        .all(|(i, o)| o.value() == Some(&i)));
    let progress = last_progress.unwrap();
    assert_eq!((progress.done, progress.total, progress.ok), (50, 50, 50));
    assert!(matches!(run.outcomes[0], StepOutcome::Ok { .. }));
}

#[test]
fn a_stage_over_the_cached_client_is_a_send_future() {
    // So that a caller can `tokio::spawn` a whole stage; checked at compile time.
    fn assert_send<T: Send>(_: &T) {}
    let dir = tempfile::tempdir().unwrap();
    let model = CachedChatModel::open(
        OpenAiChatModel::new(fast_config("http://127.0.0.1:9/v1".into())).unwrap(),
        dir.path(),
    )
    .unwrap();
    let items = EchoItem::batch(2);
    let stage = run_stage(&model, &items, 2, |_| {});
    assert_send(&stage);
    let request = ChatRequest::new(vec![ChatMessage::user("x")]);
    assert_send(&model.chat(&request));
}
