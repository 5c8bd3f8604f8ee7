// Switchyard console: SDK setup snippets. A classic script sharing the page's globals (app.js loads first).
"use strict";

// ---- SDK setup -----------------------------------------------------------------------------
// How to connect an application to the chosen environment: one snippet per SDK, each naming
// this server's origin and the environment, with a copy button. Keys stay placeholders: a
// secret is shown once, when it is created (under Access).

// Copies a snippet. Without the clipboard API (a page served over plain HTTP from another host,
// or a refused permission) the snippet is selected instead, for the person to copy.
async function copySnippet(code, status) {
  clearTimeout(status.clearing);
  try {
    if (!navigator.clipboard) throw new Error("no clipboard");
    await navigator.clipboard.writeText(code.textContent);
    status.textContent = "Copied";
  } catch (_) {
    const range = document.createRange();
    range.selectNodeContents(code);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    status.textContent = "Selected: press Ctrl+C (⌘C) to copy";
  }
  status.clearing = setTimeout(() => { status.textContent = ""; }, 5000);
}

function snippetBlock(snippet) {
  const code = h("code", {}, snippet.code);
  const status = h("span", { class: "copied", role: "status", "aria-live": "polite" });
  return h("section", { class: "snippet", id: `snippet-${snippet.id}`, "data-key-kind": snippet.key },
    h("h3", {}, snippet.title),
    h("p", {}, h("span", { class: `key-kind key-${snippet.key}` }, `${snippet.key} key`), " ", snippet.note),
    h("div", { class: "row" }, h("button", { type: "button", class: "copy", "aria-label": `Copy the ${snippet.title} snippet`,
      onclick: () => copySnippet(code, status) }, "Copy"), status),
    h("pre", {}, code));
}

