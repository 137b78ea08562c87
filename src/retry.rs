//! One backoff policy for everything that retries: storage reads, compaction units, Zendesk
//! requests and EventBridge sends. Exponential, capped, with jitter so that runs started together
//! (a CronJob's pods, shards) do not retry in step.

use std::future::Future;
use std::time::Duration;

use crate::error::Result;

/// How often and how long to retry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Tries in all, the first included.
    pub tries: u32,
    /// The wait after the first failure; each later one doubles, up to `max_delay`.
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Backoff {
    /// Storage reads and other steps that change nothing when repeated.
    pub const STORAGE: Backoff = Backoff {
        tries: 4,
        first_delay: Duration::from_millis(500),
        max_delay: Duration::from_secs(8),
    };
    /// A whole compaction unit (idempotent: its txn version guards each table).
    pub const UNIT: Backoff = Backoff {
        tries: 4,
        first_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(16),
    };
    /// HTTP APIs that ask callers to slow down (Zendesk, EventBridge).
    pub const API: Backoff = Backoff {
        tries: 8,
        first_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(10),
    };

    /// The wait after failed try number `attempt` (1 for the first), with ±50% jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        let doubled = self
            .first_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        doubled
            .min(self.max_delay)
            .mul_f64(0.5 + rand::random::<f64>())
    }

    /// The pause before another try after `error` ended try `attempt`, or `None` to give up.
    /// For loops whose operation borrows mutably, which a closure cannot hand out per try.
    pub fn pause_after(&self, error: &crate::error::Error, attempt: u32) -> Option<Duration> {
        (error.is_transient() && attempt < self.tries).then(|| self.delay(attempt))
    }

    /// Runs `operation` again while it fails with a transient error, up to `tries` times.
    pub async fn retry_transient<T, F, Fut>(&self, what: &str, mut operation: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut attempt = 1;
        loop {
            match operation().await {
                Err(error) if error.is_transient() && attempt < self.tries => {
                    let pause = self.delay(attempt);
                    tracing::warn!(attempt, %error, "{what} failed; retrying in {pause:?}");
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_with_jitter() {
        let policy = Backoff {
            tries: 10,
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        for (attempt, base) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (40, 1000),
        ] {
            let delay = policy.delay(attempt).as_millis();
            assert!(
                delay >= base / 2 && delay <= base * 3 / 2,
                "attempt {attempt}: {delay} ms"
            );
        }
    }

    #[tokio::test]
    async fn only_transient_errors_are_retried_and_only_so_often() {
        let quick = Backoff {
            tries: 3,
            first_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        };
        let mut calls = 0;
        let result: Result<()> = quick
            .retry_transient("test", || {
                calls += 1;
                async {
                    Err(crate::error::Error::CommitRaces {
                        table: "x".into(),
                        races: 1,
                    })
                }
            })
            .await;
        assert!(result.is_err());
        assert_eq!(calls, quick.tries);

        let mut calls = 0;
        let result: Result<()> = quick
            .retry_transient("test", || {
                calls += 1;
                async { Err(crate::error::Error::InvalidArgument("no".into())) }
            })
            .await;
        assert!(result.is_err());
        assert_eq!(calls, 1);
    }
}
