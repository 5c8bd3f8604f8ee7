//! The documented meaning of policy patterns spelled as a regex, the reference the server's
//! matcher is checked against (its property tests and the fuzz target): `*` is `[^:]*` (within
//! one `:`-part), `**` is `.*` (across parts), and a pattern of exactly `*` matches everything.

/// Whether `text` matches the policy pattern `pattern`, by the regex reading.
#[allow(clippy::unwrap_used)] // the expression is built from escaped parts
pub fn glob_by_regex(pattern: &str, text: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let mut expression = String::from("(?s)^");
    let mut rest = pattern;
    while !rest.is_empty() {
        if let Some(tail) = rest.strip_prefix("**") {
            expression.push_str(".*");
            rest = tail;
        } else if let Some(tail) = rest.strip_prefix('*') {
            expression.push_str("[^:]*");
            rest = tail;
        } else {
            let end = rest.find('*').unwrap_or(rest.len());
            expression.push_str(&regex::escape(&rest[..end]));
            rest = &rest[end..];
        }
    }
    expression.push('$');
    regex::Regex::new(&expression).unwrap().is_match(text)
}
