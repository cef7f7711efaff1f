//! Retries through a fault-injecting proxy on loopback: 429 with `Retry-After`, 500, a hang
//! past the timeout, a truncated body, garbage JSON, a dropped connection; a permanently
//! failing item; and a 1,000-call stage with 30% of requests failing at random.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use navab_llm::cache::CachedChatModel;
use navab_llm::openai::{OpenAiChatModel, OpenAiConfig};
use navab_llm::stage::run_stage;
use navab_llm::{Error, StepOutcome};
use support::proxy::{marker_plan, random_plan, Fault, FaultProxy, Plan};
use support::server::FakeServer;
use support::EchoItem;

fn config(base_url: String, timeout: Duration, max_retries: u32) -> OpenAiConfig {
    let mut config = OpenAiConfig::new(base_url, "fake/echo-1");
    // The same model behind the proxy and directly: one cache.
    config.model_id = Some("fake/echo-1".into());
    config.timeout = timeout;
    config.max_retries = max_retries;
    // Tiny backoff: a wait of a second can then only come from Retry-After.
    config.backoff_base = Duration::from_millis(1);
    config.backoff_max = Duration::from_millis(20);
    config.max_concurrency = 64;
    config
}

fn marked(id: usize, marker: &str) -> EchoItem {
    EchoItem {
        id,
        extra: marker.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_transient_fault_is_retried_once_and_the_item_answered() {
    let server = FakeServer::start().await;
    let proxy = FaultProxy::start(server.addr, marker_plan()).await;
    let model = OpenAiChatModel::new(config(proxy.base_url(), Duration::from_secs(1), 3)).unwrap();

    for (id, fault) in Fault::ALL_FAST.iter().enumerate() {
        let item = marked(id, &format!("fault={}", fault.name()));
        let before = model.stats();
        let started = Instant::now();
        let run = run_stage(&model, std::slice::from_ref(&item), 1, |_| {}).await;
        let elapsed = started.elapsed();
        assert_eq!(
            run.outcomes[0].value(),
            Some(&id),
            "{fault:?}: {:?}",
            run.outcomes[0]
        );
        let after = model.stats();
        assert_eq!(
            after.requests - before.requests,
            2,
            "{fault:?}: one failure, one retry"
        );
        assert_eq!(after.retries - before.retries, 1, "{fault:?}");
        // marker_plan sends `Retry-After: 1` for 429, and the backoff is at most 20 ms: only
        // honouring the header explains a wait of a second.
        if matches!(fault, Fault::TooManyRequests(_)) {
            assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
        }
        if matches!(fault, Fault::Hang) {
            assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
        }
    }
    assert_eq!(model.stats().failures, 0);
    assert_eq!(proxy.faults(), Fault::ALL_FAST.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_retries_each_fault_gives_an_error_that_says_what_happened() {
    let server = FakeServer::start().await;
    let proxy = FaultProxy::start(server.addr, marker_plan()).await;
    let model = OpenAiChatModel::new(config(proxy.base_url(), Duration::from_secs(1), 0)).unwrap();
    let expected = [
        (Fault::TooManyRequests("1"), Some(429), "slow down"),
        (Fault::ServerError, Some(500), "the GPU caught fire"),
        (Fault::Hang, None, "timed out"),
        (Fault::TruncatedBody, None, "broke off"),
        (Fault::GarbageJson, None, "not a chat completion"),
        (Fault::Drop, None, "connection closed"),
        (Fault::Reset, None, "connection"),
    ];
    let expected_len = expected.len() as u64;
    for (id, (fault, want_status, want_text)) in expected.into_iter().enumerate() {
        let item = marked(id, &format!("fault={}", fault.name()));
        let run = run_stage(&model, std::slice::from_ref(&item), 1, |_| {}).await;
        match &run.outcomes[0] {
            StepOutcome::CallFailed {
                error:
                    error @ Error::Http {
                        status,
                        attempts: 1,
                        ..
                    },
            } => {
                let text = error.to_string();
                assert_eq!(*status, want_status, "{fault:?}: {text}");
                assert!(text.contains(want_text), "{fault:?}: {text}");
                assert!(text.contains(&proxy.base_url()), "{fault:?}: {text}");
                eprintln!("{fault:?}: {text}");
            }
            other => panic!("{fault:?}: {other:?}"),
        }
    }
    assert_eq!(model.stats().failures, expected_len);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanently_failing_item_is_recorded_with_a_clear_error() {
    let server = FakeServer::start().await;
    let proxy = FaultProxy::start(server.addr, marker_plan()).await;
    let model = OpenAiChatModel::new(config(proxy.base_url(), Duration::from_secs(2), 4)).unwrap();
    let items = vec![marked(0, ""), marked(1, "poison"), marked(2, "")];
    let run = run_stage(&model, &items, 3, |_| {}).await;
    assert_eq!(run.outcomes[0].value(), Some(&0));
    assert_eq!(run.outcomes[2].value(), Some(&2));
    match &run.outcomes[1] {
        StepOutcome::CallFailed {
            error:
                error @ Error::Http {
                    url,
                    status,
                    attempts,
                    message,
                },
        } => {
            assert_eq!(url, &format!("{}/chat/completions", proxy.base_url()));
            assert_eq!((*status, *attempts), (Some(500), 5));
            assert!(message.contains("the GPU caught fire"), "{message}");
            let text = error.to_string();
            assert!(
                text.contains("HTTP 500") && text.contains("5 attempt"),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!((run.summary.ok, run.summary.call_failed), (2, 1));
    assert_eq!(model.stats().failures, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_30_percent_random_faults_a_1000_call_stage_loses_nothing() {
    let server = FakeServer::start().await;
    // 30% of requests meet a random fault; a `poison` item always gets a 500.
    let random = random_plan(0.3, 2024, &Fault::ALL_FAST);
    let plan: Plan = Arc::new(move |n, body: &str| {
        if body.contains("poison") {
            Some(Fault::ServerError)
        } else {
            random(n, body)
        }
    });
    let proxy = FaultProxy::start(server.addr, plan).await;
    let dir = tempfile::tempdir().unwrap();
    let poisoned: HashSet<usize> = [7, 333, 640, 999].into();
    let items: Vec<EchoItem> = (0..1000)
        .map(|id| marked(id, if poisoned.contains(&id) { "poison" } else { "" }))
        .collect();

    let model = CachedChatModel::open(
        OpenAiChatModel::new(config(proxy.base_url(), Duration::from_secs(1), 10)).unwrap(),
        dir.path(),
    )
    .unwrap();
    let mut progress_calls = 0;
    let run = run_stage(&model, &items, 64, |_| progress_calls += 1).await;

    assert_eq!(run.outcomes.len(), 1000);
    assert_eq!(progress_calls, 1000);
    let s = run.summary;
    assert_eq!(
        (s.done, s.ok + s.parse_failed + s.call_failed),
        (1000, 1000)
    );
    assert_eq!(s.parse_failed, 0);
    for (id, outcome) in run.outcomes.iter().enumerate() {
        if poisoned.contains(&id) {
            assert!(
                matches!(
                    outcome,
                    StepOutcome::CallFailed {
                        error: Error::Http { attempts: 11, .. }
                    }
                ),
                "{id}: {outcome:?}"
            );
        } else {
            // Answered, and with its own reply: no mix-up between concurrent items.
            assert_eq!(outcome.value(), Some(&id), "{id}: {outcome:?}");
        }
    }
    let stats = model.inner().stats();
    eprintln!(
        "{} faults in {} proxied requests; {stats:?}; {:?}",
        proxy.faults(),
        proxy.requests(),
        run.elapsed
    );
    assert_eq!(stats.failures, poisoned.len() as u64);
    assert!(
        proxy.faults() > 250 + 44,
        "the plan failed {} requests",
        proxy.faults()
    );
    // Every fault cost exactly one retry, except the last attempt of each poison item.
    assert_eq!(
        stats.retries + poisoned.len() as u64,
        proxy.faults(),
        "{stats:?}"
    );
    assert_eq!(stats.requests, proxy.requests());
    assert_eq!(model.stats().stores, 996, "only successes are cached");

    // A rerun without faults asks the server only for what failed.
    let answered_before = server.answered();
    let direct = CachedChatModel::open(
        OpenAiChatModel::new(config(server.base_url(), Duration::from_secs(2), 0)).unwrap(),
        dir.path(),
    )
    .unwrap();
    let clean: Vec<EchoItem> = (0..1000).map(|id| marked(id, "")).collect();
    let rerun = run_stage(&direct, &clean, 64, |_| {}).await;
    assert_eq!(rerun.summary.ok, 1000);
    // The poison items' prompts differ from the clean ones, so these four are new requests.
    assert_eq!(server.answered() - answered_before, poisoned.len() as u64);
}
