//! The exactly-once table: every request the client is waiting on, and every request the
//! bridge sent on its own behalf, keyed by the **value** of its id.
//!
//! Invariants:
//! - a key is the canonical value of a JSON-RPC id ([`IdKey`]): `"x\u0041"` and `"xA"` are
//!   one key, so are `7`, `7.0` and `70e-1`. The client's own spelling is kept in the
//!   entry, so its answer goes back exactly as the client wrote the id;
//! - a client request leaves the table exactly once, through [`Pending::take`] (answered),
//!   [`Pending::cancel`] (the client gave up) or [`Pending::drain`] (shutdown). Whoever
//!   holds the removed [`Entry`] is the only one who may write its answer;
//! - an entry may ask for its server response to be handed to the task that serves it
//!   ([`Pending::claim`]) instead of going to stdout: that is how the bridge inspects an
//!   answer (era refusals, input rounds) before the client sees anything. Handing over does
//!   not remove a client entry, so shutdown and deadlines still answer it;
//! - the progress tokens of pending client requests are indexed, and those of the last
//!   few thousand finished ones remembered, so a progress notification for a request that
//!   was answered or cancelled can be told apart.
//!
//! Every method takes the lock briefly and never across an await.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::{Notify, OwnedSemaphorePermit, oneshot};
use tokio::task::AbortHandle;

/// The canonical value of a JSON-RPC id (or progress token): a string's decoded text or a
/// number's exact decimal value, tagged so that `"7"` and `7` stay apart. `null`, objects,
/// arrays, booleans and malformed text have no key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IdKey(std::sync::Arc<str>);

impl IdKey {
    /// The key of a raw JSON id text, or `None` when it is not a usable id.
    pub fn of(raw: &str) -> Option<IdKey> {
        let raw = raw.trim_matches(|c: char| c.is_ascii_whitespace());
        match raw.as_bytes().first()? {
            b'"' => Self::of_string(raw),
            // Fast path, the usual case: a plain integer is its own canonical form.
            b'1'..=b'9' if raw.bytes().all(|b| b.is_ascii_digit()) => {
                let mut key = String::with_capacity(raw.len() + 1);
                key.push('n');
                key.push_str(raw);
                Some(IdKey(key.into()))
            }
            b'-' | b'0'..=b'9' => canonical_number(raw).map(|n| IdKey(n.into())),
            _ => None,
        }
    }

    fn of_string(raw: &str) -> Option<IdKey> {
        let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
        // Fast path, the usual case: no escapes and no control characters, so the text
        // between the quotes is the value.
        if !inner.bytes().any(|b| b == b'\\' || b == b'"' || b < 0x20) {
            let mut key = String::with_capacity(inner.len() + 1);
            key.push('s');
            key.push_str(inner);
            return Some(IdKey(key.into()));
        }
        let decoded: String = serde_json::from_str(raw).ok()?;
        let mut key = String::with_capacity(decoded.len() + 1);
        key.push('s');
        key.push_str(&decoded);
        Some(IdKey(key.into()))
    }
}

