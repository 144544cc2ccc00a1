//! Flow control at the edge, per app (`paas limits:set`): a rate with a burst (a GCRA token
//! bucket, `governor`'s), a rate per client address, and a cap on requests passed to the app's
//! web dynos at once with a bounded queue in front of it. What the limits refuse is answered at
//! once: 429 with `Retry-After` over a rate, 503 with `Retry-After` when the queue is full or a
//! request waited in it too long (shed, Heroku's H11 "backlog too deep"), so an overloaded app is
//! not buried under requests that would time out anyway.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use paas_share::models::RouterSettings;
use tokio::sync::Notify;

/// The longest a request waits in the queue for a free slot before it is shed.
pub const MAX_QUEUE_WAIT: Duration = Duration::from_secs(5);
/// Client addresses whose buckets are kept; beyond it, those that refilled are forgotten.
const MAX_CLIENTS: usize = 65_536;

/// One app's flow control, shared by the router's threads. Built from its router settings; the
/// same limits keep the same state (a settings change that leaves them alone resets nothing).
pub struct Flow {
    limits: [Option<u32>; 4],
    rate: Option<DefaultDirectRateLimiter>,
    per_client: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// Requests passed on to a dyno each web dyno may have at once.
    concurrency: Option<u32>,
    in_flight: AtomicU32,
    queued: AtomicU32,
    freed: Notify,
}

/// Why a request was not let through.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Over the app's rate or (`client`) the client's: try again after this many seconds (at
    /// least 1).
    Limited { retry_after: u64, client: bool },
    /// Every slot busy and the queue full, or the wait in it over [`MAX_QUEUE_WAIT`] (or the
    /// request's own deadline).
    Shed,
}

/// A request's place among those the app's dynos have at once; given back when dropped (kept
/// until its response's body ends).
pub struct Slot(Option<Arc<Flow>>);

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(flow) = &self.0 {
            flow.in_flight.fetch_sub(1, Ordering::AcqRel);
            flow.freed.notify_one();
        }
    }
}

/// Counts a request in the queue while it waits.
struct Queued<'a>(&'a AtomicU32);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Flow {
    /// The flow control `settings` ask for, `None` when they set no limit; `previous` (the app's
    /// flow control so far) is kept when its limits are the same.
    pub fn new(settings: &RouterSettings, previous: Option<&Arc<Flow>>) -> Option<Arc<Flow>> {
        let limits = [
            settings.rate_per_s,
            settings.burst,
            settings.concurrency,
            settings.per_ip_per_s,
        ];
        if limits.iter().all(Option::is_none) {
            return None;
        }
        if let Some(previous) = previous.filter(|p| p.limits == limits) {
            return Some(Arc::clone(previous));
        }
        let quota = |rate: u32, burst: Option<u32>| {
            let rate = NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN);
            Quota::per_second(rate).allow_burst(burst.and_then(NonZeroU32::new).unwrap_or(rate))
        };
        Some(Arc::new(Flow {
            limits,
            rate: settings
                .rate_per_s
                .map(|rate| RateLimiter::direct(quota(rate, settings.burst))),
            per_client: settings
                .per_ip_per_s
                .map(|rate| RateLimiter::keyed(quota(rate, None))),
            concurrency: settings.concurrency,
            in_flight: AtomicU32::new(0),
            queued: AtomicU32::new(0),
            freed: Notify::new(),
        }))
    }

    /// Lets a request from `client` through, or says why not: the client's rate, then the app's,
    /// then a slot among `concurrency × dynos_up` (waiting in a queue as long as that, up to
    /// [`MAX_QUEUE_WAIT`] or `deadline`, whichever comes first). A request refused by a rate
    /// takes nothing from the other limits.
    pub async fn admit(
        self: &Arc<Self>,
        client: IpAddr,
        dynos_up: usize,
        deadline: tokio::time::Instant,
    ) -> Result<Slot, Refusal> {
        if let Some(per_client) = &self.per_client {
            if per_client.len() >= MAX_CLIENTS {
                per_client.retain_recent();
            }
            per_client
                .check_key(&client)
                .map_err(|n| limited(n, true))?;
        }
        if let Some(rate) = &self.rate {
            rate.check().map_err(|n| limited(n, false))?;
        }
        let Some(concurrency) = self.concurrency else {
            return Ok(Slot(None));
        };
        let capacity =
            concurrency.saturating_mul(u32::try_from(dynos_up.max(1)).unwrap_or(u32::MAX));
        if self.take(capacity) {
            return Ok(Slot(Some(Arc::clone(self))));
        }
        if self.queued.fetch_add(1, Ordering::AcqRel) >= capacity {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::Shed);
        }
        let _queued = Queued(&self.queued);
        let deadline = deadline.min(tokio::time::Instant::now() + MAX_QUEUE_WAIT);
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            // Registered before the second look: a slot given back in between wakes it.
            freed.as_mut().enable();
            if self.take(capacity) {
                return Ok(Slot(Some(Arc::clone(self))));
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return Err(Refusal::Shed);
            }
        }
    }

    /// Takes a slot if fewer than `capacity` are taken.
    fn take(&self, capacity: u32) -> bool {
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < capacity).then_some(n + 1)
            })
            .is_ok()
    }
}

