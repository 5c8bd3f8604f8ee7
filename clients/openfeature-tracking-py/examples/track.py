"""Evaluates one flag for each user through the official OpenFeature Python SDK and OFREP
provider wrapped by SwitchyardTrackingProvider, tracks one metric event per user, and prints
which variant each user got. Run by crates/cli/tests/cli/tracking.rs, which checks through the
API that the metric reached those variants' cohorts.

argv[1]: {"flag", "type": "boolean"|"string"|"float", "default", "metric", "value", "users"}
Environment: SWITCHYARD_URL, SWITCHYARD_SDK_KEY."""

import json
import os
import sys

from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.track import TrackingEventDetails

from switchyard_openfeature_tracking import SwitchyardTrackingProvider

url = os.environ["SWITCHYARD_URL"]
key = os.environ["SWITCHYARD_SDK_KEY"]
job = json.loads(sys.argv[1])

ofrep = OFREPProvider(url, headers_factory=lambda: {"Authorization": f"Bearer {key}"})
provider = SwitchyardTrackingProvider(ofrep, url=url, sdk_key=key)
api.set_provider_and_wait(provider)
client = api.get_client()
get_details = {
    "boolean": client.get_boolean_details,
    "string": client.get_string_details,
    "float": client.get_float_details,
}[job["type"]]

variants = {}
for user in job["users"]:
    context = EvaluationContext(user)
    details = get_details(job["flag"], job["default"], context)
    if details.error_code:
        sys.exit(f"{job['flag']} for {user}: {details.error_code} {details.error_message}")
    variants[user] = details.variant
    client.track(job["metric"], context, TrackingEventDetails(value=job["value"]))
api.shutdown()  # the provider's shutdown sends what is queued
print(json.dumps({"variants": variants, "stats": provider.sender.stats()}))
