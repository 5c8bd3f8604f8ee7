//! Semantic versions for the semver operators, parsed and compared without allocating: a [`Version`]
//! borrows its pre-release identifiers from the input string and comparisons walk them lazily with
//! `split('.')`. Nothing on the evaluation path allocates; only [`OwnedVersion`], built when a flag is
//! compiled, owns a copy of its pre-release string.
//!
//! # Grammar
//!
//! * **Strict** (`parse(s, false)`): SemVer 2.0.0, exactly what the `semver` crate 1.x accepts:
//!   `MAJOR.MINOR.PATCH[-PRE][+BUILD]`; numeric parts are ASCII digits without leading zeros and fit in
//!   a `u64`; pre-release and build identifiers are non-empty `[0-9A-Za-z-]+`, dot-separated; numeric
//!   pre-release identifiers have no leading zeros (build identifiers may). No leading `v`, no
//!   whitespace, nothing after the build.
//! * **Lenient** (`parse(s, true)`): LaunchDarkly's rule (`AttributeValue::as_semver` in
//!   `launchdarkly-server-sdk-evaluation` 2.2.1): try strict; otherwise match `^\d+(\.\d+)?(\.\d+)?`,
//!   append `.0` for each missing part and parse the result strictly. So `"2"`, `"2.0"`, `"2-rc1"`,
//!   `"2+build2"`, `"2.1-beta.1+x"` are accepted (missing parts are 0); the rest of the strict rules still
//!   hold: a leading `v` (`"v1.2.3"`), leading zeros (`"01.2"`), a fourth part (`"1.2.3.4"`) or
//!   whitespace are rejected by LaunchDarkly too.
//!
//! Build metadata is ignored: it is parsed for validity, then dropped (LaunchDarkly clears it,
//! Unleash compares with `cmp_precedence`), so `2.0.0+build` equals `2.0.0`.
//!
//! # Unleash
//!
//! Unleash (yggdrasil 0.21, client specification 14) is strict: constraint values must match
//! `\d+\.\d+\.\d+(-frag)?(\+frag)?` and then `semver::Version::parse`; context values go through
//! `semver::Version::parse`. A constraint value starting with `v` makes the constraint `false`
//! (`F8.invalidSemverWithLeadingV`); `"v2.0.0"` or `"not a semver"` in the context never match.
//! `"1.2"` is not a valid version for Unleash. `parse(_, false)` is that behaviour.
//!
//! # Precedence
//!
//! Major, minor, patch numerically; a pre-release sorts before its release; pre-release identifiers
//! compare left to right, numerically when both are all digits (by length, then bytes: no leading
//! zeros, any length), numeric before alphanumeric, alphanumeric in ASCII order, and a longer list wins
//! when the shorter is its prefix. This is the `semver` crate's `Ord for Prerelease`.
//!
//! # Compiled constants
//!
//! [`OwnedVersion`] holds the numbers and an owned pre-release string; [`OwnedVersion::as_version`]
//! lends a [`Version`] that compares with a context's borrowed version without allocating.

use std::cmp::Ordering;

/// A parsed semantic version borrowing its pre-release identifiers (build metadata dropped).
#[derive(Debug, Clone, Copy)]
pub struct Version<'a> {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pre: &'a str,
}

impl<'a> Version<'a> {
    /// The pre-release identifiers, dot-separated, without the leading `-` (empty for a release).
    pub fn pre(&self) -> &'a str {
        self.pre
    }

    /// Whether this is a pre-release (`1.0.0-rc.1`).
    pub fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }
}

/// Parses `s` as a semantic version; `lenient` also accepts `"1"` and `"1.2"` (missing parts are 0)
/// like LaunchDarkly. See the module docs for the exact grammar.
pub fn parse(s: &str, lenient: bool) -> Option<Version<'_>> {
    let bytes = s.as_bytes();
    let (major, mut i) = numeric(bytes, 0)?;
    let mut minor = 0;
    let mut patch = 0;
    if bytes.get(i) == Some(&b'.') {
        let (m, j) = numeric(bytes, i + 1)?;
        minor = m;
        i = j;
        if bytes.get(i) == Some(&b'.') {
            let (p, j) = numeric(bytes, i + 1)?;
            patch = p;
            i = j;
        } else if !lenient {
            return None;
        }
    } else if !lenient {
        return None;
    }

    let mut pre = "";
    if bytes.get(i) == Some(&b'-') {
        let start = i + 1;
        let end = identifiers(bytes, start, true)?;
        pre = s.get(start..end)?;
        i = end;
    }
    if bytes.get(i) == Some(&b'+') {
        i = identifiers(bytes, i + 1, false)?;
    }
    if i != bytes.len() {
        return None;
    }
    Some(Version {
        major,
        minor,
        patch,
        pre,
    })
}

