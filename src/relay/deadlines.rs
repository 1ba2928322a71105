//! Every clock the relay runs on, in one place, so "every request is answered in bounded
//! time" can be checked by reading one file.
//!
//! - **connect** (`--connect-timeout`) and **idle** (`--idle-timeout`) are enforced by
//!   `upstream` on every HTTP exchange: idle is the longest wait for the response head, for
//!   the next byte of a JSON body, or for the next SSE *event* (comments do not count, so a
//!   stream of `: keep-alive` lines cannot hold a call open forever);
//! - **request** (`--request-timeout`, default none) bounds one request from the moment it
//!   is admitted to its answer, whatever the server does in between: a stream dripping one
//!   event a minute, resumptions that keep succeeding, a body dripping one byte a second;
//! - **reconnects** ([`Reconnect`]) of response streams and of the GET stream wait at least
//!   [`MIN_RETRY`] and at most [`MAX_RETRY`] per the server's `retry:` field, and back off
//!   exponentially while streams keep dying young, so neither `retry: 0` nor
//!   `retry: 86400000` can make the bridge spin or stall;
//! - shutdown has a fixed budget, spent the same way whatever stdout does.

use std::time::{Duration, Instant};

/// The shortest reconnect delay, whatever `retry:` says (`retry: 0` must not spin).
pub const MIN_RETRY: Duration = Duration::from_millis(250);
/// The longest the bridge honours a server's `retry:` (a day-long `retry:` must not stall).
pub const MAX_RETRY: Duration = Duration::from_secs(5);
/// The reconnect delay when the server gave no `retry:`.
pub const DEFAULT_RETRY: Duration = Duration::from_secs(1);
/// The longest delay backoff grows to.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A stream that lived this long was healthy: the backoff starts again from the base.
pub const STABLE_STREAM: Duration = Duration::from_secs(30);
/// Resumptions in a row that bring no new message before a response stream is given up.
pub const MAX_EMPTY_RESUMES: u32 = 5;
/// GET-stream reconnects in a row that bring no new message before it is given up.
pub const MAX_LISTENER_FAILURES: u32 = 5;

/// After stdin closes, how long in-flight requests may still finish.
pub const EOF_GRACE: Duration = Duration::from_millis(800);
/// The most a session `DELETE` may take at shutdown.
pub const DELETE_TIMEOUT: Duration = Duration::from_millis(700);
/// The most shutdown waits for stdout to take the error answers of pending requests (at
/// the same time as the `DELETE`).
pub const ANSWER_TIMEOUT: Duration = Duration::from_millis(700);
/// At shutdown, a stdout that takes no message for this long is taken as not being read.
pub const STDOUT_STALL: Duration = Duration::from_millis(100);
/// The most shutdown waits for stdout to take the last messages.
pub const FLUSH_TIMEOUT: Duration = Duration::from_millis(200);
/// The whole shutdown after a signal or the grace period, whatever stdout and the server do.
pub const SHUTDOWN_BUDGET: Duration = Duration::from_millis(1500);

/// How long the ordering lane waits for `notifications/initialized` to be accepted and for
/// the GET stream's head before it lets later messages go (they then go regardless; the
/// exchanges go on in the background).
pub const LANE_HEADSTART: Duration = Duration::from_secs(5);
/// The longest a 2025 client's `initialize` waits for the `server/discover` probe before it
/// goes out anyway.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// After a response stream delivered its answer, how long the bridge keeps reading it to
/// its end, so the connection goes back to the pool instead of being torn down.
pub const DRAIN_AFTER_ANSWER: Duration = Duration::from_secs(2);

/// The relay's configured limits.
#[derive(Clone, Copy, Debug)]
pub struct Deadlines {
    pub idle: Duration,
    pub request: Option<Duration>,
}

/// The reconnect policy of one stream (a response being resumed, or the GET stream).
#[derive(Debug)]
pub struct Reconnect {
    base: Duration,
    attempt: u32,
    opened: Instant,
}

impl Default for Reconnect {
    fn default() -> Self {
        Reconnect {
            base: DEFAULT_RETRY,
            attempt: 0,
            opened: Instant::now(),
        }
    }
}

impl Reconnect {
    /// The server's `retry:` field, clamped to [`MIN_RETRY`, `MAX_RETRY`].
    pub fn server_retry(&mut self, retry: Duration) {
        self.base = retry.clamp(MIN_RETRY, MAX_RETRY);
    }

    /// A (re)connected stream is now open.
    pub fn opened(&mut self) {
        self.opened = Instant::now();
    }

    /// The wait before the next reconnect: the base, doubled for each stream in a row that
    /// died before [`STABLE_STREAM`], never over [`MAX_BACKOFF`].
    pub fn next_delay(&mut self) -> Duration {
        if self.opened.elapsed() >= STABLE_STREAM {
            self.attempt = 0;
        }
        let factor = 1u32 << self.attempt.min(16);
        self.attempt = self.attempt.saturating_add(1);
        self.base.saturating_mul(factor).min(MAX_BACKOFF)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_is_clamped_and_backs_off() {
        let mut r = Reconnect::default();
        r.server_retry(Duration::ZERO);
        let delays: Vec<_> = (0..4).map(|_| r.next_delay()).collect();
        assert_eq!(
            delays,
            [MIN_RETRY, MIN_RETRY * 2, MIN_RETRY * 4, MIN_RETRY * 8]
        );
        let mut r = Reconnect::default();
        r.server_retry(Duration::from_millis(86_400_000));
        assert_eq!(r.next_delay(), MAX_RETRY);
        for _ in 0..40 {
            assert!(r.next_delay() <= MAX_BACKOFF);
        }
    }
}
