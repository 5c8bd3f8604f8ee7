//! Every action name, written once. [`Action`]s are what a route checks (and a policy statement
//! grants); [`Event`]s are what the audit log records for changes that no route checks by that
//! name (a release's own steps, a kill, a sign-in).

use std::fmt;

macro_rules! names {
    ($(#[$doc:meta])* $name:ident { $( $variant:ident = $text:literal, )* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $( $variant, )* }

        impl $name {
            pub const ALL: &[$name] = &[$( $name::$variant, )*];

            pub const fn as_str(self) -> &'static str {
                match self { $( $name::$variant => $text, )* }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

names! {
    /// An action a route checks; policy statements' action patterns must match one of them.
    Action {
        ProjectRead = "project:read",
        ProjectCreate = "project:create",
        ProjectUpdate = "project:update",
        ProjectDelete = "project:delete",
        EnvRead = "env:read",
        EnvCreate = "env:create",
        EnvUpdate = "env:update",
        EnvDelete = "env:delete",
        FlagRead = "flag:read",
        FlagCreate = "flag:create",
        FlagUpdate = "flag:update",
        FlagToggle = "flag:toggle",
        FlagDelete = "flag:delete",
        FlagArchive = "flag:archive",
        FlagRestore = "flag:restore",
        SegmentRead = "segment:read",
        SegmentCreate = "segment:create",
        SegmentUpdate = "segment:update",
        SegmentDelete = "segment:delete",
        ReleaseRead = "release:read",
        ReleaseCreate = "release:create",
        ReleaseUpdate = "release:update",
        TriggerRead = "trigger:read",
        TriggerCreate = "trigger:create",
        TriggerDelete = "trigger:delete",
        WebhookRead = "webhook:read",
        WebhookCreate = "webhook:create",
        WebhookDelete = "webhook:delete",
        SdkKeyRead = "sdk-key:read",
        SdkKeyCreate = "sdk-key:create",
        SdkKeyDelete = "sdk-key:delete",
        AccountRead = "account:read",
        AccountCreate = "account:create",
        AccountUpdate = "account:update",
        AccountDelete = "account:delete",
        RoleRead = "role:read",
        RoleCreate = "role:create",
        RoleUpdate = "role:update",
        RoleDelete = "role:delete",
        TokenRead = "token:read",
        TokenCreate = "token:create",
        TokenDelete = "token:delete",
        AuditRead = "audit:read",
        AuditVerify = "audit:verify",
        ChangeRequestRead = "change-request:read",
        ChangeRequestUpdate = "change-request:update",
        ChangeRequestApprove = "change-request:approve",
        MetricRead = "metric:read",
        MetricCreate = "metric:create",
        MetricUpdate = "metric:update",
        MetricDelete = "metric:delete",
        ExperimentRead = "experiment:read",
        ExperimentCreate = "experiment:create",
        ExperimentUpdate = "experiment:update",
        ExperimentStart = "experiment:start",
        ExperimentStop = "experiment:stop",
        ExperimentShip = "experiment:ship",
    }
}

names! {
    /// A change the audit log records under a name of its own.
    Event {
        SignIn = "account:sign-in",
        SignInLockout = "account:lockout",
        FlagKill = "flag:kill",
        // The upgrade that made every flag's off variation explicit (`bootstrap`).
        FlagOffVariationUpgrade = "flag:upgrade-off-variation",
        ReleaseStart = "release:start",
        ReleasePause = "release:pause",
        ReleaseResume = "release:resume",
        ReleaseAdvance = "release:advance",
        ReleaseHold = "release:hold",
        ReleaseComplete = "release:complete",
        ReleaseAbort = "release:abort",
        ReleaseRollBack = "release:roll_back",
        // A release plan's steps (`releases::waves`): its creation, a wave started, completed
        // or baked, its end, a person's pause, resume or abort, an earlier wave put back.
        ReleasePlanCreate = "release-plan:create",
        ReleasePlanAdvance = "release-plan:advance",
        ReleasePlanComplete = "release-plan:complete",
        ReleasePlanFail = "release-plan:fail",
        ReleasePlanPause = "release-plan:pause",
        ReleasePlanResume = "release-plan:resume",
        ReleasePlanAbort = "release-plan:abort",
        ReleasePlanRestore = "release-plan:restore",
        // A config apply (`api/config`): every change of a document in one commit.
        ConfigApply = "config:apply",
        ChangeRequestCreate = "change-request:create",
        ChangeRequestRevise = "change-request:revise",
        ChangeRequestReject = "change-request:reject",
        ChangeRequestWithdraw = "change-request:withdraw",
        ChangeRequestConflict = "change-request:conflict",
        ChangeRequestSchedule = "change-request:schedule",
        ChangeRequestExpire = "change-request:expire",
        ChangeRequestFail = "change-request:fail",
    }
}

impl From<Action> for &'static str {
    fn from(action: Action) -> &'static str {
        action.as_str()
    }
}

impl From<Event> for &'static str {
    fn from(event: Event) -> &'static str {
        event.as_str()
    }
}