/// A numeric part at `start`: ASCII digits, no leading zero, fits `u64`. Returns it and its end.
fn numeric(bytes: &[u8], start: usize) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    let mut i = start;
    while let Some(&b) = bytes.get(i) {
        if !b.is_ascii_digit() {
            break;
        }
        if i > start && value == 0 {
            return None; // leading zero
        }
        value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        i += 1;
    }
    if i == start { None } else { Some((value, i)) }
}

/// Non-empty dot-separated `[0-9A-Za-z-]+` identifiers starting at `start`; returns their end. With
/// `pre`, all-digit identifiers may not have leading zeros.
fn identifiers(bytes: &[u8], start: usize, pre: bool) -> Option<usize> {
    let mut i = start;
    loop {
        let seg_start = i;
        let mut all_digits = true;
        while let Some(&b) = bytes.get(i) {
            match b {
                b'0'..=b'9' => {}
                b'A'..=b'Z' | b'a'..=b'z' | b'-' => all_digits = false,
                _ => break,
            }
            i += 1;
        }
        let len = i - seg_start;
        if len == 0 {
            return None;
        }
        if pre && all_digits && len > 1 && bytes.get(seg_start) == Some(&b'0') {
            return None;
        }
        if bytes.get(i) == Some(&b'.') {
            i += 1;
        } else {
            return Some(i);
        }
    }
}

/// Compares two pre-release strings (both non-empty) by SemVer precedence.
fn cmp_pre(a: &str, b: &str) -> Ordering {
    let mut rhs = b.split('.');
    for l in a.split('.') {
        let Some(r) = rhs.next() else {
            return Ordering::Greater;
        };
        let l_num = l.bytes().all(|c| c.is_ascii_digit());
        let r_num = r.bytes().all(|c| c.is_ascii_digit());
        let ord = match (l_num, r_num) {
            (true, true) => l.len().cmp(&r.len()).then_with(|| l.cmp(r)),
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            (false, false) => l.cmp(r),
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    if rhs.next().is_none() {
        Ordering::Equal
    } else {
        Ordering::Less
    }
}

impl Ord for Version<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.major
            .cmp(&other.major)
            .then(self.minor.cmp(&other.minor))
            .then(self.patch.cmp(&other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => cmp_pre(self.pre, other.pre),
            })
    }
}

impl PartialOrd for Version<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version<'_> {}

/// A version owned by a compiled flag (its pre-release string copied), compared with context values
/// through [`OwnedVersion::as_version`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedVersion {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pre: String,
}

impl OwnedVersion {
    /// Parses like [`parse`] and keeps a copy (allocates when there is a pre-release; compile time
    /// only).
    pub fn parse(s: &str, lenient: bool) -> Option<OwnedVersion> {
        parse(s, lenient).map(OwnedVersion::from)
    }

    /// A borrowed view, for allocation-free comparison with a context's [`Version`].
    pub fn as_version(&self) -> Version<'_> {
        Version {
            major: self.major,
            minor: self.minor,
            patch: self.patch,
            pre: &self.pre,
        }
    }
}

impl From<Version<'_>> for OwnedVersion {
    fn from(v: Version<'_>) -> Self {
        OwnedVersion {
            major: v.major,
            minor: v.minor,
            patch: v.patch,
            pre: v.pre.to_owned(),
        }
    }
}

impl Ord for OwnedVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_version().cmp(&other.as_version())
    }
}

impl PartialOrd for OwnedVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq<OwnedVersion> for Version<'_> {
    fn eq(&self, other: &OwnedVersion) -> bool {
        *self == other.as_version()
    }
}