/// A refusal by a rate: `Retry-After` is when the next request would pass, in whole seconds.
fn limited(not_until: governor::NotUntil<governor::clock::QuantaInstant>, client: bool) -> Refusal {
    let wait = not_until.wait_time_from(governor::clock::Clock::now(
        &governor::clock::DefaultClock::default(),
    ));
    Refusal::Limited {
        retry_after: wait.as_secs_f64().ceil().max(1.0) as u64,
        client,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(
        rate_per_s: Option<u32>,
        burst: Option<u32>,
        concurrency: Option<u32>,
        per_ip_per_s: Option<u32>,
    ) -> RouterSettings {
        RouterSettings {
            rate_per_s,
            burst,
            concurrency,
            per_ip_per_s,
            ..RouterSettings::default()
        }
    }

    fn later() -> tokio::time::Instant {
        tokio::time::Instant::now() + Duration::from_secs(30)
    }

    const CLIENT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[tokio::test]
    async fn rate_lets_a_burst_through_then_refuses() {
        let flow = Flow::new(&settings(Some(1), Some(3), None, None), None).expect("limits");
        for _ in 0..3 {
            assert!(flow.admit(CLIENT, 1, later()).await.is_ok());
        }
        assert_eq!(
            flow.admit(CLIENT, 1, later()).await.err(),
            Some(Refusal::Limited {
                retry_after: 1,
                client: false
            })
        );
        assert!(Flow::new(&RouterSettings::default(), None).is_none());
    }

    #[tokio::test]
    async fn each_client_has_its_own_rate() {
        let flow = Flow::new(&settings(None, None, None, Some(2)), None).expect("limits");
        let other = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));
        for _ in 0..2 {
            assert!(flow.admit(CLIENT, 1, later()).await.is_ok());
        }
        assert!(flow.admit(CLIENT, 1, later()).await.is_err());
        assert!(flow.admit(other, 1, later()).await.is_ok());
    }

    #[tokio::test]
    async fn same_limits_keep_their_state() {
        let first = Flow::new(&settings(Some(5), None, None, None), None).expect("limits");
        let same = Flow::new(&settings(Some(5), None, None, None), Some(&first)).expect("limits");
        assert!(Arc::ptr_eq(&first, &same));
        let other = Flow::new(&settings(Some(6), None, None, None), Some(&first)).expect("limits");
        assert!(!Arc::ptr_eq(&first, &other));
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_queue_sheds_and_a_freed_slot_lets_one_in() {
        let flow = Flow::new(&settings(None, None, Some(1), None), None).expect("limits");
        // Two dynos, one slot each.
        let first = flow.admit(CLIENT, 2, later()).await.expect("a slot");
        let _second = flow.admit(CLIENT, 2, later()).await.expect("a slot");
        // Two wait in the queue (as long as the slots), the next is shed at once.
        let waiting = async {
            tokio::join!(
                flow.admit(CLIENT, 2, later()),
                flow.admit(CLIENT, 2, later()),
                async {
                    tokio::task::yield_now().await;
                    assert_eq!(
                        flow.admit(CLIENT, 2, later()).await.err(),
                        Some(Refusal::Shed)
                    );
                    drop(first);
                }
            )
        };
        let (third, fourth, ()) = waiting.await;
        // One got the freed slot; the other waited its longest and was shed.
        assert!(third.is_ok() != fourth.is_ok());
        assert_eq!(flow.queued.load(Ordering::Acquire), 0);
    }
}
