//! How an environment's flags have been evaluated, for the stale-flags report: when each flag
//! was first and last evaluated, and what each variation served since a moment.

use std::collections::BTreeMap;

use crate::{Result, Store};

/// One flag's evaluations in one environment, from `evaluation_counts`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlagUsage {
    /// The first minute (its first millisecond) the flag was evaluated in.
    pub first_minute_ms: i64,
    /// The last minute the flag was evaluated in.
    pub last_minute_ms: i64,
    /// Evaluations in the minutes at or after the query's `since_ms`, per variation key (`""`:
    /// the caller's default was served).
    pub recent: BTreeMap<String, i64>,
}

impl Store {
    /// Every flag of `project`/`env` that was ever evaluated, with its evaluations since
    /// `since_ms` per variation. Two grouped reads; flags never evaluated are absent.
    pub async fn flag_usage(
        &self,
        project: &str,
        env: &str,
        since_ms: i64,
    ) -> Result<BTreeMap<String, FlagUsage>> {
        let spans: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT flag, MIN(minute), MAX(minute) FROM evaluation_counts \
             WHERE project = $1 AND env = $2 GROUP BY flag",
        )
        .bind(project)
        .bind(env)
        .fetch_all(&self.pool)
        .await?;
        let mut usage: BTreeMap<String, FlagUsage> = spans
            .into_iter()
            .map(|(flag, first_minute_ms, last_minute_ms)| {
                let span = FlagUsage {
                    first_minute_ms,
                    last_minute_ms,
                    recent: BTreeMap::new(),
                };
                (flag, span)
            })
            .collect();
        let recent: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT flag, variation, CAST(SUM(count) AS BIGINT) FROM evaluation_counts \
             WHERE project = $1 AND env = $2 AND minute >= $3 GROUP BY flag, variation",
        )
        .bind(project)
        .bind(env)
        .bind(super::minute_of(since_ms))
        .fetch_all(&self.pool)
        .await?;
        for (flag, variation, count) in recent {
            if let Some(flag) = usage.get_mut(&flag) {
                flag.recent.insert(variation, count);
            }
        }
        Ok(usage)
    }
}