impl PartialOrd<OwnedVersion> for Version<'_> {
    fn partial_cmp(&self, other: &OwnedVersion) -> Option<Ordering> {
        Some(self.cmp(&other.as_version()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version<'_> {
        parse(s, false).unwrap()
    }

    fn lv(s: &str) -> Version<'_> {
        parse(s, true).unwrap()
    }

    #[test]
    fn strict_accepts() {
        let x = v("1.2.3");
        assert_eq!((x.major, x.minor, x.patch, x.pre()), (1, 2, 3, ""));
        let x = v("1.0.0-alpha.1+build.5");
        assert_eq!((x.major, x.minor, x.patch, x.pre()), (1, 0, 0, "alpha.1"));
        assert!(x.is_prerelease());
        assert_eq!(v("0.0.0").major, 0);
        assert_eq!(v("18446744073709551615.0.0").major, u64::MAX);
        assert_eq!(v("1.2.3+001").pre(), "");
        assert_eq!(v("1.2.3-0.a-b.--").pre(), "0.a-b.--");
        assert_eq!(v("1.2.3-x-y-z.-").pre(), "x-y-z.-");
    }

    #[test]
    fn strict_rejects() {
        for s in [
            "",
            "1",
            "1.2",
            "v1.2.3",
            "V1.2.3",
            " 1.2.3",
            "1.2.3 ",
            "01.2.3",
            "1.02.3",
            "1.2.03",
            "1.2.3.4",
            "1.2.3-",
            "1.2.3+",
            "1.2.3-a..b",
            "1.2.3-a.",
            "1.2.3-01",
            "1.2.3-a_b",
            "1.2.3+a..b",
            "1.2.3-+b",
            "1.2.3x",
            "18446744073709551616.0.0",
            "not a semver",
            "1..3",
            "1.2.-3",
            "1.2.3-é",
            "١.2.3",
        ] {
            assert!(parse(s, false).is_none(), "{s:?} should be rejected");
        }
    }

    #[test]
    fn lenient_like_launchdarkly() {
        // launchdarkly/rust-server-sdk-evaluation src/rule.rs test_semver_clauses / test_semver_ops.
        assert_eq!(lv("2.0"), lv("2.0.0"));
        assert_eq!(lv("2"), lv("2.0.0"));
        assert_eq!(lv("2-rc1"), lv("2.0.0-rc1"));
        assert_eq!(lv("2+build2"), lv("2.0.0+build2"));
        assert!(lv("2.0") < lv("2.0.1"));
        assert!(lv("2.0.1") > lv("2.0"));
        assert!(lv("10.0.1") > lv("2.0"));
        assert!(lv("2.0.0-rc") < lv("2.0.0-rc.beta"));
        assert!(lv("2.0.0-rc.1") > lv("2.0.0-rc.0"));
        assert!(lv("2.0.0-rc.2.red") > lv("2.0.0-rc.2.green"));
        assert!(lv("2.0.0-rc.2.green.1") > lv("2.0.0-rc.2.green"));
        assert!(lv("2.0.0-rc") < lv("2.0.0"));
        assert_eq!(lv("2.0.0+build"), lv("2.0.0"));
        assert!(parse("xbad%ver", true).is_none());
        assert!(parse("200", true).is_some_and(|x| x != lv("2.0.0")));
        let x = lv("1.2-beta.1+x");
        assert_eq!((x.major, x.minor, x.patch, x.pre()), (1, 2, 0, "beta.1"));
        for s in [
            "", "v1", "v1.2.3", "1.", "1.2.", "1..2", "01", "1.02", "1.2.3.4", "1-", "1+", "1-01",
            " 1", "1 ", "1.x", "1.2x", "-1",
        ] {
            assert!(parse(s, true).is_none(), "{s:?} should be rejected");
        }
    }

    #[test]
    fn unleash_specification_14() {
        // shared/conformance/unleash-client-specification/14-constraint-semver-operators.json
        let c = v("1.2.2");
        assert!(v("1.2.2") == c);
        assert!(v("1.2.0") != c);
        assert!(v("1.2.3") > c);
        assert!(v("1.2.0") <= c);
        assert!(v("1.2.1") < c);
        let alpha1 = v("2.0.0-alpha.1");
        assert!(v("2.0.0-beta.1") > alpha1);
        assert!(v("2.0.0") > alpha1);
        assert!(v("1.9.1-beta.1") < alpha1);
        let alpha3 = v("2.0.0-alpha.3");
        assert!(v("2.0.0-alpha.1") < alpha3);
        assert!(v("2.0.0-alpha.4") > alpha3);
        assert!(v("2.0.0-alpha.1") > v("2.0.0-alpha"));
        let rc = v("2.0.0-rc");
        assert!(v("2.0.0-alpha.1") < rc);
        assert!(v("2.0.0-beta.1") < rc);
        assert!(v("2.0.0") > rc);
        assert!(parse("v2.0.0", false).is_none());
        assert!(parse("not a semver", false).is_none());
    }

    #[test]
    fn semver_spec_precedence_chain() {
        // semver.org §11.
        let chain = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.1.0",
            "2.0.0",
            "2.1.0",
            "2.1.1",
            "10.0.0",
        ];
        for (i, a) in chain.iter().enumerate() {
            for (j, b) in chain.iter().enumerate() {
                assert_eq!(v(a).cmp(&v(b)), i.cmp(&j), "{a} vs {b}");
            }
        }
        // Numeric identifiers of any length compare numerically.
        assert!(v("1.0.0-99999999999999999999999") > v("1.0.0-9999999999999999999999"));
        assert!(v("1.0.0-1") < v("1.0.0-a"));
        assert!(v("1.0.0-A") < v("1.0.0-a"));
        assert!(v("1.0.0-a-") > v("1.0.0-a"));
    }

    #[test]
    fn owned_versions_compare_with_borrowed() {
        let c = OwnedVersion::parse("2.0.0-rc.1", false).unwrap();
        assert!(v("2.0.0") > c);
        assert!(v("2.0.0-rc.0") < c);
        assert!(v("2.0.0-rc.1+b") == c);
        assert_eq!(c.as_version().pre(), "rc.1");
        assert_eq!(
            OwnedVersion::parse("2", true).unwrap(),
            OwnedVersion::parse("2.0.0", false).unwrap()
        );
        assert!(OwnedVersion::parse("2", false).is_none());
        assert!(
            OwnedVersion::parse("1.0.0", false).unwrap()
                < OwnedVersion::parse("1.0.1", false).unwrap()
        );
    }
}
