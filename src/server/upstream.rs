//! Stream slots: the concurrency limit, and Bedrock clients enough that no HTTP/2 connection
//! carries more streams than Bedrock lets it.
//!
//! The SDK's client offers HTTP/2 (ALPN `h2`), so one client sends all of its concurrent
//! streams over one connection. Once that connection carries as many streams as the server's
//! `SETTINGS_MAX_CONCURRENT_STREAMS`, the next `ConverseStream` call waits inside the client,
//! without error or log, until another stream ends. [`Upstream`] gives every new stream to
//! the client with the fewest streams open and, when every client already carries
//! `--upstream-streams-per-connection`, makes one more (with a connection pool of its own),
//! so that no connection is asked for more. Clients are made only as the streams need them
//! and kept for the next peak. Over HTTP/1.1 each stream has a connection anyway and the
//! spreading changes nothing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use aws_sdk_bedrockruntime::Client;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Makes a Bedrock client with connections of its own.
pub(crate) type MakeClient = Box<dyn Fn() -> Client + Send + Sync>;

/// The Bedrock clients and the free stream slots.
pub(crate) struct Upstream {
    make_client: MakeClient,
    clients: Mutex<Vec<Arc<Share>>>,
    streams_per_client: usize,
    slots: Arc<Semaphore>,
}

/// One client and the streams it carries now.
struct Share {
    client: Client,
    open: AtomicUsize,
}

/// The right to run one stream, on one client; the slot is free again when this is dropped.
#[must_use]
pub(crate) struct Slot {
    share: Arc<Share>,
    _permit: OwnedSemaphorePermit,
}

impl Upstream {
    /// `max_streams` at once, at most `streams_per_client` (at least 1) to a client made by
    /// `make_client`. The first client is made now.
    pub(crate) fn new(
        make_client: MakeClient,
        streams_per_client: usize,
        max_streams: usize,
    ) -> Upstream {
        let first = Arc::new(Share::new(make_client()));
        Upstream {
            make_client,
            clients: Mutex::new(vec![first]),
            streams_per_client: streams_per_client.max(1),
            slots: Arc::new(Semaphore::new(max_streams.min(Semaphore::MAX_PERMITS))),
        }
    }

    /// A slot on the client with the fewest streams open, on a new client when they are all
    /// full, or `None` when every slot is taken.
    pub(crate) fn slot(&self) -> Option<Slot> {
        let permit = Arc::clone(&self.slots).try_acquire_owned().ok()?;
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        let emptiest = clients
            .iter()
            .min_by_key(|share| share.open.load(Ordering::Relaxed))
            .filter(|share| share.open.load(Ordering::Relaxed) < self.streams_per_client)
            .cloned();
        let share = emptiest.unwrap_or_else(|| {
            let share = Arc::new(Share::new((self.make_client)()));
            clients.push(Arc::clone(&share));
            share
        });
        // Counted in under the lock, so two streams starting at once see each other.
        share.open.fetch_add(1, Ordering::Relaxed);
        Some(Slot {
            share,
            _permit: permit,
        })
    }

    /// How many streams could start now.
    pub(crate) fn free_slots(&self) -> usize {
        self.slots.available_permits()
    }

    /// How many clients there are.
    pub(crate) fn clients(&self) -> usize {
        self.clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Share {
    fn new(client: Client) -> Share {
        Share {
            client,
            open: AtomicUsize::new(0),
        }
    }
}

impl Slot {
    /// The client this stream goes through.
    pub(crate) fn client(&self) -> &Client {
        &self.share.client
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.share.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Makes clients that are never called, for tests of the bookkeeping.
#[cfg(test)]
pub(crate) fn idle_clients() -> MakeClient {
    use aws_sdk_bedrockruntime::config::{BehaviorVersion, Region};

    Box::new(|| {
        let config = aws_sdk_bedrockruntime::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::from_static("us-east-1"))
            .build();
        Client::from_conf(config)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(upstream: &Upstream) -> Vec<usize> {
        let clients = upstream.clients.lock().unwrap();
        clients
            .iter()
            .map(|share| share.open.load(Ordering::Relaxed))
            .collect()
    }

    #[test]
    fn a_client_is_added_only_when_every_client_is_full() {
        let upstream = Upstream::new(idle_clients(), 2, 100);
        let mut slots: Vec<Slot> = (0..2).map(|_| upstream.slot().unwrap()).collect();
        assert_eq!(open(&upstream), [2]);
        slots.extend((0..3).map(|_| upstream.slot().unwrap()));
        assert_eq!(open(&upstream), [2, 2, 1]);
    }

    #[test]
    fn streams_go_to_the_client_with_the_fewest_open_and_clients_are_kept() {
        let upstream = Upstream::new(idle_clients(), 3, 100);
        let mut slots: Vec<Slot> = (0..7).map(|_| upstream.slot().unwrap()).collect();
        assert_eq!(open(&upstream), [3, 3, 1]);

        // Ending two of the first client's streams makes it the emptiest.
        let first = Arc::clone(&upstream.clients.lock().unwrap()[0]);
        for _ in 0..2 {
            let at = slots
                .iter()
                .position(|slot| Arc::ptr_eq(&slot.share, &first))
                .unwrap();
            drop(slots.remove(at));
        }
        assert_eq!(open(&upstream), [1, 3, 1]);
        let next = upstream.slot().unwrap();
        assert!(Arc::ptr_eq(&next.share, &first));

        drop((slots, next));
        assert_eq!(open(&upstream), [0, 0, 0]);
        assert_eq!(upstream.clients(), 3);
    }

    #[test]
    fn slots_run_out_at_the_limit_and_come_back_when_dropped() {
        let upstream = Upstream::new(idle_clients(), 100, 3);
        let slots: Vec<Slot> = (0..3).map(|_| upstream.slot().unwrap()).collect();
        assert!(upstream.slot().is_none());
        assert_eq!(upstream.free_slots(), 0);
        drop(slots);
        assert_eq!(upstream.free_slots(), 3);
        assert_eq!(open(&upstream), [0]);
        assert!(upstream.slot().is_some());
    }
}
