//! The response cache and the stage runner without any network: many tasks and threads on
//! one cache, reopening, and what lands on disk.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use navab_llm::cache::{cache_key, CachedChatModel, Durability, ResponseCache};
use navab_llm::stage::run_stage;
use navab_llm::testing::block_on;
use navab_llm::{BoxFuture, ChatModel, ChatRequest, ChatResponse, Error, Result};
use support::server::echo;
use support::EchoItem;

/// Answers like the fake server, counting calls; fails every request whose text holds "fail".
#[derive(Default)]
struct CountingEcho {
    calls: AtomicU64,
}

impl ChatModel for CountingEcho {
    fn chat<'a>(&'a self, request: &'a ChatRequest) -> BoxFuture<'a, Result<ChatResponse>> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let last = &request.messages.last().unwrap().content;
            if last.contains("fail") {
                return Err(Error::Backend {
                    backend: "counting-echo".into(),
                    message: "asked to fail".into(),
                });
            }
            Ok(ChatResponse::new(echo(last)))
        })
    }

    fn model_id(&self) -> Option<&str> {
        Some("counting-echo")
    }
}

fn segment_lines(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            std::fs::read_to_string(e.unwrap().path())
                .unwrap()
                .lines()
                .count()
        })
        .sum()
}

#[test]
fn threads_sharing_one_cache_store_each_answer_once_and_a_reopen_serves_all() {
    let dir = tempfile::tempdir().unwrap();
    let model = Arc::new(CachedChatModel::open(CountingEcho::default(), dir.path()).unwrap());
    // Four threads, each its own slice of 250 items, 16 at a time.
    let items = EchoItem::batch(1000);
    std::thread::scope(|scope| {
        for chunk in items.chunks(250) {
            let model = model.clone();
            scope.spawn(move || {
                let run = block_on(run_stage(&*model, chunk, 16, |_| {}));
                assert_eq!(run.summary.ok, 250);
            });
        }
    });
    assert_eq!(model.inner().calls.load(Ordering::SeqCst), 1000);
    assert_eq!(model.stats().stores, 1000);
    assert_eq!(model.stats().entries, 1000);
    drop(model);
    // Lines never interleave: every stored line is whole.
    assert_eq!(segment_lines(dir.path()), 1000);

    let model = CachedChatModel::open(CountingEcho::default(), dir.path()).unwrap();
    assert_eq!(model.cache().open_report().entries, 1000);
    assert!(model.cache().open_report().skipped.is_empty());
    let run = block_on(run_stage(&model, &items, 64, |_| {}));
    assert!(run
        .outcomes
        .iter()
        .enumerate()
        .all(|(i, o)| o.value() == Some(&i)));
    assert_eq!(model.inner().calls.load(Ordering::SeqCst), 0);
    assert_eq!((model.stats().hits, model.stats().misses), (1000, 0));
}

#[test]
fn failures_are_not_cached_and_are_asked_again() {
    let dir = tempfile::tempdir().unwrap();
    let items: Vec<EchoItem> = (0..10)
        .map(|id| EchoItem {
            id,
            extra: if id % 3 == 0 {
                "fail".into()
            } else {
                String::new()
            },
        })
        .collect();
    let model = CachedChatModel::open(CountingEcho::default(), dir.path()).unwrap();
    let run = block_on(run_stage(&model, &items, 4, |_| {}));
    assert_eq!((run.summary.ok, run.summary.call_failed), (6, 4));
    assert_eq!(model.stats().stores, 6);
    drop(model);

    let model = CachedChatModel::open(CountingEcho::default(), dir.path()).unwrap();
    let run = block_on(run_stage(&model, &items, 4, |_| {}));
    assert_eq!((run.summary.ok, run.summary.call_failed), (6, 4));
    assert_eq!(
        model.inner().calls.load(Ordering::SeqCst),
        4,
        "only the failures again"
    );
}

#[test]
fn the_cache_is_keyed_by_the_inner_model_id() {
    let dir = tempfile::tempdir().unwrap();
    let request = EchoItem::batch(1).remove(0);
    let cache = ResponseCache::open(dir.path(), Durability::SyncEach).unwrap();
    let key = cache_key(Some("counting-echo"), &navab_llm::Step::request(&request));
    cache
        .put(&key, &ChatResponse::new("echo: item 0 (from the cache)"))
        .unwrap();
    let model = CachedChatModel::with_cache(CountingEcho::default(), cache);
    let run = block_on(run_stage(&model, std::slice::from_ref(&request), 1, |_| {}));
    assert_eq!(run.outcomes[0].raw(), Some("echo: item 0 (from the cache)"));
    assert_eq!(model.inner().calls.load(Ordering::SeqCst), 0);
    assert_eq!(model.model_id(), Some("counting-echo"));
}

#[test]
fn a_stage_with_zero_concurrency_still_runs_and_an_empty_stage_is_empty() {
    let model = CountingEcho::default();
    let run = block_on(run_stage(&model, &EchoItem::batch(3), 0, |_| {}));
    assert_eq!(run.summary.ok, 3);
    let run = block_on(run_stage(&model, &EchoItem::batch(0), 8, |_| {}));
    assert!(run.outcomes.is_empty());
    assert_eq!(run.summary.total, 0);
}
