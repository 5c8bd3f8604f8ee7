//! The OpenAPI 3.0 document (schemars' openapi3 settings), built from the route table and the types' JSON Schemas.

use schemars::SchemaGenerator;
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema};
use serde_json::{Map, Value, json};

#[derive(Debug)]
pub(super) struct RouteDoc {
    pub method: &'static str,
    pub path: &'static str,
    /// The access-control action the route checks ("" when it needs no token, "-" when any
    /// valid token will do).
    pub action: &'static str,
    pub summary: &'static str,
    pub request: Option<Schema>,
    pub response: Schema,
}

/// The whole document of the routes `route_docs` describes.
pub(super) fn document(route_docs: fn(&mut SchemaGenerator) -> Vec<RouteDoc>) -> Value {
    let mut generator = SchemaSettings::openapi3().into_generator();
    let routes = route_docs(&mut generator);
    let error = generator.subschema_for::<ErrorBody>();
    let mut paths = Map::new();
    for route in routes {
        let mut parameters: Vec<Value> = route
            .path
            .split('/')
            .filter_map(|part| part.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let (query, headers) = super::query::documented_query(route.method, route.path);
        parameters.extend(query);
        let success = match (route.method, route.request.is_some()) {
            ("post", true) => "201",
            _ => "200",
        };
        let mut operation = json!({
            "operationId": operation_id(route.method, route.path),
            "summary": route.summary,
            "parameters": parameters,
            "responses": {
                success: {"description": "OK", "content": {"application/json": {"schema": route.response}}},
                "default": {"description": "An error", "content": {"application/json": {"schema": error}}}
            }
        });
        if let Some(headers) = headers {
            operation["responses"][success]["headers"] = headers;
        }
        if let Some(request) = route.request {
            operation["requestBody"] =
                json!({"required": true, "content": {"application/json": {"schema": request}}});
        }
        // "" needs no token; "-" needs any valid token and checks no action.
        match route.action {
            "" => operation["security"] = json!([]),
            "-" => {}
            action => operation["x-switchyard-action"] = json!(action),
        }
        let path = format!("/api/v1{}", route.path);
        let entry = paths.entry(path).or_insert_with(|| json!({}));
        entry[route.method] = operation;
    }
    // The console's change stream lives outside the route table: it streams events, not JSON.
    paths.insert(
        "/api/v1/changes".into(),
        json!({"get": {
            "operationId": "get_changes",
            "summary": "Server-sent events: `event: change` with `{\"seq\", \"kinds\"}` after every commit \
                        (the kinds of resource it touched, never keys or values), so open pages re-read",
            "parameters": [],
            "responses": {
                "200": {"description": "An event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                "default": {"description": "An error", "content": {"application/json": {"schema": error}}}
            }
        }}),
    );
    let schemas: Map<String, Value> = generator.take_definitions(true).into_iter().collect();
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Switchyard control plane API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Projects, environments, flags, segments, access control and the audit log. \
                            Every update carries the version it replaces (`If-Match` or `version`)."
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "An API token (syt_…)"}}
        }
    })
}

fn operation_id(method: &str, path: &str) -> String {
    let words: Vec<&str> = path
        .split('/')
        .filter(|part| !part.is_empty() && !part.starts_with('{'))
        .collect();
    let suffix = if path.ends_with('}') { "_item" } else { "" };
    format!("{method}_{}{suffix}", words.join("_").replace('-', "_"))
}

/// The error body every API error has.
#[derive(Debug, serde::Serialize, JsonSchema)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, serde::Serialize, JsonSchema)]
struct ErrorDetail {
    /// One of bad_request, validation_failed, unauthorized, forbidden, not_found, conflict,
    /// precondition_failed, payload_too_large, rate_limited, unavailable, internal.
    code: String,
    message: String,
    field: Option<String>,
    request_id: String,
    current_version: Option<i64>,
}