/// A JSON number's exact value: `n<sign><digits>` for an integer, else
/// `n<sign><digits>e<exponent>` with no leading or trailing zeros in the digits (zero is `n0`), following RFC 8259's number grammar strictly, so
/// `01`, `1.`, `.5`, `--1` and `1.2.3` are refused. Big integers keep every digit.
fn canonical_number(raw: &str) -> Option<String> {
    let b = raw.as_bytes();
    let mut i = 0;
    let negative = b.first() == Some(&b'-');
    if negative {
        i += 1;
    }
    let int_start = i;
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    let int = &raw[int_start..i];
    if int.is_empty() || (int.len() > 1 && int.starts_with('0')) {
        return None;
    }
    let mut frac = "";
    if b.get(i) == Some(&b'.') {
        let s = i + 1;
        i = s;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        frac = &raw[s..i];
        if frac.is_empty() {
            return None;
        }
    }
    let mut exp: i64 = 0;
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        let neg_exp = match b.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let s = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if s == i {
            return None;
        }
        // An exponent beyond any sane id saturates; equal values still compare equal.
        let e: i64 = raw[s..i].parse().unwrap_or(i64::MAX / 4);
        exp = if neg_exp { -e } else { e };
    }
    if i != b.len() {
        return None;
    }
    // value = digits(int ++ frac) × 10^(exp − len(frac))
    let digits: String = int.chars().chain(frac.chars()).collect();
    let trimmed_lead = digits.trim_start_matches('0');
    if trimmed_lead.is_empty() {
        return Some("n0".into());
    }
    let trimmed = trimmed_lead.trim_end_matches('0');
    let exp = exp
        .saturating_sub(frac.len() as i64)
        .saturating_add((trimmed_lead.len() - trimmed.len()) as i64);
    let sign = if negative { "-" } else { "" };
    // An integer of a sane size is written out (`n700`, as the fast path in `IdKey::of`
    // spells it); anything else in scientific form (`n7e-1`, `n7e400`).
    if (0..=64).contains(&exp) {
        let zeros = "0".repeat(exp as usize);
        return Some(format!("n{sign}{trimmed}{zeros}"));
    }
    Some(format!("n{sign}{trimmed}e{exp}"))
}

/// One request awaiting its answer.
pub struct Entry {
    /// The id exactly as the client wrote it; `None` for the bridge's own requests, whose
    /// answers never reach stdout.
    pub spelling: Option<Box<str>>,
    pub method: Box<str>,
    pub started: Instant,
    /// HTTP status of its exchange, once known (for the debug log).
    pub status: Option<u16>,
    /// The task serving it, aborted on cancellation or shutdown.
    pub task: Option<AbortHandle>,
    /// Sent in the 2026-07-28 era: cancelling is closing its exchange.
    pub modern: bool,
    /// Its `params._meta.progressToken`, if it asked for progress.
    pub progress: Option<IdKey>,
    /// Which reading of stdin registered it (0 for the bridge's own requests): a request
    /// waiting in the stdin queue is known by its key *and* this, so an id the client
    /// reused after a cancellation is never mistaken for the queued one.
    pub seq: u64,
    /// Still waiting in the stdin queue: nothing of it has been sent.
    pub queued: bool,
    /// Where its server response goes instead of stdout (see [`Pending::claim`]).
    claim: Option<oneshot::Sender<Bytes>>,
    /// Its share of `--max-in-flight`; released when the entry leaves the table.
    _permit: Option<OwnedSemaphorePermit>,
}

impl Entry {
    /// A client request.
    pub fn client(spelling: Box<str>, method: &str, permit: Option<OwnedSemaphorePermit>) -> Entry {
        Entry::new(Some(spelling), method, None, permit)
    }

    fn new(
        spelling: Option<Box<str>>,
        method: &str,
        claim: Option<oneshot::Sender<Bytes>>,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Entry {
        Entry {
            spelling,
            method: method.into(),
            started: Instant::now(),
            status: None,
            task: None,
            modern: false,
            progress: None,
            seq: 0,
            queued: false,
            claim,
            _permit: permit,
        }
    }

    /// The id to write an answer under: the client's spelling.
    pub fn id(&self) -> &str {
        self.spelling.as_deref().unwrap_or("null")
    }

    pub fn is_client(&self) -> bool {
        self.spelling.is_some()
    }
}

/// Where a server response goes, decided by [`Pending::route`].
pub enum Route {
    /// The client's answer: the entry has left the table; write it under `entry.id()`.
    Client(Entry),
    /// Handed to the task that claimed it.
    Claimed,
    /// Nobody waits for this id (answered already, cancelled, or never asked).
    Unknown,
}

/// How many tokens of finished requests are remembered (a ring: the oldest go first).
const FINISHED_TOKENS: usize = 4096;

#[derive(Default)]
struct Table {
    entries: HashMap<IdKey, Entry, foldhash::fast::RandomState>,
    /// How many of `entries` are client requests.
    clients: usize,
    /// Progress token → the pending request that carries it.
    tokens: HashMap<IdKey, IdKey, foldhash::fast::RandomState>,
    /// Progress tokens of requests that were answered or cancelled, most recent last.
    finished: std::collections::VecDeque<IdKey>,
    finished_set: std::collections::HashSet<IdKey, foldhash::fast::RandomState>,
}

impl Table {
    fn remove(&mut self, key: &IdKey) -> Option<Entry> {
        let entry = self.entries.remove(key)?;
        if entry.is_client() {
            self.clients -= 1;
        }
        if let Some(token) = &entry.progress {
            self.tokens.remove(token);
            self.finish_token(token.clone());
        }
        Some(entry)
    }

