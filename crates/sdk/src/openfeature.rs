//! An OpenFeature provider (`open-feature` crate) backed by a [`Client`]: evaluation stays
//! local; OpenFeature's context becomes a `user` context keyed by `targetingKey` unless it
//! carries `kind` (then it is read as a native single- or multi-kind context).

use open_feature::provider::{
    FeatureProvider, ProviderMetadata, ProviderStatus, ResolutionDetails,
};
use open_feature::{
    EvaluationContext, EvaluationContextFieldValue, EvaluationError, EvaluationErrorCode,
    EvaluationReason, EvaluationResult, FlagMetadata, StructValue, Value as OfValue,
};
use serde_json::{Map, Value};

pub use open_feature;

use crate::{Client, Context, Detail, ErrorKind, Reason};

/// The Switchyard provider. `OpenFeature::singleton_mut().await.set_provider(SwitchyardProvider::new(client))`.
#[derive(Debug)]
pub struct SwitchyardProvider {
    client: Client,
    metadata: ProviderMetadata,
}

impl SwitchyardProvider {
    pub fn new(client: Client) -> SwitchyardProvider {
        SwitchyardProvider {
            client,
            metadata: ProviderMetadata::new("switchyard"),
        }
    }

    fn resolve<T>(
        &self,
        flag: &str,
        context: &EvaluationContext,
        convert: impl Fn(&Value) -> Option<T>,
    ) -> EvaluationResult<ResolutionDetails<T>> {
        let context = to_context(context)?;
        let detail = self.client.json_detail(flag, &context, Value::Null);
        if let Reason::Error { error_kind } = detail.reason {
            return Err(error(error_code(error_kind), "evaluation failed"));
        }
        if detail.variation.is_none() {
            return Err(error(
                EvaluationErrorCode::General("no variation served".into()),
                "the flag serves no variation here: the default applies",
            ));
        }
        let value = convert(&detail.value).ok_or_else(|| {
            error(
                EvaluationErrorCode::TypeMismatch,
                "the flag serves another type",
            )
        })?;
        Ok(details(value, &detail))
    }
}

fn error(code: EvaluationErrorCode, message: &str) -> EvaluationError {
    EvaluationError {
        code,
        message: Some(message.to_owned()),
    }
}

fn error_code(kind: ErrorKind) -> EvaluationErrorCode {
    match kind {
        ErrorKind::FlagNotFound => EvaluationErrorCode::FlagNotFound,
        ErrorKind::WrongType => EvaluationErrorCode::TypeMismatch,
        ErrorKind::ContextInvalid => EvaluationErrorCode::InvalidContext,
        ErrorKind::ClientNotReady => EvaluationErrorCode::ProviderNotReady,
        ErrorKind::MalformedFlag => EvaluationErrorCode::General("malformed flag".into()),
    }
}

fn details<T>(value: T, detail: &Detail<Value>) -> ResolutionDetails<T> {
    let reason = match detail.openfeature_reason {
        "STATIC" => EvaluationReason::Static,
        "DEFAULT" => EvaluationReason::Default,
        "TARGETING_MATCH" => EvaluationReason::TargetingMatch,
        "SPLIT" => EvaluationReason::Split,
        "DISABLED" => EvaluationReason::Disabled,
        "ERROR" => EvaluationReason::Error,
        other => EvaluationReason::Other(other.to_owned()),
    };
    let mut metadata = FlagMetadata::default();
    if let Some(version) = detail.flag_version {
        metadata = metadata.with_value("version", version as i64);
    }
    ResolutionDetails {
        value,
        variant: detail.variation.clone(),
        reason: Some(reason),
        flag_metadata: Some(metadata),
    }
}

fn to_context(context: &EvaluationContext) -> EvaluationResult<Context> {
    let mut object = Map::new();
    if let Some(key) = &context.targeting_key {
        object.insert("targetingKey".into(), Value::String(key.clone()));
    }
    for (name, value) in &context.custom_fields {
        let value = match value {
            EvaluationContextFieldValue::Bool(b) => Value::Bool(*b),
            EvaluationContextFieldValue::Int(i) => Value::from(*i),
            EvaluationContextFieldValue::Float(f) => Value::from(*f),
            EvaluationContextFieldValue::String(s) => Value::String(s.clone()),
            // Milliseconds since the epoch: what the engine's date operators compare.
            EvaluationContextFieldValue::DateTime(t) => {
                Value::from((t.unix_timestamp_nanos() / 1_000_000) as i64)
            }
            EvaluationContextFieldValue::Struct(any) => match any.downcast_ref::<Value>() {
                Some(json) => json.clone(),
                None => continue,
            },
        };
        object.insert(name.clone(), value);
    }
    Context::from_openfeature(&Value::Object(object))
        .map_err(|e| error(EvaluationErrorCode::InvalidContext, &e.to_string()))
}

fn to_openfeature(value: &Value) -> Option<OfValue> {
    Some(match value {
        Value::Bool(b) => OfValue::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => OfValue::Int(i),
            None => OfValue::Float(n.as_f64()?),
        },
        Value::String(s) => OfValue::String(s.clone()),
        Value::Array(items) => OfValue::Array(items.iter().filter_map(to_openfeature).collect()),
        Value::Object(fields) => OfValue::Struct(StructValue {
            fields: fields
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), to_openfeature(v)?)))
                .collect(),
        }),
        Value::Null => return None,
    })
}

#[async_trait::async_trait]
impl FeatureProvider for SwitchyardProvider {
    fn metadata(&self) -> &ProviderMetadata {
        &self.metadata
    }

    fn status(&self) -> ProviderStatus {
        if self.client.is_initialized() {
            ProviderStatus::Ready
        } else {
            ProviderStatus::NotReady
        }
    }

    async fn resolve_bool_value(
        &self,
        flag_key: &str,
        context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<bool>> {
        self.resolve(flag_key, context, Value::as_bool)
    }

    async fn resolve_int_value(
        &self,
        flag_key: &str,
        context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<i64>> {
        self.resolve(flag_key, context, Value::as_i64)
    }

    async fn resolve_float_value(
        &self,
        flag_key: &str,
        context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<f64>> {
        self.resolve(flag_key, context, Value::as_f64)
    }

    async fn resolve_string_value(
        &self,
        flag_key: &str,
        context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<String>> {
        self.resolve(flag_key, context, |v| v.as_str().map(str::to_owned))
    }

    async fn resolve_struct_value(
        &self,
        flag_key: &str,
        context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<StructValue>> {
        self.resolve(flag_key, context, |v| match to_openfeature(v)? {
            OfValue::Struct(s) => Some(s),
            _ => None,
        })
    }
}
