//! The end of a run: on stdin EOF (after a short grace for in-flight requests) or on a
//! stop event of the OS ([`triggers`]: SIGTERM, SIGINT, SIGHUP on Unix, where a closed
//! terminal is a request to stop, not a crash; Ctrl-C, Ctrl-Break, console close, logoff and
//! shutdown on Windows).
//!
//! Invariant: shutdown finishes within [`SHUTDOWN_BUDGET`] whatever stdout and the server
//! do. Every request still pending (those waiting in the stdin queue included) is answered
//! with an error, as far as stdout takes it within [`ANSWER_TIMEOUT`] (a client that
//! stopped reading cannot hold the bridge); the session's `DELETE` goes out beside those
//! answers, with its own short limit; stdout gets a bounded last flush. Nothing here writes
//! stdout except through its owner, so a line cut short by the exit can only be the last.

use std::time::Duration;

use super::context::Relay;
use super::deadlines::{
    ANSWER_TIMEOUT, DELETE_TIMEOUT, FLUSH_TIMEOUT, SHUTDOWN_BUDGET, STDOUT_STALL,
};
use crate::errors::{self, Failure};

/// An event of the OS that asks the bridge to stop. Each one takes the same bounded
/// shutdown as stdin EOF (minus the grace): pending requests answered, the session
/// `DELETE`d, stdout flushed. A host that kills the process (SIGKILL, `TerminateProcess`)
/// cannot be caught; stdin EOF stays the main path, and what every host does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Unix: `kill`, a service manager, a host's polite stop.
    Sigterm,
    /// Unix: Ctrl-C in a terminal.
    Sigint,
    /// Unix: the terminal closed (a request to stop, not a crash).
    Sighup,
    /// Windows: Ctrl-C (`CTRL_C_EVENT`, also what `GenerateConsoleCtrlEvent` sends).
    CtrlC,
    /// Windows: Ctrl-Break.
    CtrlBreak,
    /// Windows: the console window closed. Windows ends the process about 5 s later
    /// whatever it does, so the whole shutdown must fit in that.
    CtrlClose,
    /// Windows: the user logs off.
    CtrlLogoff,
    /// Windows: the system shuts down.
    CtrlShutdown,
}

/// The OS families whose stop events differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Unix,
    Windows,
}

impl Family {
    pub fn current() -> Self {
        if cfg!(windows) {
            Family::Windows
        } else {
            Family::Unix
        }
    }
}

/// Which events stop the bridge on each OS family: a plain table, so every OS's set is
/// tested on any OS.
pub fn triggers(family: Family) -> &'static [Trigger] {
    use Trigger::*;
    match family {
        Family::Unix => &[Sigterm, Sigint, Sighup],
        Family::Windows => &[CtrlC, CtrlBreak, CtrlClose, CtrlLogoff, CtrlShutdown],
    }
}

impl Trigger {
    /// The name logged when it arrives.
    pub fn name(self) -> &'static str {
        match self {
            Trigger::Sigterm => "SIGTERM",
            Trigger::Sigint => "SIGINT",
            Trigger::Sighup => "SIGHUP",
            Trigger::CtrlC => "Ctrl-C",
            Trigger::CtrlBreak => "Ctrl-Break",
            Trigger::CtrlClose => "console close",
            Trigger::CtrlLogoff => "logoff",
            Trigger::CtrlShutdown => "system shutdown",
        }
    }
}

type Wait = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// Resolves when the first of this OS's [`triggers`] arrives, with its name. A listener
/// the OS refuses is left out (logged); with none at all, this never resolves and stdin
/// EOF is the only way out.
pub async fn signal() -> &'static str {
    let waits: Vec<_> = triggers(Family::current())
        .iter()
        .filter_map(|&t| match listen(t) {
            Ok(wait) => Some(Box::pin(async move {
                wait.await;
                t
            })),
            Err(e) => {
                tracing::debug!("cannot listen for {}: {e}", t.name());
                None
            }
        })
        .collect();
    if waits.is_empty() {
        return std::future::pending().await;
    }
    let (first, _, _) = futures::future::select_all(waits).await;
    first.name()
}

/// A future that resolves on the next `trigger` (never, if the OS stops delivering it).
#[cfg(unix)]
fn listen(trigger: Trigger) -> std::io::Result<Wait> {
    use tokio::signal::unix::{SignalKind, signal};
    let kind = match trigger {
        Trigger::Sigterm => SignalKind::terminate(),
        Trigger::Sigint => SignalKind::interrupt(),
        Trigger::Sighup => SignalKind::hangup(),
        _ => return Err(std::io::ErrorKind::Unsupported.into()),
    };
    let mut s = signal(kind)?;
    Ok(Box::pin(async move {
        if s.recv().await.is_none() {
            std::future::pending::<()>().await;
        }
    }))
}

