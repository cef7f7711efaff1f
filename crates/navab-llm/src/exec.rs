//! Driving step futures without an async runtime: [`run_bounded`] keeps at most `limit` of them
//! in flight on whatever executor awaits it, and [`block_on`] is the smallest such executor.
//!
//! ```
//! use navab_llm::exec::{block_on, run_bounded};
//!
//! let futures = (0..5).map(|i| async move { i * 10 });
//! let mut finished = Vec::new();
//! let outputs = block_on(run_bounded(futures, 2, |index, _| finished.push(index)));
//! assert_eq!(outputs, [0, 10, 20, 30, 40]); // input order
//! assert_eq!(finished.len(), 5);
//! ```

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

/// Runs `futures` with at most `limit` of them in flight (0 is taken as 1), calls
/// `on_done(index, &output)` as each finishes, and returns the outputs in input order.
///
/// Runtime-agnostic: it only polls, so it runs on whatever executor awaits it, and its future
/// is `Send` when the futures, their outputs and `on_done` are. Futures are created from the
/// iterator only when a slot is free, and polled (so started) in input order.
///
/// # Complexity
/// Every wake-up polls the (at most `limit`) futures in flight: `O(limit)` per wake-up, nothing
/// next to a model call. `O(n)` outputs kept.
pub async fn run_bounded<I, F>(
    futures: I,
    limit: usize,
    mut on_done: impl FnMut(usize, &F::Output),
) -> Vec<F::Output>
where
    I: IntoIterator<Item = F>,
    F: Future,
{
    let limit = limit.max(1);
    let mut waiting = futures.into_iter().enumerate();
    let mut exhausted = false;
    let mut in_flight: Vec<(usize, Pin<Box<F>>)> = Vec::new();
    let mut results: Vec<Option<F::Output>> = Vec::new();
    poll_fn(|cx: &mut Context<'_>| loop {
        while !exhausted && in_flight.len() < limit {
            match waiting.next() {
                Some((index, future)) => in_flight.push((index, Box::pin(future))),
                None => exhausted = true,
            }
        }
        let mut finished_one = false;
        let mut i = 0;
        while i < in_flight.len() {
            if let Poll::Ready(output) = in_flight[i].1.as_mut().poll(cx) {
                // `remove`, not `swap_remove`: futures are polled, and so start, in input order.
                let (index, _) = in_flight.remove(i);
                on_done(index, &output);
                if results.len() <= index {
                    results.resize_with(index + 1, || None);
                }
                results[index] = Some(output);
                finished_one = true;
            } else {
                i += 1;
            }
        }
        if in_flight.is_empty() && exhausted {
            return Poll::Ready(());
        }
        // Start the next ones at once if a slot freed up; otherwise wait to be woken.
        if !finished_one {
            return Poll::Pending;
        }
    })
    .await;
    // Indices run 0..n and every one finished before the loop ended.
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
/// It drives any future whose progress does not need a runtime's reactor: blocking HTTP
/// clients, models running on other threads, test doubles. A backend built on tokio (hyper,
/// reqwest) must be driven by tokio instead (e.g. a runtime handle's `block_on`).
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        match future.as_mut().poll(&mut cx) {
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
            let futures: Vec<Yielding<'_>> = (0..10)
                .map(|value| Yielding {
                    yielded: false,
                    value,
                    live: &live,
                    peak: &peak,
                    started: false,
                })
                .collect();
            let mut done = Vec::new();
            let out = block_on(run_bounded(futures, limit, |i, &v| done.push((i, v))));
            assert_eq!(out, (0..10).collect::<Vec<_>>());
            assert_eq!(*peak.lock().unwrap(), limit.min(10), "limit {limit}");
            done.sort_unstable();
            assert_eq!(done, (0..10).map(|i| (i, i)).collect::<Vec<_>>());
        }
        let none: Vec<std::future::Ready<u8>> = Vec::new();
        assert!(block_on(run_bounded(none, 4, |_, _| {})).is_empty());
    }
}
