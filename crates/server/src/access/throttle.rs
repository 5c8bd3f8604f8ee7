//! Sign-in throttling (`docs/security.md`, "Sign-in"): failures are counted per account and
//! per client address; an account with too many failures in a window is locked for a period
//! that doubles with each lockout, an address with too many failures a minute is refused until
//! the minute is over. Unknown accounts are counted like known ones, so a lockout says nothing
//! about whether an account exists.
//!
//! The state is in memory, per replica (behind a load balancer the limits apply per replica),
//! and bounded: each table holds at most [`SignInLimits::max_entries`] keys; when one is full,
//! spent entries go first, then the least recently seen.
//!
//! Failure audit records are bounded too: an account's first failure in its window is audited
//! while a server-wide budget ([`SignInLimits::audits_per_minute`]) lasts; the rest are only
//! counted (`switchyard_sign_in_failures_unaudited`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;

use super::secrets::sha256_hex;

/// The limits; the defaults suit production.
#[derive(Debug, Clone)]
pub struct SignInLimits {
    /// Failures of one account within `account_window` that lock it.
    pub account_failures: u32,
    pub account_window: Duration,
    /// The first lockout's length; each further one doubles it, up to `longest_lockout`.
    pub first_lockout: Duration,
    pub longest_lockout: Duration,
    /// Failures from one address within `address_window` after which it is refused.
    pub address_failures: u32,
    pub address_window: Duration,
    /// Keys kept per table (accounts, addresses).
    pub max_entries: usize,
    /// Failure audit records written per minute, server-wide (lockouts of existing accounts
    /// are always audited).
    pub audits_per_minute: u32,
}

impl Default for SignInLimits {
    fn default() -> Self {
        SignInLimits {
            account_failures: 5,
            account_window: Duration::from_secs(15 * 60),
            first_lockout: Duration::from_secs(60),
            longest_lockout: Duration::from_secs(60 * 60),
            address_failures: 20,
            address_window: Duration::from_secs(60),
            max_entries: 10_000,
            audits_per_minute: 30,
        }
    }
}

/// A fixed window counter.
#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    count: u32,
}

impl Window {
    fn new(now: Instant) -> Window {
        Window {
            started: now,
            count: 0,
        }
    }

    /// Restarts the window when `length` has passed.
    fn roll(&mut self, now: Instant, length: Duration) {
        if now.saturating_duration_since(self.started) >= length {
            *self = Window::new(now);
        }
    }

    fn ends(&self, length: Duration) -> Instant {
        self.started + length
    }
}

#[derive(Debug)]
struct AccountEntry {
    failures: Window,
    /// Whether this window's failure was audited already.
    audited: bool,
    locked_until: Option<Instant>,
    /// Lockouts so far (the next one lasts longer); reset by a successful sign-in.
    lockouts: u32,
    last_seen: Instant,
}

#[derive(Debug)]
struct Tables {
    accounts: HashMap<String, AccountEntry>,
    addresses: HashMap<IpAddr, Window>,
    audit_budget: Window,
    /// Attempts whose password is being checked (bounded by the requests in flight).
    in_flight_accounts: HashMap<String, u32>,
    in_flight_addresses: HashMap<IpAddr, u32>,
}

/// A sign-in attempt in flight: counted against its account's and address's limits until it
/// is dropped.
#[derive(Debug)]
pub struct Attempt<'a> {
    throttle: &'a SignInThrottle,
    tracked: Option<(String, Option<IpAddr>)>,
}

