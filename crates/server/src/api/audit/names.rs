//! Audit records read for people: the person or system behind an actor, and the project,
//! environment and flag a resource names (`docs/security.md`, "Reading the audit log").

use std::collections::HashMap;

use serde_json::Value;
use switchyard_store::Store;

use crate::access::TokenRecord;
use crate::error::ApiResult;
use crate::records::{self, GLOBAL};

/// The account a schedule runner acts as (`Caller::schedule_runner`).
const SCHEDULE_RUNNER: &str = "(schedule runner)";

/// The names of actors that are not people, by actor kind (`docs/security.md`, "Reading the
/// audit log").
const SYSTEM_NAMES: [(&str, &str); 3] = [
    ("release", "guard"),
    ("release_plan", "release plan"),
    ("trigger", "trigger"),
];

/// Resolves actors to names, remembering each token's account for the rest of a request.
#[derive(Debug)]
pub(in crate::api) struct Names<'a> {
    store: &'a Store,
    token_accounts: HashMap<String, Option<String>>,
}

impl<'a> Names<'a> {
    pub(in crate::api) fn new(store: &'a Store) -> Names<'a> {
        Names {
            store,
            token_accounts: HashMap::new(),
        }
    }

    /// Who an audit actor is for people: the account behind a token (`scheduler` for the
    /// schedule runner), an account's name, a system actor's name (`guard` for a release's own
    /// decisions, `bootstrap`, `upgrade`), an SSO subject.
    pub(in crate::api) async fn of_actor(&mut self, actor: &Value) -> ApiResult<String> {
        let text = |field: &str| actor.get(field).and_then(Value::as_str);
        let kind = text("kind").unwrap_or_default();
        if let Some((_, name)) = SYSTEM_NAMES.iter().find(|(k, _)| *k == kind) {
            return Ok((*name).to_owned());
        }
        let named = match kind {
            "token" => match text("account") {
                Some(account) => Some(account.to_owned()),
                None => self.of_token(text("id").unwrap_or_default()).await?,
            },
            "account" => text("name").or(text("id")).map(str::to_owned),
            "oidc" => text("subject").map(str::to_owned),
            _ => text("name").or(text("id")).map(str::to_owned),
        };
        Ok(match named.as_deref() {
            Some(SCHEDULE_RUNNER) => "scheduler".to_owned(),
            Some(name) => name.to_owned(),
            None => format!("{kind} {}", text("id").unwrap_or("unknown")),
        })
    }

    /// The name behind a release history's actor: `token:{id}` is its account, `release:{id}`
    /// the guard, `release-plan:{id}` the plan.
    pub(in crate::api) async fn of_history_actor(&mut self, actor: &str) -> ApiResult<String> {
        let (kind, id) = actor.split_once(':').unwrap_or((actor, ""));
        let kind = kind.replace('-', "_");
        self.of_actor(&serde_json::json!({"kind": kind, "id": id}))
            .await
    }

    /// The account that owns token `id` (`None` once the token is deleted).
    async fn of_token(&mut self, id: &str) -> ApiResult<Option<String>> {
        if let Some(known) = self.token_accounts.get(id) {
            return Ok(known.clone());
        }
        let token = records::get::<TokenRecord>(self.store, GLOBAL, id).await?;
        let account = token.map(|token| token.record.account);
        self.token_accounts.insert(id.to_owned(), account.clone());
        Ok(account)
    }
}

/// The texts one of which the record of an actor named `name` contains (as compact JSON), for
/// the database to narrow a search by actor before [`Names::of_actor`] decides: the fields a
/// name is read from, never the bare name, which every record mentioning a flag or variation
/// called `on` would contain.
pub(super) fn actor_hints(name: &str) -> Vec<String> {
    if let Some((kind, _)) = SYSTEM_NAMES.iter().find(|(_, n)| *n == name) {
        return vec![format!(r#""kind":"{kind}""#)];
    }
    let name = if name == "scheduler" {
        SCHEDULE_RUNNER
    } else {
        name
    };
    let quoted = serde_json::to_string(name).unwrap_or_default();
    // A token's account, an account's or a system actor's id, an SSO subject.
    ["account", "id", "subject"]
        .into_iter()
        .map(|field| format!(r#""{field}":{quoted}"#))
        .collect()
}

/// The project, environment and flag a resource names, such as
/// `proj/web:env/production:flag/checkout`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(in crate::api) struct Place {
    pub project: Option<String>,
    pub environment: Option<String>,
    pub flag: Option<String>,
}

impl Place {
    pub(in crate::api) fn of(resource: &str) -> Place {
        let mut place = Place::default();
        for part in resource.split(':') {
            let Some((kind, name)) = part.split_once('/') else {
                continue;
            };
            let slot = match kind {
                "proj" => &mut place.project,
                "env" => &mut place.environment,
                "flag" => &mut place.flag,
                _ => continue,
            };
            *slot = Some(name.to_owned());
        }
        place
    }
}

#[cfg(test)]
mod tests {
    use super::{Place, actor_hints};

    #[test]
    fn places_are_read_from_resources() {
        let place = Place::of("proj/web:env/production:flag/checkout:trigger/t1");
        assert_eq!(place.project.as_deref(), Some("web"));
        assert_eq!(place.environment.as_deref(), Some("production"));
        assert_eq!(place.flag.as_deref(), Some("checkout"));
        assert_eq!(Place::of("account/ana:token/t1"), Place::default());
        assert_eq!(Place::of("proj/web:flag/x").environment, None);
    }

    #[test]
    fn hints_find_the_record_text() {
        assert_eq!(
            actor_hints("ana"),
            [r#""account":"ana""#, r#""id":"ana""#, r#""subject":"ana""#]
        );
        assert_eq!(actor_hints("guard"), [r#""kind":"release""#]);
        assert_eq!(
            actor_hints("scheduler")[0],
            r#""account":"(schedule runner)""#
        );
    }
}