    fn finish_token(&mut self, token: IdKey) {
        if self.finished_set.insert(token.clone()) {
            self.finished.push_back(token);
        }
        while self.finished.len() > FINISHED_TOKENS {
            if let Some(old) = self.finished.pop_front() {
                self.finished_set.remove(&old);
            }
        }
    }

    fn client_count(&self) -> usize {
        self.clients
    }
}

/// The table and the signals around it.
#[derive(Default)]
pub struct Pending {
    table: Mutex<Table>,
    /// Notified whenever the last client request leaves the table.
    drained: Notify,
}

impl Pending {
    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a request; `false` (and nothing changed) when one with the same id value is
    /// still pending: JSON-RPC ids must be unique among requests in flight.
    pub fn insert(&self, key: IdKey, entry: Entry) -> bool {
        self.try_insert(key, entry).is_ok()
    }

    /// [`Pending::insert`], giving the entry back when its id value is taken.
    pub fn try_insert(&self, key: IdKey, entry: Entry) -> Result<(), Entry> {
        let mut t = self.lock();
        if t.entries.contains_key(&key) {
            return Err(entry);
        }
        if let Some(token) = &entry.progress {
            t.tokens.insert(token.clone(), key.clone());
            if t.finished_set.remove(token) {
                t.finished.retain(|f| f != token); // reused by a new request: live again
            }
        }
        if entry.is_client() {
            t.clients += 1;
        }
        t.entries.insert(key, entry);
        Ok(())
    }

    /// Edits a pending entry in place (task handle, status, flags); `false` if it is gone.
    pub fn update(&self, key: &IdKey, f: impl FnOnce(&mut Entry)) -> bool {
        match self.lock().entries.get_mut(key) {
            Some(e) => {
                f(e);
                true
            }
            None => false,
        }
    }

    pub fn contains(&self, key: &IdKey) -> bool {
        self.lock().entries.contains_key(key)
    }

    /// Whether the request registered as (`key`, `seq`) is still pending.
    pub fn is_current(&self, key: &IdKey, seq: u64) -> bool {
        self.lock().entries.get(key).is_some_and(|e| e.seq == seq)
    }

    /// Hands a `--max-in-flight` permit to the queued request (`key`, `seq`); `false` (and
    /// the permit dropped) when it left the table meanwhile.
    pub fn attach_permit(&self, key: &IdKey, seq: u64, permit: OwnedSemaphorePermit) -> bool {
        match self.lock().entries.get_mut(key) {
            Some(e) if e.seq == seq => {
                e._permit = Some(permit);
                e.queued = false;
                true
            }
            _ => false,
        }
    }

    /// When the pending request `key` was read from stdin (its `--request-timeout` clock).
    pub fn started(&self, key: &IdKey) -> Option<Instant> {
        self.lock().entries.get(key).map(|e| e.started)
    }

    /// Removes the queued request (`key`, `seq`) to answer it, if it is still that one.
    pub fn take_current(&self, key: &IdKey, seq: u64) -> Option<Entry> {
        let mut t = self.lock();
        if t.entries.get(key).is_none_or(|e| e.seq != seq) {
            return None;
        }
        self.take_locked(&mut t, key)
    }

