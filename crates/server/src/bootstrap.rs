//! What every start does before serving: upgrade stored data ([`off_state`]), and on the first
//! start of an empty database create an admin account and token and a default project.

mod off_state;

use serde_json::json;
use switchyard_store::{AuditRecord, Expected, Store, StoreError};

use crate::access::{AccountRecord, Action, TokenRecord, hash_password, random_hex};
use crate::clock::now_ms;
use crate::records::{self, EnvironmentRecord, GLOBAL, ProjectRecord, Record};

/// What a first start created; the password and token are shown once and stored only hashed.
#[derive(Debug)]
pub struct Bootstrap {
    pub account: String,
    pub password: String,
    pub token: String,
}

/// Upgrades stored data written by an earlier version (once, audited). Then, on an empty
/// database: an `admin` account with an admin token, and a `default` project with `production`
/// and `staging` environments. Replicas starting together race on the account's creation and
/// exactly one wins; the others return `None`, as does every later start.
pub async fn bootstrap(store: &Store) -> Result<Option<Bootstrap>, StoreError> {
    if let Some(flags) = off_state::upgrade(store).await? {
        tracing::info!(flags, "upgrade: every flag's off variation is now explicit");
    }
    if !store.list(AccountRecord::KIND, GLOBAL).await?.is_empty() {
        return Ok(None);
    }
    let password = random_hex(12);
    let password_hash = hash_password(&password).map_err(|e| StoreError::Corrupt(e.message))?;
    let account = AccountRecord {
        name: "admin".into(),
        password_hash: Some(password_hash),
        roles: vec!["admin".into()],
        disabled: false,
        created_at_ms: now_ms(),
        sso_subject: None,
    };
    let (token, plaintext) = TokenRecord::mint("admin", "bootstrap", None, None);
    let project = ProjectRecord {
        key: "default".into(),
        name: "Default project".into(),
        description: String::new(),
    };
    let mut writes = vec![
        records::put(GLOBAL, &account.name, &account, Expected::Absent),
        records::put(GLOBAL, &token.id, &token, Expected::Absent),
        records::put(GLOBAL, &project.key, &project, Expected::Absent),
        off_state::marker_for_new_database(),
    ];
    for env in ["production", "staging"] {
        let environment = EnvironmentRecord {
            key: env.into(),
            name: env.into(),
            description: String::new(),
            critical: env == "production",
            required_approvals: 0,
            allowed_origins: Vec::new(),
        };
        writes.push(records::put(
            &project.key,
            env,
            &environment,
            Expected::Absent,
        ));
    }
    let record = AuditRecord {
        at_ms: now_ms(),
        actor: json!({"kind": "system", "id": "bootstrap"}),
        action: Action::AccountCreate.as_str().into(),
        resource: "account/admin".into(),
        outcome: "allowed".into(),
        before: None,
        after: Some(json!({"account": "admin", "roles": ["admin"], "project": "default"})),
        comment: Some("first start".into()),
        request_id: None,
    };
    match store.commit(&writes, &record).await {
        Ok(_) => Ok(Some(Bootstrap {
            account: "admin".into(),
            password,
            token: plaintext,
        })),
        Err(StoreError::Conflict { .. }) => Ok(None),
        Err(other) => Err(other),
    }
}