// The snippets for project `p`, environment `e`, served at `origin`; `flag` is a flag key of the
// project to show (a client-visible one for the browser).
function setupSnippets(origin, p, e, flag, clientFlag) {
  const where = `project ${p}, environment ${e}`;
  const serverKey = `a server key of ${e} (sys_…)`;
  return [
    { id: "curl", title: "Try it with curl (OFREP)", key: "server",
      note: "One evaluation over HTTP, no SDK: check the key and the connection first. It counts as an evaluation (see Check the connection, above).",
      code: `# export SWITCHYARD_SDK_KEY=...   # ${serverKey}
# Switchyard at ${origin}: ${where}
curl -s -X POST '${origin}/ofrep/v1/evaluate/flags/${flag}' \\
  -H "Authorization: Bearer $SWITCHYARD_SDK_KEY" \\
  -H 'Content-Type: application/json' \\
  -d '{"context": {"targetingKey": "user-42", "country": "DE"}}'
` },
    { id: "rust", title: "Rust SDK (local evaluation)", key: "server",
      note: "Evaluates in your process from a live stream of the environment's flags, and sends exposures and metric events.",
      code: `// Cargo.toml: switchyard-sdk (crates/sdk of the Switchyard repository, as a path or git
// dependency), tokio (features "macros", "rt-multi-thread") and serde_json.
// export SWITCHYARD_SDK_KEY=...   # ${serverKey}
// Switchyard at ${origin}: ${where}
use switchyard_sdk::{Client, Context};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let key = std::env::var("SWITCHYARD_SDK_KEY")?;
    let client = Client::builder("${origin}", key).build().await;
    let user = Context::from_json(&serde_json::json!({"key": "user-42", "country": "DE"}))?;
    if client.bool_value("${flag}", &user, false) {
        // the new behaviour
    }
    client.track("checkout_error", &user, 1.0); // a metric event, for guardrails
    client.close().await; // sends what is still queued
    Ok(())
}
` },
    { id: "node", title: "Node.js (OpenFeature over OFREP)", key: "server",
      note: "The official OpenFeature server SDK with its OFREP provider; evaluates remotely.",
      code: `// npm install @openfeature/server-sdk @openfeature/ofrep-provider
// export SWITCHYARD_SDK_KEY=...   # ${serverKey}
// Switchyard at ${origin}: ${where}
import { OpenFeature } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';

await OpenFeature.setProviderAndWait(new OFREPProvider({
  baseUrl: '${origin}',
  headers: [['Authorization', \`Bearer \${process.env.SWITCHYARD_SDK_KEY}\`]],
}));
const client = OpenFeature.getClient();
const on = await client.getBooleanValue('${flag}', false, { targetingKey: 'user-42', country: 'DE' });
` },
    { id: "python", title: "Python (OpenFeature over OFREP)", key: "server",
      note: "The official OpenFeature Python SDK with the OFREP provider.",
      code: `# pip install openfeature-sdk openfeature-provider-ofrep
# export SWITCHYARD_SDK_KEY=...   # ${serverKey}
# Switchyard at ${origin}: ${where}
import os
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.contrib.provider.ofrep import OFREPProvider

key = os.environ["SWITCHYARD_SDK_KEY"]
api.set_provider_and_wait(OFREPProvider("${origin}", headers_factory=lambda: {"Authorization": f"Bearer {key}"}))
client = api.get_client()
on = client.get_boolean_value("${flag}", False, EvaluationContext("user-42", {"country": "DE"}))
` },
    { id: "go", title: "Go (OpenFeature over OFREP)", key: "server",
      note: "The official OpenFeature Go SDK with the OFREP provider from go-sdk-contrib.",
      code: `// go get github.com/open-feature/go-sdk github.com/open-feature/go-sdk-contrib/providers/ofrep
// export SWITCHYARD_SDK_KEY=...   # ${serverKey}
// Switchyard at ${origin}: ${where}
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/open-feature/go-sdk-contrib/providers/ofrep"
	"github.com/open-feature/go-sdk/openfeature"
)

func main() {
	provider := ofrep.NewProvider("${origin}", ofrep.WithBearerToken(os.Getenv("SWITCHYARD_SDK_KEY")))
	if err := openfeature.SetProviderAndWait(provider); err != nil {
		panic(err)
	}
	client := openfeature.NewClient("my-service")
	user := openfeature.NewEvaluationContext("user-42", map[string]any{"country": "DE"})
	on, err := client.BooleanValue(context.Background(), "${flag}", false, user)
	fmt.Println(on, err)
}
` },
    { id: "java", title: "Java (OpenFeature over OFREP)", key: "server",
      note: "The official OpenFeature Java SDK with the OFREP provider from java-sdk-contrib.",
      code: `// Maven: dev.openfeature:sdk and dev.openfeature.contrib.providers:ofrep
// export SWITCHYARD_SDK_KEY=...   # ${serverKey}
// Switchyard at ${origin}: ${where}
import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableMap;
import dev.openfeature.contrib.providers.ofrep.OfrepProvider;
import dev.openfeature.contrib.providers.ofrep.OfrepProviderOptions;
import dev.openfeature.sdk.Client;
import dev.openfeature.sdk.MutableContext;
import dev.openfeature.sdk.OpenFeatureAPI;

// at start-up:
OfrepProviderOptions options = OfrepProviderOptions.builder()
    .baseUrl("${origin}")
    .headers(ImmutableMap.of("Authorization", ImmutableList.of("Bearer " + System.getenv("SWITCHYARD_SDK_KEY"))))
    .build();
OpenFeatureAPI openFeature = OpenFeatureAPI.getInstance();
openFeature.setProviderAndWait(OfrepProvider.constructProvider(options));
Client client = openFeature.getClient();
MutableContext user = new MutableContext("user-42");
user.add("country", "DE");
boolean on = client.getBooleanValue("${flag}", false, user);
` },
    { id: "browser", title: "Browser (OpenFeature web SDK over OFREP)", key: "client",
      note: `A client key is public (it ships in the page): it sees only flags marked visible to client-side SDKs, and the page's origin must be one ${e} allows (Browser origins, above).`,
      code: `// npm install @openfeature/web-sdk @openfeature/ofrep-web-provider   (bundled with your page)
// Switchyard at ${origin}: ${where}. Use a CLIENT key of ${e} (syc_…).
import { OpenFeature } from '@openfeature/web-sdk';
import { OFREPWebProvider } from '@openfeature/ofrep-web-provider';

await OpenFeature.setContext({ targetingKey: 'user-42', country: 'DE' });
await OpenFeature.setProviderAndWait(new OFREPWebProvider({
  baseUrl: '${origin}',
  headers: [['Authorization', 'Bearer syc_YOUR_CLIENT_KEY']],
  pollInterval: 30000, // changes arrive on OFREP's event stream; this polls should it fail
}));
const client = OpenFeature.getClient();
const on = client.getBooleanValue('${clientFlag}', false); // synchronous: from the provider's cache
` },
  ];
}