    pub fn is_modern(&self, key: &IdKey) -> bool {
        self.lock().entries.get(key).is_some_and(|e| e.modern)
    }

    /// Asks for the next server response to `key` to be handed over instead of written.
    /// `None` when the request is no longer pending.
    pub fn claim(&self, key: &IdKey) -> Option<oneshot::Receiver<Bytes>> {
        let mut t = self.lock();
        let entry = t.entries.get_mut(key)?;
        let (tx, rx) = oneshot::channel();
        entry.claim = Some(tx);
        Some(rx)
    }

    /// Registers one of the bridge's own requests; its response is handed over, never
    /// written. `None` if the id is taken.
    pub fn private(&self, key: IdKey, method: &str) -> Option<oneshot::Receiver<Bytes>> {
        let (tx, rx) = oneshot::channel();
        let entry = Entry::new(None, method, Some(tx), None);
        self.insert(key, entry).then_some(rx)
    }

    /// Decides where a server response for `key` goes.
    pub fn route(&self, key: &IdKey, message: Bytes) -> Route {
        let mut t = self.lock();
        let Some(entry) = t.entries.get_mut(key) else {
            return Route::Unknown;
        };
        if let Some(tx) = entry.claim.take() {
            let private = !entry.is_client();
            // A claimant that went away (its task ended) leaves the entry to the others.
            let handed = tx.send(message).is_ok();
            if private {
                t.remove(key);
            }
            return if handed {
                Route::Claimed
            } else {
                Route::Unknown
            };
        }
        match self.take_locked(&mut t, key) {
            Some(entry) => Route::Client(entry),
            None => Route::Unknown,
        }
    }

    fn take_locked(&self, t: &mut Table, key: &IdKey) -> Option<Entry> {
        let entry = t.remove(key)?;
        if entry.is_client() && t.client_count() == 0 {
            self.drained.notify_waiters();
        }
        Some(entry)
    }

    /// Removes a request to answer it (exit one of three).
    pub fn take(&self, key: &IdKey) -> Option<Entry> {
        let mut t = self.lock();
        self.take_locked(&mut t, key)
    }

    /// Removes a request the client cancelled and stops the task serving it (exit two).
    pub fn cancel(&self, key: &IdKey) -> Option<Entry> {
        let entry = self.take(key)?;
        if let Some(task) = &entry.task {
            task.abort();
        }
        Some(entry)
    }

    /// Removes a request the client cancelled while it still waited in the stdin queue
    /// (exit two, before anything of it was sent); `false` if it is not such a request.
    pub fn cancel_queued(&self, key: &IdKey) -> bool {
        let mut t = self.lock();
        if !t.entries.get(key).is_some_and(|e| e.queued) {
            return false;
        }
        self.take_locked(&mut t, key).is_some()
    }

    /// Removes everything (exit three, at shutdown), stopping every task.
    pub fn drain(&self) -> Vec<Entry> {
        let entries: Vec<Entry> = {
            let mut t = self.lock();
            let keys: Vec<IdKey> = t.entries.keys().cloned().collect();
            keys.iter().filter_map(|k| t.remove(k)).collect()
        };
        for e in &entries {
            if let Some(task) = &e.task {
                task.abort();
            }
        }
        self.drained.notify_waiters();
        entries
    }

    /// The keys of every pending request (the legacy stream fails them all when it ends).
    pub fn keys(&self) -> Vec<IdKey> {
        self.lock().entries.keys().cloned().collect()
    }

    /// Whether progress with this token is stale: its request was answered or cancelled
    /// (and no pending request carries it again). Tokens never seen are not stale: the
    /// bridge withholds only what it knows to be over.
    pub fn progress_is_stale(&self, token: &IdKey) -> bool {
        let t = self.lock();
        !t.tokens.contains_key(token) && t.finished_set.contains(token)
    }