impl<'a> Attempt<'a> {
    fn untracked(throttle: &'a SignInThrottle) -> Attempt<'a> {
        Attempt {
            throttle,
            tracked: None,
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        let Some((key, address)) = self.tracked.take() else {
            return;
        };
        let Ok(mut tables) = self.throttle.tables.lock() else {
            return;
        };
        release(&mut tables.in_flight_accounts, key);
        if let Some(address) = address {
            release(&mut tables.in_flight_addresses, address);
        }
    }
}

/// One fewer in flight for `key`; the entry goes at zero, so the maps stay small.
fn release<K: Eq + std::hash::Hash>(counts: &mut HashMap<K, u32>, key: K) {
    if let std::collections::hash_map::Entry::Occupied(mut entry) = counts.entry(key) {
        *entry.get_mut() = entry.get().saturating_sub(1);
        if *entry.get() == 0 {
            entry.remove();
        }
    }
}

/// What a failure led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// Write a failure audit record (the first of the account's window, within the budget).
    pub audit: bool,
    /// The account became locked by this failure, for this long.
    pub locked_for: Option<Duration>,
}

/// Sign-in throttle state and its counters (registered as metrics by the state).
#[derive(Debug)]
pub struct SignInThrottle {
    limits: SignInLimits,
    tables: Mutex<Tables>,
    /// Failed sign-ins.
    pub failures: Counter,
    /// Failed sign-ins not written to the audit log.
    pub unaudited: Counter,
    /// Sign-ins refused with 429 (locked account or address over its limit).
    pub refused: Counter,
    /// Accounts locked.
    pub lockouts: Counter,
    /// Failure audit records being written (off the request's path).
    pending_audits: Arc<AtomicUsize>,
}

/// One failure audit record being written; dropping it says the write is over.
#[derive(Debug)]
pub struct PendingAudit(Arc<AtomicUsize>);

impl Drop for PendingAudit {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Default for SignInThrottle {
    fn default() -> Self {
        SignInThrottle::new(SignInLimits::default())
    }
}

/// An account's key in the table: fixed size, whatever was typed.
fn account_key(account: &str) -> String {
    sha256_hex(account)
}

impl SignInThrottle {
    pub fn new(limits: SignInLimits) -> SignInThrottle {
        let now = Instant::now();
        SignInThrottle {
            limits,
            tables: Mutex::new(Tables {
                accounts: HashMap::new(),
                addresses: HashMap::new(),
                audit_budget: Window::new(now),
                in_flight_accounts: HashMap::new(),
                in_flight_addresses: HashMap::new(),
            }),
            failures: Counter::default(),
            unaudited: Counter::default(),
            refused: Counter::default(),
            lockouts: Counter::default(),
            pending_audits: Arc::default(),
        }
    }

    /// Marks a failure audit record as being written until the returned guard is dropped.
    pub fn audit_started(&self) -> PendingAudit {
        self.pending_audits.fetch_add(1, Ordering::Relaxed);
        PendingAudit(self.pending_audits.clone())
    }

    /// Failure audit records still being written.
    pub fn pending_audits(&self) -> usize {
        self.pending_audits.load(Ordering::Relaxed)
    }

    pub fn limits(&self) -> &SignInLimits {
        &self.limits
    }

    /// Before a password is checked: `Err(retry after)` when the account is locked, the
    /// address is over its limit, or the attempts already in flight for either would reach
    /// it (so a burst of parallel guesses gets no more tries than a sequence). `Ok` holds the
    /// attempt in flight until it is dropped; record its outcome with
    /// [`SignInThrottle::failed`] or [`SignInThrottle::succeeded`] before dropping it.
    pub fn check(
        &self,
        account: &str,
        address: Option<IpAddr>,
        now: Instant,
    ) -> Result<Attempt<'_>, Duration> {
        let key = account_key(account);
        let address = address.map(address_key);
        let Ok(mut tables) = self.tables.lock() else {
            return Ok(Attempt::untracked(self));
        };
        let limits = &self.limits;
        let mut wait = Duration::ZERO;
        let in_flight = tables.in_flight_accounts.get(&key).copied().unwrap_or(0);
        if let Some(entry) = tables.accounts.get(&key) {
            if let Some(until) = entry.locked_until {
                wait = wait.max(until.saturating_duration_since(now));
            }
            let current =
                now.saturating_duration_since(entry.failures.started) < limits.account_window;
            let failures = if current { entry.failures.count } else { 0 };
            if failures + in_flight >= limits.account_failures {
                wait = wait.max(Duration::from_secs(1));
            }
        } else if in_flight >= limits.account_failures {
            wait = wait.max(Duration::from_secs(1));
        }
        if let Some(address) = address {
            let in_flight = tables
                .in_flight_addresses
                .get(&address)
                .copied()
                .unwrap_or(0);
            let (failures, ends) = match tables.addresses.get(&address) {
                Some(window) if window.ends(limits.address_window) > now => {
                    (window.count, window.ends(limits.address_window))
                }
                _ => (0, now),
            };
            if failures >= limits.address_failures {
                wait = wait.max(ends.saturating_duration_since(now));
            }
            if failures + in_flight >= limits.address_failures {
                wait = wait.max(Duration::from_secs(1));
            }
        }
        if !wait.is_zero() {
            self.refused.inc();
            return Err(wait);
        }
        *tables.in_flight_accounts.entry(key.clone()).or_default() += 1;
        if let Some(address) = address {
            *tables.in_flight_addresses.entry(address).or_default() += 1;
        }
        Ok(Attempt {
            throttle: self,
            tracked: Some((key, address)),
        })
    }