// Tracking: OpenFeature's `track` through Switchyard's wrappers around the OFREP providers
// (clients/openfeature-tracking-js and -py), which post metric events to the events intake.
function trackingSnippets(origin, p, e, flag) {
  const where = `project ${p}, environment ${e}`;
  const serverKey = `a server key of ${e} (sys_…)`;
  return [
    { id: "track-node", title: "Node.js tracking (track)", key: "server",
      note: "Wraps the OFREP provider so that client.track(…) sends metric events; the same wrapper works around the browser's OFREPWebProvider with a client key.",
      code: `// npm install @openfeature/server-sdk @openfeature/ofrep-provider <switchyard>/clients/openfeature-tracking-js
// export SWITCHYARD_SDK_KEY=...   # ${serverKey}
// Switchyard at ${origin}: ${where}
import { OpenFeature } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { withTracking } from '@switchyard/openfeature-tracking';

const url = '${origin}';
const sdkKey = process.env.SWITCHYARD_SDK_KEY;
await OpenFeature.setProviderAndWait(
  withTracking(new OFREPProvider({ baseUrl: url, headers: [['Authorization', \`Bearer \${sdkKey}\`]] }), { url, sdkKey }),
);
const client = OpenFeature.getClient();
const context = { targetingKey: 'user-42' };
const on = await client.getBooleanValue('${flag}', false, context);
client.track('checkout_error', context);               // value 1
client.track('latency_ms', context, { value: 183 });
await OpenFeature.close();                             // at exit: sends what is queued
` },
    { id: "track-python", title: "Python tracking (track)", key: "server",
      note: "Wraps the OFREP provider so that client.track(…) sends metric events, from a background thread.",
      code: `# pip install openfeature-sdk openfeature-provider-ofrep <switchyard>/clients/openfeature-tracking-py
# export SWITCHYARD_SDK_KEY=...   # ${serverKey}
# Switchyard at ${origin}: ${where}
import os
from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.track import TrackingEventDetails
from switchyard_openfeature_tracking import SwitchyardTrackingProvider

url, key = "${origin}", os.environ["SWITCHYARD_SDK_KEY"]
ofrep = OFREPProvider(url, headers_factory=lambda: {"Authorization": f"Bearer {key}"})
api.set_provider_and_wait(SwitchyardTrackingProvider(ofrep, url=url, sdk_key=key))
client = api.get_client()
context = EvaluationContext("user-42")
on = client.get_boolean_value("${flag}", False, context)
client.track("checkout_error", context)                                # value 1
client.track("latency_ms", context, TrackingEventDetails(value=183.0))
api.shutdown()                                                         # at exit: sends what is queued
` },
  ];
}

