//! What a change subscription receives: which audit records match its filter, the delivery id
//! that names one record for one subscription, and the message in the subscription's format.

use serde_json::{Value, json};
use switchyard_store::{AuditRecord, AuditRow};

use crate::access::glob;
use crate::releases::webhooks::{Format, Webhook};

/// The stable id of the delivery of audit record `seq` to `webhook`: the same on every retry,
/// replica and redelivery, so a receiver can drop repeats.
pub fn delivery_id(webhook: &str, seq: i64) -> String {
    format!("{webhook}-{seq}")
}

/// The audit sequence number a delivery id of `webhook` names.
pub fn delivery_seq(webhook: &str, delivery: &str) -> Option<i64> {
    let seq = delivery.strip_prefix(webhook)?.strip_prefix('-')?;
    seq.parse().ok().filter(|seq: &i64| *seq > 0)
}

/// Whether `record` is a change a subscription of `project` asked for: applied (not a refused
/// attempt), in the project, and matching its resource and action globs (an empty list matches
/// everything).
pub fn matches(hook: &Webhook, project: &str, record: &AuditRecord) -> bool {
    let scope = format!("proj/{project}");
    let in_project = record.resource == scope
        || record
            .resource
            .strip_prefix(&scope)
            .is_some_and(|rest| rest.starts_with(':'));
    let any = |patterns: &[String], text: &str| {
        patterns.is_empty() || patterns.iter().any(|pattern| glob(pattern, text))
    };
    hook.follows_changes()
        && record.outcome == "allowed"
        && in_project
        && any(&hook.resources, &record.resource)
        && any(&hook.actions, &record.action)
}

/// The message body for `row` (whose parsed record is `record`).
pub(super) fn body(
    hook: &Webhook,
    project: &str,
    row: &AuditRow,
    record: &AuditRecord,
) -> serde_json::Result<Vec<u8>> {
    match hook.format {
        Format::Json => {
            let mut message = json!({
                "id": delivery_id(&hook.id, row.seq),
                "type": "change",
                "project": project,
                "webhook": hook.id,
                "seq": row.seq,
                "hash": row.hash,
            });
            if let (Some(message), Value::Object(fields)) =
                (message.as_object_mut(), serde_json::to_value(record)?)
            {
                message.extend(fields);
            }
            serde_json::to_vec(&message)
        }
        Format::Slack => serde_json::to_vec(&json!({"text": slack_text(record)})),
    }
}

/// A change as one line: who did what to which resource, and why.
fn slack_text(record: &AuditRecord) -> String {
    let actor = ["name", "id"]
        .iter()
        .find_map(|key| record.actor[key].as_str())
        .unwrap_or("someone");
    let mut line = format!("{actor}: {} on `{}`", record.action, record.resource);
    if let Some(comment) = record.comment.as_deref().filter(|c| !c.is_empty()) {
        line.push_str(&format!(" ({comment})"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(resources: &[&str], actions: &[&str]) -> Webhook {
        Webhook {
            id: "ab12".into(),
            url: "http://x".into(),
            events: Vec::new(),
            secret: String::new(),
            created_ms: 0,
            resources: resources.iter().map(|r| (*r).to_owned()).collect(),
            actions: actions.iter().map(|a| (*a).to_owned()).collect(),
            format: Format::Json,
        }
    }

    fn change(action: &str, resource: &str, outcome: &str) -> AuditRecord {
        AuditRecord {
            at_ms: 1,
            actor: json!({"kind": "account", "id": "a1", "name": "ada"}),
            action: action.into(),
            resource: resource.into(),
            outcome: outcome.into(),
            before: None,
            after: Some(json!({"on": true})),
            comment: Some("launch".into()),
            request_id: None,
        }
    }

    #[test]
    fn filters_select_applied_changes_of_the_project() {
        let flag = "proj/web:env/production:flag/checkout";
        let toggle = change("flag:toggle", flag, "allowed");
        assert!(matches(&hook(&["*"], &[]), "web", &toggle));
        assert!(matches(
            &hook(&["proj/web:env/production:*"], &[]),
            "web",
            &toggle
        ));
        assert!(!matches(
            &hook(&["proj/web:env/staging:*"], &[]),
            "web",
            &toggle
        ));
        assert!(matches(&hook(&[], &["flag:*"]), "web", &toggle));
        assert!(!matches(&hook(&[], &["segment:*"]), "web", &toggle));
        assert!(matches(&hook(&["*"], &["flag:toggle"]), "web", &toggle));
        // Another project's changes, refused attempts, and a subscription without filters.
        assert!(!matches(&hook(&["*"], &[]), "webshop", &toggle));
        assert!(!matches(&hook(&["*"], &[]), "we", &toggle));
        let denied = change("flag:toggle", flag, "denied");
        assert!(!matches(&hook(&["*"], &[]), "web", &denied));
        assert!(!matches(&hook(&[], &[]), "web", &toggle));
        assert!(matches(
            &hook(&["*"], &[]),
            "web",
            &change("project:update", "proj/web", "allowed")
        ));
    }

    #[test]
    fn delivery_ids_name_one_record_for_one_subscription() {
        assert_eq!(delivery_id("ab12", 42), "ab12-42");
        assert_eq!(delivery_seq("ab12", "ab12-42"), Some(42));
        assert_eq!(delivery_seq("ab12", "cd34-42"), None);
        assert_eq!(delivery_seq("ab12", "ab12-x"), None);
        assert_eq!(delivery_seq("ab12", "ab12-0"), None);
    }

    #[test]
    fn messages_are_the_change_or_a_line_of_text() {
        let record = change("flag:toggle", "proj/web:flag/checkout", "allowed");
        let row = AuditRow {
            seq: 7,
            at_ms: 1,
            record: String::new(),
            prev_hash: String::new(),
            hash: "h".into(),
            signature: None,
        };
        let json_hook = hook(&["*"], &[]);
        let message: Value =
            serde_json::from_slice(&body(&json_hook, "web", &row, &record).unwrap_or_default())
                .unwrap_or_default();
        assert_eq!(message["id"], "ab12-7");
        assert_eq!(message["action"], "flag:toggle");
        assert_eq!(message["after"]["on"], true);
        assert_eq!(message["seq"], 7);
        let slack = Webhook {
            format: Format::Slack,
            ..json_hook
        };
        let message: Value =
            serde_json::from_slice(&body(&slack, "web", &row, &record).unwrap_or_default())
                .unwrap_or_default();
        assert_eq!(
            message,
            json!({"text": "ada: flag:toggle on `proj/web:flag/checkout` (launch)"})
        );
    }
}
