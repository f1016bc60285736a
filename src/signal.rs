//! A one-shot signal that a stream checks on every poll, polled itself only after it has
//! woken the stream.
//!
//! Polling a signal such as a `tokio::sync::watch` change on every frame takes the lock its
//! sender shares with every other stream. [`Signal`] gives the future a waker of its own,
//! which notes that the future woke and passes the wake on to the stream's task, so the
//! future is polled once at the start and then only when it has something to say.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};

use futures_util::task::AtomicWaker;

/// A future that ends a stream, and whether it has woken since it was last polled.
pub(crate) struct Signal {
    future: Pin<Box<dyn Future<Output = ()> + Send>>,
    wake: Arc<Flag>,
}

/// The signal's waker: a flag, and the waker of the task that polls the stream.
struct Flag {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Signal {
    pub(crate) fn new(future: impl Future<Output = ()> + Send + 'static) -> Signal {
        Signal {
            future: Box::pin(future),
            wake: Arc::new(Flag {
                // Polled at the first check, which registers the future's waker.
                woken: AtomicBool::new(true),
                task: AtomicWaker::new(),
            }),
        }
    }

    /// Whether the signal has fired. Polls the future only if it has woken since the last
    /// check; either way the task of `cx` is woken when it next wakes.
    pub(crate) fn fired(&mut self, cx: &Context<'_>) -> bool {
        // Registered before the flag is read: a wake in between finds this task. (A wake
        // takes the registered waker with it, so this registers at every check.)
        self.wake.task.register(cx.waker());
        if !self.wake.woken.swap(false, Ordering::AcqRel) {
            return false;
        }
        let waker = Waker::from(Arc::clone(&self.wake));
        self.future
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_ready()
    }
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::task::Poll;

    use super::*;

    /// A task waker that counts its wakes.
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn the_future_is_polled_first_and_then_only_after_it_wakes() {
        let polls = Arc::new(AtomicUsize::new(0));
        let (sender, receiver) = tokio::sync::oneshot::channel::<()>();
        let mut receiver = Some(receiver);
        let counted = Arc::clone(&polls);
        let future = std::future::poll_fn(move |cx| {
            counted.fetch_add(1, Ordering::SeqCst);
            match receiver
                .as_mut()
                .map(|receiver| Pin::new(receiver).poll(cx))
            {
                Some(Poll::Ready(_)) => Poll::Ready(()),
                _ => Poll::Pending,
            }
        });
        let mut signal = Signal::new(future);
        let task = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&task));
        let cx = Context::from_waker(&waker);

        assert!(!signal.fired(&cx));
        assert!(!signal.fired(&cx));
        assert!(!signal.fired(&cx));
        assert_eq!(polls.load(Ordering::SeqCst), 1, "polled once to register");

        sender.send(()).unwrap();
        assert_eq!(
            task.0.load(Ordering::SeqCst),
            1,
            "the wake reached the task"
        );
        assert!(signal.fired(&cx));
        assert_eq!(polls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_new_task_waker_gets_the_wake() {
        let (sender, receiver) = tokio::sync::oneshot::channel::<()>();
        let mut signal = Signal::new(async move {
            let _ = receiver.await;
        });
        let (first, second) = (
            Arc::new(Count(AtomicUsize::new(0))),
            Arc::new(Count(AtomicUsize::new(0))),
        );
        let first_waker = Waker::from(Arc::clone(&first));
        let second_waker = Waker::from(Arc::clone(&second));
        assert!(!signal.fired(&Context::from_waker(&first_waker)));
        assert!(!signal.fired(&Context::from_waker(&second_waker)));

        sender.send(()).unwrap();
        assert_eq!(first.0.load(Ordering::SeqCst), 0);
        assert_eq!(second.0.load(Ordering::SeqCst), 1);
        assert!(signal.fired(&Context::from_waker(&second_waker)));
    }

    #[test]
    fn every_wake_reaches_the_task_not_only_the_first() {
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<()>();
        let mut signal = Signal::new(async move {
            for _ in 0..2 {
                receiver.recv().await;
            }
        });
        let task = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&task));
        let cx = Context::from_waker(&waker);
        assert!(!signal.fired(&cx));

        sender.send(()).unwrap();
        assert_eq!(task.0.load(Ordering::SeqCst), 1);
        assert!(!signal.fired(&cx), "one of two messages");
        assert!(!signal.fired(&cx));

        sender.send(()).unwrap();
        assert_eq!(
            task.0.load(Ordering::SeqCst),
            2,
            "the second wake is not lost"
        );
        assert!(signal.fired(&cx));
    }
}