// OpenTelemetry: spans with the OpenFeature hooks' `feature_flag.evaluation` event, exported with
// OTLP/HTTP to this server, become the metrics span.error and span.duration_ms of the flag's
// cohorts (docs/opentelemetry.md), which guardrails watch.
function telemetrySnippets(origin, p, e, flag) {
  const where = `project ${p}, environment ${e}`;
  const environment = `# Switchyard at ${origin}: ${where}. A server key of ${e} (sys_…).
export OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=${origin}/v1/traces
export OTEL_EXPORTER_OTLP_HEADERS="authorization=$SWITCHYARD_SDK_KEY"
export OTEL_SERVICE_NAME=checkout
`;
  return [
    { id: "otlp-env", title: "OpenTelemetry exporter settings", key: "server",
      note: "The standard variables every OTLP/HTTP exporter reads (protobuf or JSON, gzip or not).",
      code: environment },
    { id: "otel-node", title: "Node.js spans (OpenFeature OpenTelemetry hooks)", key: "server",
      note: "The SpanEventHook puts each evaluation on the active span; the span's status and duration feed the guardrails.",
      code: `// npm install @opentelemetry/api @opentelemetry/sdk-trace-node @opentelemetry/exporter-trace-otlp-proto @openfeature/open-telemetry-hooks
// With the OpenTelemetry exporter settings above (Switchyard at ${origin}: ${where}),
// and the OFREP provider set as in the Node.js snippet.
import { trace, SpanStatusCode } from '@opentelemetry/api';
import { NodeTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OpenFeature } from '@openfeature/server-sdk';
import { SpanEventHook } from '@openfeature/open-telemetry-hooks';

const tracing = new NodeTracerProvider({ spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())] });
tracing.register();
OpenFeature.addHooks(new SpanEventHook());
const client = OpenFeature.getClient();
const tracer = trace.getTracer('checkout');

await tracer.startActiveSpan('GET /checkout', async (span) => {
  try {
    const on = await client.getBooleanValue('${flag}', false, { targetingKey: 'user-42' });
    // … serve the request
  } catch (error) {
    span.setStatus({ code: SpanStatusCode.ERROR }); // counted as span.error
    throw error;
  } finally {
    span.end();
  }
});
// at exit: await tracing.shutdown(); // sends the spans still queued
` },
    { id: "otel-python", title: "Python spans (OpenFeature OpenTelemetry hook)", key: "server",
      note: "The TracingHook puts each evaluation on the current span; an exception leaving the span marks it as an error.",
      code: `# pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http openfeature-hooks-opentelemetry
# With the OpenTelemetry exporter settings above (Switchyard at ${origin}: ${where}),
# and the OFREP provider set as in the Python snippet.
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from openfeature import api
from openfeature.contrib.hook.opentelemetry import TracingHook
from openfeature.evaluation_context import EvaluationContext

tracing = TracerProvider()
tracing.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
trace.set_tracer_provider(tracing)
api.add_hooks([TracingHook()])
client = api.get_client()
tracer = trace.get_tracer("checkout")

with tracer.start_as_current_span("GET /checkout"):
    on = client.get_boolean_value("${flag}", False, EvaluationContext("user-42"))
    # … serve the request; an exception here sets the span's status to ERROR
` },
  ];
}

