//! Metrics read at scrape time from state kept elsewhere: the store's operation figures, open
//! streams per SDK key and each environment's data age. Nothing here runs per request.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use switchyard_store::Store;

use crate::delivery::Delivery;

/// Keys with their own `sdk_streams_open_by_key` series, those with the most streams first;
/// the streams of the others are summed under `key="_other"`.
const MAX_LABELLED_KEYS: usize = 50;
/// Environments with their own `delivery_data_age_seconds` series, the oldest data first.
const MAX_LABELLED_ENVIRONMENTS: usize = 200;
/// The `key` label of the streams of keys past [`MAX_LABELLED_KEYS`].
const OTHER_KEYS: &str = "_other";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationErrorLabels {
    operation: &'static str,
    kind: &'static str,
}

/// `switchyard_store_operation_duration_seconds{operation}` and
/// `switchyard_store_errors_total{operation,kind}`.
#[derive(Debug)]
pub(super) struct StoreCollector(pub(super) Store);

impl Collector for StoreCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let figures = self.0.stats().figures();
        let mut durations = encoder.encode_descriptor(
            "store_operation_duration_seconds",
            "Store operation latency, by operation",
            None,
            MetricType::Histogram,
        )?;
        for op in &figures {
            let labels = OperationLabels {
                operation: op.op.as_str(),
            };
            // The count is the buckets' sum, so a scrape during a call stays consistent.
            durations
                .encode_family(&labels)?
                .encode_histogram::<NoLabelSet>(op.sum_seconds, op.count(), &op.buckets, None)?;
        }
        let mut errors = encoder.encode_descriptor(
            "store_errors",
            "Store operations that failed, by operation and kind (conflict: a write's expected \
             version was not there; database; corrupt: stored data did not parse)",
            None,
            MetricType::Counter,
        )?;
        for op in &figures {
            for (kind, n) in &op.errors {
                let labels = OperationErrorLabels {
                    operation: op.op.as_str(),
                    kind,
                };
                ConstCounter::new(*n).encode(errors.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

/// `switchyard_sdk_streams_open_by_key{key}` and
/// `switchyard_delivery_data_age_seconds{project,environment}`.
#[derive(Debug)]
pub(super) struct DeliveryCollector(pub(super) Arc<Delivery>);

impl Collector for DeliveryCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let (keys, others) = self.0.open_streams_per_key(MAX_LABELLED_KEYS);
        let mut streams = encoder.encode_descriptor(
            "sdk_streams_open_by_key",
            "Open SDK and OFREP change streams per SDK key id (the keys with the most; the \
             rest summed under key=\"_other\")",
            None,
            MetricType::Gauge,
        )?;
        for (key, open) in &keys {
            let gauge = ConstGauge::new(i64::try_from(*open).unwrap_or(i64::MAX));
            gauge.encode(streams.encode_family(&[("key", key.as_str())])?)?;
        }
        if others > 0 {
            let gauge = ConstGauge::new(i64::try_from(others).unwrap_or(i64::MAX));
            gauge.encode(streams.encode_family(&[("key", OTHER_KEYS)])?)?;
        }

        let mut ages: Vec<(String, String, f64)> = self
            .0
            .loaded_feeds()
            .iter()
            .map(|feed| {
                let age = feed.data_age().map_or(f64::NAN, |age| age.as_secs_f64());
                (feed.project.clone(), feed.env.clone(), age)
            })
            .collect();
        // Oldest (and unknown) first, so a capped list keeps the ones worth a look.
        ages.sort_by(|a, b| {
            let oldest = |age: f64| if age.is_nan() { f64::INFINITY } else { age };
            oldest(b.2)
                .total_cmp(&oldest(a.2))
                .then_with(|| (&a.0, &a.1).cmp(&(&b.0, &b.1)))
        });
        ages.truncate(MAX_LABELLED_ENVIRONMENTS);
        let mut age_family = encoder.encode_descriptor(
            "delivery_data_age_seconds",
            "How old the data served for an environment may be, as its responses say (0 while \
             current; NaN when unknown), per environment loaded",
            None,
            MetricType::Gauge,
        )?;
        for (project, environment, age) in &ages {
            let labels = [("project", project.as_str()), ("environment", environment)];
            ConstGauge::new(*age).encode(age_family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}