    /// Counts a failed sign-in; says whether to audit it and whether it locked the account.
    /// A real account's (`known`) first failure of a window is always audited; unknown names
    /// draw on the server-wide budget, so they cannot crowd a real account's record out.
    pub fn failed(
        &self,
        account: &str,
        address: Option<IpAddr>,
        now: Instant,
        known: bool,
    ) -> Failure {
        self.failures.inc();
        let address = address.map(address_key);
        let Ok(mut tables) = self.tables.lock() else {
            return Failure {
                audit: false,
                locked_for: None,
            };
        };
        let limits = &self.limits;
        if let Some(address) = address {
            if !tables.addresses.contains_key(&address) {
                make_room(
                    &mut tables.addresses,
                    limits.max_entries,
                    |window| window.ends(limits.address_window) <= now,
                    |window| window.started,
                );
            }
            let window = tables
                .addresses
                .entry(address)
                .or_insert_with(|| Window::new(now));
            window.roll(now, limits.address_window);
            window.count = window.count.saturating_add(1);
        }
        let key = account_key(account);
        if !tables.accounts.contains_key(&key) {
            // A locked account is evicted last: a flood of made-up names must not unlock it.
            make_room(
                &mut tables.accounts,
                limits.max_entries,
                |entry| spent(entry, limits, now),
                |entry| (entry.locked_until.is_some_and(|u| u > now), entry.last_seen),
            );
        }
        let Tables {
            accounts,
            audit_budget,
            ..
        } = &mut *tables;
        let entry = accounts.entry(key).or_insert_with(|| AccountEntry {
            failures: Window::new(now),
            audited: false,
            locked_until: None,
            lockouts: 0,
            last_seen: now,
        });
        entry.last_seen = now;
        if now.saturating_duration_since(entry.failures.started) >= limits.account_window {
            entry.failures = Window::new(now);
            entry.audited = false;
        }
        entry.failures.count = entry.failures.count.saturating_add(1);
        // The window's first failure is audited while the budget lasts; if it did not, a later
        // one of the same window may be.
        let audit = !entry.audited && (known || take_budget(audit_budget, limits, now));
        entry.audited |= audit;
        let mut locked_for = None;
        if entry.failures.count >= limits.account_failures {
            let doubled = limits
                .first_lockout
                .saturating_mul(1_u32 << entry.lockouts.min(16));
            let length = doubled.min(limits.longest_lockout);
            entry.lockouts = entry.lockouts.saturating_add(1);
            entry.locked_until = Some(now + length);
            entry.failures = Window::new(now);
            entry.audited = false;
            locked_for = Some(length);
            self.lockouts.inc();
        }
        if !audit {
            self.unaudited.inc();
        }
        Failure { audit, locked_for }
    }

    /// Takes one audit record from the server-wide budget (for a lockout of an account that
    /// does not exist, audited like a failure).
    pub fn take_audit_budget(&self, now: Instant) -> bool {
        self.tables
            .lock()
            .is_ok_and(|mut tables| take_budget(&mut tables.audit_budget, &self.limits, now))
    }

    /// A successful sign-in forgets the account's failures and lockouts.
    pub fn succeeded(&self, account: &str) {
        if let Ok(mut tables) = self.tables.lock() {
            tables.accounts.remove(&account_key(account));
        }
    }

    /// Keys held (accounts, addresses).
    pub fn entries(&self) -> (usize, usize) {
        self.tables
            .lock()
            .map(|t| (t.accounts.len(), t.addresses.len()))
            .unwrap_or_default()
    }
}

/// The address a client is counted under: an IPv6 client holds a whole /64 (one host's usual
/// allocation), so it is counted per /64, not per address; IPv4-mapped addresses as IPv4.
fn address_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

fn take_budget(budget: &mut Window, limits: &SignInLimits, now: Instant) -> bool {
    budget.roll(now, Duration::from_secs(60));
    if budget.count < limits.audits_per_minute {
        budget.count += 1;
        true
    } else {
        false
    }
}

/// Whether an account entry holds nothing that matters any more: not locked, its window over,
/// and no recent lockout whose doubling it must remember.
fn spent(entry: &AccountEntry, limits: &SignInLimits, now: Instant) -> bool {
    let unlocked = entry.locked_until.is_none_or(|until| until <= now);
    let quiet = now.saturating_duration_since(entry.last_seen);
    unlocked
        && quiet >= limits.account_window
        && (entry.lockouts == 0 || quiet >= limits.longest_lockout * 24)
}

/// Frees a slot in a full table: spent entries go first, else the one that ranks lowest.
fn make_room<K: Clone + Eq + std::hash::Hash, V, R: Ord>(
    table: &mut HashMap<K, V>,
    max: usize,
    spent: impl Fn(&V) -> bool,
    rank: impl Fn(&V) -> R,
) {
    if table.len() < max.max(1) {
        return;
    }
    table.retain(|_, value| !spent(value));
    if table.len() < max.max(1) {
        return;
    }
    if let Some(oldest) = table
        .iter()
        .min_by_key(|(_, value)| rank(value))
        .map(|(key, _)| key.clone())
    {
        table.remove(&oldest);
    }
}

#[cfg(test)]
mod tests;