    /// Client requests still waiting.
    pub fn client_count(&self) -> usize {
        self.lock().client_count()
    }

    /// Resolves once no client request is pending (at once if none is).
    pub async fn drained(&self) {
        let notified = self.drained.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.client_count() == 0 {
            return;
        }
        notified.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(raw: &str) -> IdKey {
        IdKey::of(raw).unwrap_or_else(|| panic!("{raw} should be an id"))
    }

    #[test]
    fn ids_are_keyed_by_value() {
        assert_eq!(key(r#""x\u0041""#), key(r#""xA""#));
        assert_eq!(key(r#""a\"b\u00e9""#), key(r#""a\"bé""#));
        assert_eq!(key("7"), key("7.0"));
        assert_eq!(key("7"), key("70e-1"));
        assert_eq!(key("7"), key("0.7E1"));
        assert_eq!(key("-0"), key("0"));
        assert_eq!(key("0.000"), key("0e5"));
        assert_eq!(key("1e2"), key("100"));
        assert_ne!(key("7"), key("\"7\""));
        assert_ne!(key("7"), key("-7"));
        assert_ne!(key("18446744073709551617"), key("18446744073709551616"));
        assert_eq!(key(" 12 "), key("12"));
    }

    #[test]
    fn unusable_ids_have_no_key() {
        for raw in [
            "null", "--1", "01", "1.2.3", "1.", ".5", "1e", "+1", "true", "{}", "[]", "\"a",
            "\"\t\"", "\"\\q\"", "", "0x10", "1 2",
        ] {
            assert!(IdKey::of(raw).is_none(), "{raw:?} should have no key");
        }
    }

    proptest! {
        #[test]
        fn integers_match_serde_json_equality(a in any::<i64>(), zeros in 0usize..4) {
            let plain = a.to_string();
            let padded = format!("{a}.{}", "0".repeat(zeros.max(1)));
            prop_assert_eq!(key(&plain), key(&padded));
        }

        #[test]
        fn any_string_and_its_escaped_spelling_are_one_key(s in "\\PC{0,12}") {
            let plain = serde_json::to_string(&s).unwrap();
            let escaped: String = std::iter::once('"'.to_string())
                .chain(s.encode_utf16().map(|u| format!("\\u{u:04x}")))
                .chain(std::iter::once('"'.to_string()))
                .collect();
            prop_assert_eq!(key(&plain), key(&escaped));
        }

        #[test]
        fn distinct_integers_stay_distinct(a in any::<i64>(), b in any::<i64>()) {
            prop_assume!(a != b);
            prop_assert_ne!(key(&a.to_string()), key(&b.to_string()));
        }

        #[test]
        fn every_request_leaves_exactly_once(ops in proptest::collection::vec((0u8..4, 0u8..6), 0..60)) {
            // Random inserts, answers, cancels: an id is taken at most once per insert, and
            // drain returns exactly what is left.
            let p = Pending::default();
            let mut model = std::collections::HashSet::new();
            for (op, id) in ops {
                let k = key(&id.to_string());
                match op {
                    0 => {
                        let inserted = p.insert(k.clone(), Entry::client(id.to_string().into(), "m", None));
                        prop_assert_eq!(inserted, model.insert(id));
                    }
                    1 => prop_assert_eq!(p.take(&k).is_some(), model.remove(&id)),
                    2 => prop_assert_eq!(p.cancel(&k).is_some(), model.remove(&id)),
                    _ => {
                        let routed = matches!(p.route(&k, Bytes::new()), Route::Client(_));
                        prop_assert_eq!(routed, model.remove(&id));
                    }
                }
            }
            prop_assert_eq!(p.drain().len(), model.len());
            prop_assert_eq!(p.client_count(), 0);
        }
    }

    #[test]
    fn the_answer_keeps_the_clients_spelling() {
        let p = Pending::default();
        assert!(p.insert(
            key(r#""x\u0041""#),
            Entry::client(r#""x\u0041""#.into(), "tools/list", None)
        ));
        match p.route(&key(r#""xA""#), Bytes::new()) {
            Route::Client(e) => assert_eq!(e.id(), r#""x\u0041""#),
            _ => panic!("the respelled answer should find the request"),
        }
        assert!(matches!(
            p.route(&key("\"xA\""), Bytes::new()),
            Route::Unknown
        ));
    }

    #[tokio::test]
    async fn a_claimed_answer_is_handed_over_and_the_entry_stays() {
        let p = Pending::default();
        let k = key("1");
        p.insert(k.clone(), Entry::client("1".into(), "initialize", None));
        let rx = p.claim(&k).unwrap();
        assert!(matches!(
            p.route(&k, Bytes::from_static(b"x")),
            Route::Claimed
        ));
        assert_eq!(rx.await.unwrap(), Bytes::from_static(b"x"));
        assert!(p.contains(&k), "a claimed client request stays until taken");
        assert!(p.take(&k).is_some());
        // The bridge's own requests leave once their answer is handed over.
        let own = key("\"wazion-mcp-x\"");
        let rx = p.private(own.clone(), "server/discover").unwrap();
        assert!(matches!(p.route(&own, Bytes::new()), Route::Claimed));
        assert!(rx.await.is_ok());
        assert!(!p.contains(&own));
    }

    #[test]
    fn progress_goes_stale_when_its_request_leaves() {
        let p = Pending::default();
        let with_token = |id: &str| {
            let mut e = Entry::client(id.into(), "tools/call", None);
            e.progress = Some(key("\"p1\""));
            e
        };
        assert!(
            !p.progress_is_stale(&key("\"p1\"")),
            "never seen: not stale"
        );
        p.insert(key("1"), with_token("1"));
        assert!(!p.progress_is_stale(&key(r#""p\u0031""#)));
        p.cancel(&key("1"));
        assert!(p.progress_is_stale(&key("\"p1\"")));
        p.insert(key("2"), with_token("2"));
        assert!(
            !p.progress_is_stale(&key("\"p1\"")),
            "reused by a new request"
        );
        p.take(&key("2"));
        assert!(p.progress_is_stale(&key("\"p1\"")));
    }

    /// A request waiting in the stdin queue is known by key and `seq`: once the client
    /// cancelled it and reused the id, the queue's copy finds nothing to send or answer.
    #[test]
    fn a_queued_request_is_known_by_key_and_seq() {
        let p = Pending::default();
        let queued = |seq| {
            let mut e = Entry::client("5".into(), "tools/call", None);
            e.seq = seq;
            e.queued = true;
            e
        };
        p.insert(key("5"), queued(1));
        assert!(p.cancel_queued(&key("5")), "cancelled while queued");
        p.insert(key("5"), queued(2));
        assert!(!p.is_current(&key("5"), 1));
        assert!(p.take_current(&key("5"), 1).is_none());
        let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(1));
        let permit = permits.clone().try_acquire_owned().unwrap();
        assert!(!p.attach_permit(&key("5"), 1, permit), "not the queued one");
        assert_eq!(permits.available_permits(), 1, "the permit went back");
        let permit = permits.clone().try_acquire_owned().unwrap();
        assert!(p.attach_permit(&key("5"), 2, permit));
        assert!(
            !p.cancel_queued(&key("5")),
            "sent: no longer cancelled in the queue"
        );
        assert!(p.take_current(&key("5"), 2).is_some());
        assert_eq!(permits.available_permits(), 1);
        assert_eq!(p.client_count(), 0);
    }

    #[tokio::test]
    async fn drained_resolves_when_the_last_client_request_leaves() {
        let p = std::sync::Arc::new(Pending::default());
        p.insert(key("1"), Entry::client("1".into(), "m", None));
        let _own = p.private(key("\"own\""), "m");
        let waiter = tokio::spawn({
            let p = p.clone();
            async move { p.drained().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        p.take(&key("1"));
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("drained should resolve")
            .unwrap();
    }
}
