//! The floor under everything else in the server: what is stored, as which document kind, in
//! which scope and under which key, and how a stored body is read and written. Each stored type
//! implements [`Record`], so its kind is written once, here or beside the type.
//!
//! Nothing here knows HTTP, authorization or the route table; `api`, `delivery` and `releases`
//! build on this floor, never the other way round.

mod change_requests;
pub mod describe;
pub mod experiments;
mod flags;
mod projects;
mod record;
mod validate;

pub use change_requests::{
    Approval, BaseVersion, ChangeRequestRecord, Operation, RequestState, ScheduleEntry, Step,
};
pub use experiments::{Experiment, ExperimentState, Metric};
pub use flags::{EnvData, EnvFlag, OffServing};
pub use projects::{EnvironmentRecord, ProjectRecord};
pub use record::{
    GLOBAL, Record, Versioned, delete, encode, env_scope, expect_version, get, list, list_keys,
    list_readable, parse, put, put_body,
};
pub use switchyard_engine::model::FlagSpec;
pub use validate::day_start_ms;
pub use validate::normalize_flag_spec;
pub use validate::{new_problems, no_new_problems};
