//! Graceful shutdown: on SIGTERM or SIGINT stop accepting, let the streams in flight run
//! until the drain deadline, then end each remaining one with a retryable `shutting_down`
//! error frame.
//!
//! A second signal ends the drain at once.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Serving,
    Draining { until: Instant },
    Ended,
}

/// The server's shutdown state, shared by the accept loop and every stream.
#[derive(Debug, Clone)]
pub(crate) struct Shutdown {
    phase: Arc<watch::Sender<Phase>>,
    drain: Duration,
}

impl Shutdown {
    pub(crate) fn new(drain: Duration) -> Self {
        Self {
            phase: Arc::new(watch::Sender::new(Phase::Serving)),
            drain,
        }
    }

    /// Starts the drain; when it has started already, ends it now.
    pub(crate) fn begin(&self) {
        let until = Instant::now() + self.drain;
        self.phase.send_if_modified(|phase| {
            *phase = match *phase {
                Phase::Serving => Phase::Draining { until },
                Phase::Draining { .. } => Phase::Ended,
                Phase::Ended => return false,
            };
            true
        });
    }

    /// Whether the drain has started: new streams are refused.
    pub(crate) fn is_draining(&self) -> bool {
        *self.phase.borrow() != Phase::Serving
    }

    /// Completes when the drain starts: the moment to stop accepting connections.
    pub(crate) fn draining(&self) -> ShutdownSignal {
        let mut phase = self.phase.subscribe();
        ShutdownSignal(Box::pin(async move {
            if phase
                .wait_for(|phase| *phase != Phase::Serving)
                .await
                .is_err()
            {
                std::future::pending::<()>().await;
            }
        }))
    }

    /// Completes at the drain deadline: the moment to end the streams still running.
    pub(crate) fn ended(&self) -> ShutdownSignal {
        let mut phase = self.phase.subscribe();
        ShutdownSignal(Box::pin(async move {
            loop {
                let current = *phase.borrow_and_update();
                match current {
                    Phase::Ended => return,
                    Phase::Serving => {
                        if phase.changed().await.is_err() {
                            std::future::pending::<()>().await;
                        }
                    }
                    Phase::Draining { until } => {
                        tokio::select! {
                            () = tokio::time::sleep_until(until) => return,
                            changed = phase.changed() => if changed.is_err() {
                                tokio::time::sleep_until(until).await;
                                return;
                            },
                        }
                    }
                }
            }
        }))
    }
}

/// A future that completes at a moment of the shutdown: hand
/// [`App::draining`](super::App::draining) to a framework's graceful shutdown.
#[must_use = "futures do nothing unless polled"]
pub struct ShutdownSignal(Pin<Box<dyn Future<Output = ()> + Send>>);

impl Future for ShutdownSignal {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl fmt::Debug for ShutdownSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownSignal").finish_non_exhaustive()
    }
}

/// The process signals that start a shutdown, registered as soon as this is created so
/// that none arriving during start-up is missed.
#[derive(Debug)]
pub(crate) struct Signals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    pub(crate) fn register() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Self {
                terminate: signal(SignalKind::terminate())?,
                interrupt: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    /// Turns every signal into a step of the app's shutdown.
    pub(crate) async fn forward(mut self, app: super::App) {
        let mut draining = false;
        loop {
            let name = self.next().await;
            app.shutdown();
            if draining {
                tracing::warn!(signal = name, "second signal: ending the streams now");
            } else {
                tracing::info!(
                    signal = name,
                    drain_secs = app.config().drain_secs,
                    "shutting down: no new connections, draining streams"
                );
            }
            draining = true;
        }
    }

    #[cfg(unix)]
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }

    #[cfg(not(unix))]
    async fn next(&mut self) -> &'static str {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        "ctrl-c"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_deadline_follows_the_drain() {
        let shutdown = Shutdown::new(Duration::from_secs(10));
        let draining = shutdown.draining();
        let ended = shutdown.ended();
        tokio::pin!(draining, ended);
        assert!(futures::poll!(&mut draining).is_pending());

        let started = Instant::now();
        shutdown.begin();
        assert!(shutdown.is_draining());
        draining.await;
        ended.await;
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_second_signal_ends_the_drain_at_once() {
        let shutdown = Shutdown::new(Duration::from_secs(10));
        let ended = shutdown.ended();
        let started = Instant::now();
        shutdown.begin();
        shutdown.begin();
        ended.await;
        assert_eq!(started.elapsed(), Duration::ZERO);
        // A stream that starts after the deadline ends at once too.
        shutdown.ended().await;
    }
}
