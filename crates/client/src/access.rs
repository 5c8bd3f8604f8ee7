//! Who may do what: SDK keys, accounts, roles, API tokens, signing in, `/me`; and the audit
//! log that records it.

use serde::Serialize;

use crate::types::{
    AccountInput, AccountView, AuditPage, ChainReportView, Deleted, Me, RoleInput, RoleView,
    SdkKeyInput, SdkKeyView, SignInInput, TokenInput, TokenView,
};
use crate::{Client, Result, in_env};

/// The filters of `GET /audit`: a resource prefix, records before a sequence number, how many.
#[derive(Debug, Default, Clone, Serialize)]
pub struct AuditQuery<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

#[derive(Serialize)]
struct MeQuery<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    resource: Option<&'a str>,
}

impl Client {
    pub async fn sdk_keys(&self, project: &str, env: &str) -> Result<Vec<SdkKeyView>> {
        self.get(&in_env((project, env), &["sdk-keys"])).await
    }

    /// Creates a server or client SDK key; the key is in the answer, once.
    pub async fn create_sdk_key(
        &self,
        project: &str,
        env: &str,
        input: &SdkKeyInput,
    ) -> Result<SdkKeyView> {
        self.post(&in_env((project, env), &["sdk-keys"]), input)
            .await
    }

    pub async fn delete_sdk_key(&self, project: &str, env: &str, id: &str) -> Result<Deleted> {
        let path = in_env((project, env), &["sdk-keys", id]);
        self.delete(&path, None).await
    }

    pub async fn accounts(&self) -> Result<Vec<AccountView>> {
        self.get(&["accounts"]).await
    }

    pub async fn account(&self, name: &str) -> Result<AccountView> {
        self.get(&["accounts", name]).await
    }

    pub async fn create_account(&self, input: &AccountInput) -> Result<AccountView> {
        self.post(&["accounts"], input).await
    }

    pub async fn update_account(&self, input: &AccountInput) -> Result<AccountView> {
        self.put(&["accounts", &input.name], input).await
    }

    pub async fn delete_account(&self, name: &str, comment: Option<&str>) -> Result<Deleted> {
        self.delete(&["accounts", name], comment).await
    }

    pub async fn roles(&self) -> Result<Vec<RoleView>> {
        self.get(&["roles"]).await
    }

    pub async fn role(&self, name: &str) -> Result<RoleView> {
        self.get(&["roles", name]).await
    }

    pub async fn create_role(&self, input: &RoleInput) -> Result<RoleView> {
        self.post(&["roles"], input).await
    }

    pub async fn update_role(&self, input: &RoleInput) -> Result<RoleView> {
        self.put(&["roles", &input.name], input).await
    }

    pub async fn delete_role(&self, name: &str, comment: Option<&str>) -> Result<Deleted> {
        self.delete(&["roles", name], comment).await
    }

    /// The caller's tokens (everyone's with `token:read`).
    pub async fn tokens(&self) -> Result<Vec<TokenView>> {
        self.get(&["tokens"]).await
    }

    /// Creates an API token; the secret is in the answer, once.
    pub async fn create_token(&self, input: &TokenInput) -> Result<TokenView> {
        self.post(&["tokens"], input).await
    }

    pub async fn delete_token(&self, id: &str) -> Result<Deleted> {
        self.delete(&["tokens", id], None).await
    }

    /// Exchanges an account's name and password for a new API token.
    pub async fn sign_in(&self, input: &SignInInput) -> Result<TokenView> {
        self.post(&["auth", "token"], input).await
    }

    /// The caller's account, and the actions its token allows on `resource`.
    pub async fn me(&self, resource: Option<&str>) -> Result<Me> {
        self.get_query(&["me"], &MeQuery { resource }).await
    }

    /// Audit records, newest first.
    pub async fn audit(&self, query: &AuditQuery<'_>) -> Result<AuditPage> {
        self.get_query(&["audit"], query).await
    }

    /// Recomputes the audit hash chain.
    pub async fn verify_audit(&self) -> Result<ChainReportView> {
        self.get(&["audit", "verify"]).await
    }
}
