//! Running many step futures at once without an async runtime, and the small executor that the
//! synchronous [`RelationJudge`](navab_conflict::RelationJudge) bridge uses.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use navab_llm::BoxFuture;

/// Default number of model calls in flight at once.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// Runs `futures` with at most `limit` of them in flight, and returns their outputs in input
/// order. Runtime-agnostic: it only polls, so it runs on whatever executor awaits it.
///
/// Every wake-up polls the (at most `limit`) futures in flight: `O(limit)` per wake-up, nothing
/// next to a model call.
pub(crate) async fn run_bounded<'a, T: Send + 'a>(
    futures: Vec<BoxFuture<'a, T>>,
    limit: usize,
) -> Vec<T> {
    let limit = limit.max(1);
    let total = futures.len();
    let mut waiting = futures.into_iter().enumerate().peekable();
    let mut in_flight: Vec<(usize, BoxFuture<'a, T>)> = Vec::with_capacity(limit.min(total));
    let mut results: Vec<Option<T>> = (0..total).map(|_| None).collect();
    poll_fn(|cx: &mut Context<'_>| loop {
        while in_flight.len() < limit {
            match waiting.next() {
                Some(next) => in_flight.push(next),
                None => break,
            }
        }
        let mut finished_one = false;
        let mut i = 0;
        while i < in_flight.len() {
            if let Poll::Ready(output) = in_flight[i].1.as_mut().poll(cx) {
                // `remove`, not `swap_remove`: futures are polled, and so start, in input order.
                let (index, _) = in_flight.remove(i);
                results[index] = Some(output);
                finished_one = true;
            } else {
                i += 1;
            }
        }
        if in_flight.is_empty() && waiting.peek().is_none() {
            return Poll::Ready(());
        }
        // Start the next ones at once if a slot freed up; otherwise wait to be woken.
        if !finished_one {
            return Poll::Pending;
        }
    })
    .await;
    // Every slot was filled before the loop ended.
    results.into_iter().flatten().collect()
}

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs a future to completion on the current thread, parking it between polls.
///
/// The minimal executor behind [`LlmRelationJudge`](crate::LlmRelationJudge)'s synchronous
/// [`RelationJudge`](navab_conflict::RelationJudge) implementation. It drives any future whose
/// progress does not need a runtime's reactor: blocking HTTP clients, models running on other
/// threads, test doubles. A backend built on tokio (hyper, reqwest) must be driven by tokio
/// instead: give the judge its own executor with
/// [`LlmRelationJudge::with_executor`](crate::LlmRelationJudge::with_executor).
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        match Pin::as_mut(&mut future).poll(&mut cx) {
            Poll::Ready(output) => return output,
            // A spurious unpark only costs one more poll.
            Poll::Pending => thread::park(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    /// Pending once (waking itself), then ready; counts how many are in flight at a time.
    struct Yielding<'a> {
        yielded: bool,
        value: usize,
        live: &'a AtomicUsize,
        peak: &'a Mutex<usize>,
        started: bool,
    }

    impl Future for Yielding<'_> {
        type Output = usize;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
            if !self.started {
                self.started = true;
                let now = self.live.fetch_add(1, Ordering::SeqCst) + 1;
                let mut peak = self.peak.lock().unwrap();
                *peak = (*peak).max(now);
            }
            if self.yielded {
                self.live.fetch_sub(1, Ordering::SeqCst);
                Poll::Ready(self.value)
            } else {
                self.yielded = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    #[test]
    fn outputs_come_in_input_order_and_the_limit_holds() {
        for limit in [1, 3, 100] {
            let live = AtomicUsize::new(0);
            let peak = Mutex::new(0);
            let futures: Vec<BoxFuture<'_, usize>> = (0..10)
                .map(|value| {
                    Box::pin(Yielding {
                        yielded: false,
                        value,
                        live: &live,
                        peak: &peak,
                        started: false,
                    }) as BoxFuture<'_, usize>
                })
                .collect();
            let out = block_on(run_bounded(futures, limit));
            assert_eq!(out, (0..10).collect::<Vec<_>>());
            assert_eq!(*peak.lock().unwrap(), limit.min(10), "limit {limit}");
        }
        assert!(block_on(run_bounded(Vec::<BoxFuture<'_, u8>>::new(), 4)).is_empty());
    }
}