async function setupView() {
  if (!state.envs.length) {
    return page("SDK setup", h("p", {}, `Project ${state.project} has no environments yet. `, h("a", { href: "#/projects" }, "Create its first environment")));
  }
  const [env, flags, may, mayKeys] = await Promise.all([api("GET", envPath()), api("GET", `${projectPath()}/flags`).catch(() => []),
    permissions(`proj/${state.project}:env/${state.env}`), permissions(`proj/${state.project}:env/${state.env}:sdk-key/new`)]);
  const booleans = flags.filter((f) => f.kind === "boolean");
  const flag = (booleans[0] || { key: "new-checkout" }).key;
  const clientFlag = (booleans.find((f) => f.client_visible) || { key: flag }).key;
  // Counted only when readable: a refused read would be an audited denial on every visit.
  const keys = mayKeys("sdk-key:read") ? await api("GET", `${envPath()}/sdk-keys`).catch(() => null) : null;
  const origins = env.allowed_origins || [];
  const originsForm = h("form", { class: "row", onsubmit: async (e) => {
    e.preventDefault();
    const list = e.target.origins.value.split(/[\s,]+/).filter(Boolean);
    try {
      await api("PUT", envPath(), { name: env.name, description: env.description, critical: env.critical, allowed_origins: list, version: env.version });
      await start(); saved(`Allowed origins of ${state.env}`);
    } catch (error) { showError(error, originsForm); }
  } },
  h("label", { for: "allowed-origins" }, "Allowed origins (space or comma separated; empty: any origin)"),
  h("input", { id: "allowed-origins", name: "origins", size: 60, value: origins.join(" "), placeholder: "https://app.example https://admin.example" }),
  h("button", { type: "submit" }, `Save allowed origins of ${state.env}`));
  originsForm.addEventListener("input", () => { state.dirty = true; });
  const snippets = setupSnippets(location.origin, state.project, state.env, flag, clientFlag);
  const tracking = trackingSnippets(location.origin, state.project, state.env, flag);
  const telemetry = telemetrySnippets(location.origin, state.project, state.env, flag);
  // Buttons, not links: the hash is the page's route.
  const jump = h("nav", { class: "row", "aria-label": "Jump to a snippet" }, "Jump to:", [...snippets, tracking[0], telemetry[0]].map((s) =>
    h("button", { type: "button", onclick: () => document.getElementById(`snippet-${s.id}`).scrollIntoView() },
      { "otlp-env": "OpenTelemetry", "track-node": "Tracking" }[s.id] || s.title.split(" (")[0])));
  page(`SDK setup for ${state.env}`,
    h("p", {}, `Connect an application to environment ${state.env} of project ${state.project}, served at `, h("code", {}, location.origin), ". New here? ",
      h("a", { href: "#/start" }, "Get started step by step"), "."),
    jump,
    h("h2", {}, "Keys"),
    h("ul", {},
      h("li", {}, h("strong", {}, "Server keys"), " (sys_…) are secret: the Rust SDK, OpenFeature's OFREP providers on servers, event intake and OpenTelemetry traces use them."),
      h("li", {}, h("strong", {}, "Client keys"), " (syc_…) are public: browsers use them with the OFREP web provider. They see only flags marked visible to client-side SDKs, and only pages from the allowed origins below can read the answers.")),
    h("p", {}, "A key is shown once, when it is created (with a Copy button): the snippets show a placeholder; put the key in ",
      h("code", {}, "SWITCHYARD_SDK_KEY"), ". ",
      keys ? `${state.env} has ${plural(keys.filter((k) => k.kind === "server").length, "server key")} and ${plural(keys.filter((k) => k.kind === "client").length, "client key")}. ` : "",
      "Keys are listed and revoked under ", h("a", { href: "#/access" }, "Access"), "."),
    gate(sdkKeyForm(() => route()), mayKeys, "sdk-key:create"),
    h("h2", {}, "Check the connection"),
    h("p", {}, "Run a snippet below with the key (the curl one is quickest): evaluations of any flag in ", state.env, " show here within seconds."),
    evaluationWatch(state.project, state.env),
    h("h2", {}, "Browser origins"),
    h("p", { id: "allowed-origins-now" }, origins.length ? `Pages from ${origins.join(", ")} may read ${state.env}'s client-key answers.` : `Any origin may read ${state.env}'s client-key answers (no list).`),
    gate(originsForm, may, "env:update"),
    h("h2", {}, "Snippets"),
    ...snippets.map(snippetBlock),
    h("h2", {}, "Metric events from OpenFeature (track)"),
    h("p", {}, "OFREP has no tracking endpoint: Switchyard's small OpenFeature tracking packages (in the Switchyard repository, clients/openfeature-tracking-js and clients/openfeature-tracking-py) wrap the OFREP provider, and send what ",
      h("code", {}, "client.track(name, context, {value})"), " records to ", h("code", {}, `${location.origin}/events/v1/bulk`),
      ". Guardrails and per-cohort metrics name these events."),
    ...tracking.map(snippetBlock),
    h("h2", {}, "Guardrails from OpenTelemetry"),
    h("p", {}, "With no Switchyard package at all: spans that carry a flag evaluation (the OpenFeature OpenTelemetry hooks add it), exported with OTLP/HTTP to ",
      h("code", {}, `${location.origin}/v1/traces`), " with a server key, become the metrics ", h("code", {}, "span.error"), " and ", h("code", {}, "span.duration_ms"),
      " of the flag's cohorts. Name them in a release's guardrails like any metric."),
    ...telemetry.map(snippetBlock));
}

