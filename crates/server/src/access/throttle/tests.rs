//! The throttle's counting, lockouts, eviction and audit budget, at chosen instants.
use super::*;

fn limits() -> SignInLimits {
    SignInLimits {
        max_entries: 3,
        audits_per_minute: 100,
        ..SignInLimits::default()
    }
}

#[test]
fn an_account_locks_after_its_failures_for_a_doubling_period() {
    let throttle = SignInThrottle::new(limits());
    let t0 = Instant::now();
    for i in 0..4 {
        let failure = throttle.failed("alice", None, t0, false);
        assert_eq!(
            failure.audit,
            i == 0,
            "only the window's first failure is audited"
        );
        assert_eq!(failure.locked_for, None);
        assert!(throttle.check("alice", None, t0).is_ok());
    }
    let fifth = throttle.failed("alice", None, t0, false);
    assert_eq!(fifth.locked_for, Some(Duration::from_secs(60)));
    assert_eq!(
        throttle.check("alice", None, t0).err(),
        Some(Duration::from_secs(60))
    );
    assert!(
        throttle.check("bob", None, t0).is_ok(),
        "others are not locked"
    );
    let later = t0 + Duration::from_secs(61);
    assert!(throttle.check("alice", None, later).is_ok());
    for _ in 0..4 {
        throttle.failed("alice", None, later, false);
    }
    let again = throttle.failed("alice", None, later, false);
    assert_eq!(again.locked_for, Some(Duration::from_secs(120)));
    throttle.succeeded("alice");
    assert!(throttle.check("alice", None, later).is_ok());
}

#[test]
fn attempts_in_flight_count_against_the_limits() {
    let throttle = SignInThrottle::new(SignInLimits {
        max_entries: 1000,
        ..limits()
    });
    let t0 = Instant::now();
    // Five guesses at once: a sixth waits for them, and their failures lock the account.
    let held: Vec<Attempt<'_>> = (0..5)
        .filter_map(|_| throttle.check("alice", None, t0).ok())
        .collect();
    assert_eq!(held.len(), 5);
    assert_eq!(
        throttle.check("alice", None, t0).err(),
        Some(Duration::from_secs(1))
    );
    for attempt in held {
        throttle.failed("alice", None, t0, false);
        drop(attempt);
    }
    assert_eq!(
        throttle.check("alice", None, t0).err(),
        Some(Duration::from_secs(60))
    );
    // A right password in flight does not count once it is done.
    let attempt = throttle.check("bob", None, t0);
    throttle.succeeded("bob");
    drop(attempt);
    assert_eq!(throttle.entries(), (1, 0));
    // Twenty at once from one address, whatever the accounts.
    let address: IpAddr = [10, 0, 0, 1].into();
    let held: Vec<Attempt<'_>> = (0..20)
        .filter_map(|i| throttle.check(&format!("u{i}"), Some(address), t0).ok())
        .collect();
    assert_eq!(held.len(), 20);
    assert!(throttle.check("u99", Some(address), t0).is_err());
    drop(held);
    assert!(throttle.check("u99", Some(address), t0).is_ok());
}

#[test]
fn an_address_is_refused_for_the_rest_of_its_minute() {
    let throttle = SignInThrottle::new(SignInLimits {
        max_entries: 1000,
        ..limits()
    });
    let t0 = Instant::now();
    let address: IpAddr = [10, 0, 0, 1].into();
    for i in 0..20 {
        throttle.failed(&format!("user-{i}"), Some(address), t0, false);
    }
    let later = t0 + Duration::from_secs(20);
    assert_eq!(
        throttle.check("user-99", Some(address), later).err(),
        Some(Duration::from_secs(40))
    );
    assert!(
        throttle
            .check("user-99", Some([10, 0, 0, 2].into()), later)
            .is_ok()
    );
    assert!(
        throttle
            .check("user-99", Some(address), t0 + Duration::from_secs(60))
            .is_ok()
    );
}

#[test]
fn the_tables_stay_bounded_and_keep_locked_accounts_longest() {
    let throttle = SignInThrottle::new(limits());
    let t0 = Instant::now();
    for _ in 0..5 {
        throttle.failed("locked", None, t0, false);
    }
    for i in 0..100 {
        let at = t0 + Duration::from_millis(i + 1);
        throttle.failed(
            &format!("guess-{i}"),
            Some([10, 0, 0, i as u8].into()),
            at,
            false,
        );
    }
    assert_eq!(throttle.entries(), (3, 3));
    let soon = t0 + Duration::from_secs(1);
    assert!(
        throttle.check("locked", None, soon).is_err(),
        "a flood of made-up names does not unlock an account"
    );
}

#[test]
fn failure_audits_stop_at_the_budget() {
    let throttle = SignInThrottle::new(SignInLimits {
        audits_per_minute: 2,
        max_entries: 1000,
        ..limits()
    });
    let t0 = Instant::now();
    let audited = (0..10)
        .filter(|i| throttle.failed(&format!("u{i}"), None, t0, false).audit)
        .count();
    assert_eq!(audited, 2);
    assert_eq!(throttle.unaudited.get(), 8);
    // A minute later the budget is back: an account whose failure went unaudited gets one
    // audited; one already audited this window does not.
    let later = t0 + Duration::from_secs(61);
    assert!(throttle.failed("u9", None, later, false).audit);
    assert!(!throttle.failed("u0", None, later, false).audit);
    // Made-up names spending the budget do not keep a real account's failure out.
    let spent = (10..20).all(|i| !throttle.failed(&format!("u{i}"), None, later, false).audit);
    assert!(!spent, "the budget lets some through first");
    assert!(throttle.failed("admin", None, later, true).audit);
}

#[test]
fn an_ipv6_client_is_counted_per_64() {
    let one = IpAddr::from([0x2001, 0xdb8, 1, 2, 0, 0, 0, 1]);
    let other = IpAddr::from([0x2001, 0xdb8, 1, 2, 0xffff, 0, 0, 9]);
    let elsewhere = IpAddr::from([0x2001, 0xdb8, 1, 3, 0, 0, 0, 1]);
    assert_eq!(address_key(one), address_key(other));
    assert_ne!(address_key(one), address_key(elsewhere));
    let mapped = IpAddr::from([0, 0, 0, 0, 0, 0xffff, 0x0a00, 0x0001]);
    assert_eq!(address_key(mapped), IpAddr::from([10, 0, 0, 1]));
}
