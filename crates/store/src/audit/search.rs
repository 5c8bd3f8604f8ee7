//! Searching the audit log newest first with filters, for `GET /api/v1/audit`: the conditions
//! run in the database, so a filter that matches a few records among many still pages by
//! sequence number over the whole log.

use super::{AuditRow, RowColumns};
use crate::{Result, Store};

/// What to narrow the log to. Every condition holds together with the others.
///
/// `resource_segments` and `record_contains` are matched with `LIKE`, which is case-insensitive
/// on SQLite: they may let through records that differ in case only, so a caller that needs an
/// exact match checks the records it gets (`AuditSearch` narrows, it does not decide).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditSearch {
    /// Only records with `seq < before` (paging: the previous page's last `seq`).
    pub before: Option<i64>,
    /// Only records whose resource starts with this, such as `proj/web:env/production:`.
    pub resource_prefix: Option<String>,
    /// Only records whose resource has each of these `:`-separated parts, such as
    /// `env/production` (in `proj/web:env/production:flag/checkout`).
    pub resource_segments: Vec<String>,
    /// Only this action, such as `flag:toggle`.
    pub action: Option<String>,
    /// Only actions starting with this, such as `flag:`.
    pub action_prefix: Option<String>,
    /// Only records at or after this time (Unix ms).
    pub from_ms: Option<i64>,
    /// Only records before this time (Unix ms).
    pub to_ms: Option<i64>,
    /// Only records whose JSON text contains each of these, such as `"account":"ana"`.
    pub record_contains: Vec<String>,
    /// Only records whose JSON text contains at least one of these (ignored when empty): the
    /// shapes one actor may take, such as `"account":"ana"` or `"subject":"ana"`.
    pub record_contains_any: Vec<String>,
}

/// A value bound to a `$n` placeholder.
#[derive(Debug)]
enum Bound {
    Int(i64),
    Text(String),
}

impl AuditSearch {
    /// The `WHERE` clause and its values, in placeholder order.
    fn condition(&self) -> (String, Vec<Bound>) {
        let mut clauses = vec!["seq < $1".to_owned()];
        let mut values = vec![Bound::Int(self.before.unwrap_or(i64::MAX))];
        for (column, prefix) in [
            ("resource", &self.resource_prefix),
            ("action", &self.action_prefix),
        ] {
            if let Some(prefix) = prefix {
                let length = next(Bound::Int(prefix.chars().count() as i64), &mut values);
                let text = next(Bound::Text(prefix.clone()), &mut values);
                clauses.push(format!(
                    "substr({column}, 1, CAST({length} AS INTEGER)) = {text}"
                ));
            }
        }
        if let Some(action) = &self.action {
            let action = next(Bound::Text(action.clone()), &mut values);
            clauses.push(format!("action = {action}"));
        }
        if let Some(from) = self.from_ms {
            clauses.push(format!("at >= {}", next(Bound::Int(from), &mut values)));
        }
        if let Some(to) = self.to_ms {
            clauses.push(format!("at < {}", next(Bound::Int(to), &mut values)));
        }
        for segment in &self.resource_segments {
            let pattern = format!("%:{}:%", escape_like(segment));
            let pattern = next(Bound::Text(pattern), &mut values);
            clauses.push(format!(
                "(':' || resource || ':') LIKE {pattern} ESCAPE '\\'"
            ));
        }
        for text in &self.record_contains {
            let pattern = format!("%{}%", escape_like(text));
            let pattern = next(Bound::Text(pattern), &mut values);
            clauses.push(format!("record LIKE {pattern} ESCAPE '\\'"));
        }
        if !self.record_contains_any.is_empty() {
            let alternatives: Vec<String> = self
                .record_contains_any
                .iter()
                .map(|text| {
                    let pattern = format!("%{}%", escape_like(text));
                    let pattern = next(Bound::Text(pattern), &mut values);
                    format!("record LIKE {pattern} ESCAPE '\\'")
                })
                .collect();
            clauses.push(format!("({})", alternatives.join(" OR ")));
        }
        (clauses.join(" AND "), values)
    }
}

/// Adds `value` and answers its placeholder.
fn next(value: Bound, values: &mut Vec<Bound>) -> String {
    values.push(value);
    format!("${}", values.len())
}

/// `text` with `LIKE`'s wildcards (and the escape character) taken literally.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

impl Store {
    /// Up to `limit` audit records matching `search`, newest first.
    pub async fn audit_search(&self, search: &AuditSearch, limit: i64) -> Result<Vec<AuditRow>> {
        let (condition, values) = search.condition();
        let sql = format!(
            "SELECT seq, at, record, prev_hash, hash, signature FROM audit_log \
             WHERE {condition} ORDER BY seq DESC LIMIT ${}",
            values.len() + 1
        );
        let mut query = sqlx::query_as::<_, RowColumns>(&sql);
        for value in values {
            query = match value {
                Bound::Int(n) => query.bind(n),
                Bound::Text(text) => query.bind(text),
            };
        }
        let rows = query.bind(limit).fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(AuditRow::from_columns).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::{AuditSearch, escape_like};

    #[test]
    fn wildcards_are_literal() {
        assert_eq!(escape_like(r"a_b%c\d"), r"a\_b\%c\\d");
    }

    #[test]
    fn conditions_number_their_placeholders_in_order() {
        let search = AuditSearch {
            before: Some(10),
            action_prefix: Some("flag:".into()),
            from_ms: Some(5),
            resource_segments: vec!["env/prod".into()],
            ..AuditSearch::default()
        };
        let (condition, values) = search.condition();
        assert_eq!(
            condition,
            "seq < $1 AND substr(action, 1, CAST($2 AS INTEGER)) = $3 AND at >= $4 \
             AND (':' || resource || ':') LIKE $5 ESCAPE '\\'"
        );
        assert_eq!(values.len(), 5);
    }

    #[test]
    fn alternatives_are_one_condition() {
        let search = AuditSearch {
            record_contains_any: vec![r#""account":"on""#.into(), r#""id":"on""#.into()],
            ..AuditSearch::default()
        };
        let (condition, values) = search.condition();
        assert_eq!(
            condition,
            "seq < $1 AND (record LIKE $2 ESCAPE '\\' OR record LIKE $3 ESCAPE '\\')"
        );
        assert_eq!(values.len(), 3);
    }
}