/// A future that resolves on the next `trigger` (never, if the OS stops delivering it).
/// For close, logoff and shutdown, tokio's handler holds the OS's handler thread, so the
/// process lives on until it exits by itself (or Windows' own timeout ends it).
#[cfg(windows)]
fn listen(trigger: Trigger) -> std::io::Result<Wait> {
    use tokio::signal::windows;
    macro_rules! wait_on {
        ($make:expr) => {{
            let mut s = $make?;
            Ok(Box::pin(async move {
                if s.recv().await.is_none() {
                    std::future::pending::<()>().await;
                }
            }))
        }};
    }
    match trigger {
        Trigger::CtrlC => wait_on!(windows::ctrl_c()),
        Trigger::CtrlBreak => wait_on!(windows::ctrl_break()),
        Trigger::CtrlClose => wait_on!(windows::ctrl_close()),
        Trigger::CtrlLogoff => wait_on!(windows::ctrl_logoff()),
        Trigger::CtrlShutdown => wait_on!(windows::ctrl_shutdown()),
        _ => Err(std::io::ErrorKind::Unsupported.into()),
    }
}

/// Neither Unix nor Windows: tokio offers Ctrl-C only.
#[cfg(not(any(unix, windows)))]
fn listen(_trigger: Trigger) -> std::io::Result<Wait> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// Gives in-flight requests `grace` to finish, then answers the rest, stops the streams,
/// ends the session and flushes stdout, all within the budget.
pub async fn shutdown(relay: &Relay, grace: Duration) {
    if !grace.is_zero() {
        let _ = tokio::time::timeout(grace, relay.pending.drained()).await;
    }
    if tokio::time::timeout(SHUTDOWN_BUDGET, close(relay))
        .await
        .is_err()
    {
        tracing::debug!("shutdown ran out of time; exiting anyway");
    }
}

async fn close(relay: &Relay) {
    let entries = relay.pending.drain();
    relay.listener.stop();
    relay.legacy.close();
    relay.translated.reset();
    // The session's DELETE and the answers go together: a long table (the stdin queue holds
    // thousands of requests) or a stdout that takes nothing cannot hold the DELETE back.
    let (taken, ()) = tokio::join!(answer_all(relay, entries), end_session(relay));
    if taken {
        relay.out.flush(FLUSH_TIMEOUT).await;
    }
}

/// Answers every client request still pending with the shutdown error, as far as stdout
/// takes them within [`ANSWER_TIMEOUT`], giving up as soon as it takes none for
/// [`STDOUT_STALL`]; the rest are dropped (logged). `false` when stdout did not take them
/// all: it is not being read, and a last flush would only wait.
async fn answer_all(relay: &Relay, entries: Vec<super::pending::Entry>) -> bool {
    let total = entries.iter().filter(|e| e.is_client()).count();
    let mut answered = 0usize;
    let answering = async {
        for entry in entries.iter().filter(|e| e.is_client()) {
            let message = errors::answer(entry.id(), &Failure::ShuttingDown, &relay.hints());
            // A stdout that takes nothing for a while is not being read: stop waiting.
            let sent = tokio::time::timeout(STDOUT_STALL, relay.out.send(message)).await;
            if sent.is_err() {
                return false;
            }
            answered += 1;
            // Composing thousands of answers must not starve the DELETE beside it.
            if answered.is_multiple_of(64) {
                tokio::task::yield_now().await;
            }
        }
        true
    };
    let all = tokio::time::timeout(ANSWER_TIMEOUT, answering)
        .await
        .unwrap_or(false);
    if !all {
        tracing::debug!(
            "stdout took {answered} of {total} shutdown answers in time; the rest were dropped"
        );
    }
    all
}

/// Ends the session with a `DELETE`, bounded by [`DELETE_TIMEOUT`].
async fn end_session(relay: &Relay) {
    if !relay.session.has_session_id() {
        return;
    }
    let (headers, _) = relay.session.snapshot();
    match tokio::time::timeout(DELETE_TIMEOUT, relay.upstream.delete(&headers)).await {
        Ok(Ok(status)) => tracing::debug!("session DELETE answered {status}"),
        Ok(Err(e)) => tracing::debug!("session DELETE failed: {e:?}"),
        Err(_) => tracing::debug!("session DELETE timed out"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_stops_on_term_int_and_hup() {
        assert_eq!(
            triggers(Family::Unix),
            [Trigger::Sigterm, Trigger::Sigint, Trigger::Sighup]
        );
    }

    #[test]
    fn windows_stops_on_every_console_event() {
        assert_eq!(
            triggers(Family::Windows),
            [
                Trigger::CtrlC,
                Trigger::CtrlBreak,
                Trigger::CtrlClose,
                Trigger::CtrlLogoff,
                Trigger::CtrlShutdown
            ]
        );
    }

    /// Every trigger of this OS's table can be listened to here (on Linux: the three
    /// signals), so the table and the listeners cannot drift apart.
    #[tokio::test]
    async fn every_trigger_of_this_os_has_a_listener() {
        for &t in triggers(Family::current()) {
            assert!(listen(t).is_ok(), "{t:?}");
        }
    }
}
