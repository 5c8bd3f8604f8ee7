//! Who may do what: secrets and passwords, the authenticated [`Caller`], policies (statements
//! of actions on resource patterns, deny wins), every action name ([`Action`], [`Event`]) and
//! every resource name. The stored identities (accounts, tokens, roles, SDK keys) are records like any other.

mod actions;
mod caller;
mod identities;
pub mod oidc;
mod policy;
pub mod resources;
mod secrets;
mod throttle;

pub use actions::{Action, Event};
pub use caller::{Caller, role_statements};
pub use identities::{
    AccessConfig, AccountRecord, DEFAULT_MAX_TOKEN_LIFETIME_DAYS, RoleRecord, SIGN_IN_TOKEN_DAYS,
    SdkKeyKind, SdkKeyRecord, TokenRecord,
};
pub use policy::{
    BUILTIN_ROLES, Effect, MAX_REQUIRED_APPROVALS, Policy, Statement, builtin_role, glob,
};
pub use secrets::{
    CLIENT_KEY_PREFIX, NewSecret, SERVER_KEY_PREFIX, TOKEN_PREFIX, hash_password, new_secret,
    parse_secret, random_hex, same_secret, sha256_hex, sha256_hex_of, verify_password,
    verify_password_or_dummy,
};
pub use throttle::{Attempt, Failure, PendingAudit, SignInLimits, SignInThrottle};
