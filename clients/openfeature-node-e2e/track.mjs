// Evaluates one flag for each user through the official OpenFeature server SDK and OFREP
// provider wrapped by @switchyard/openfeature-tracking, tracks one metric event per user, and
// prints which variant each user got. Run by crates/cli/tests/cli/tracking.rs, which checks
// through the API that the metric reached those variants' cohorts.
//
// argv[2]: {"flag", "type": "boolean"|"string"|"number", "default", "metric", "value", "users"}
import { OpenFeature } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { withTracking } from '@switchyard/openfeature-tracking';

const url = process.env.SWITCHYARD_URL;
const sdkKey = process.env.SWITCHYARD_SDK_KEY;
const job = JSON.parse(process.argv[2]);

const provider = withTracking(
  new OFREPProvider({ baseUrl: url, headers: [['Authorization', `Bearer ${sdkKey}`]] }),
  { url, sdkKey },
);
await OpenFeature.setProviderAndWait(provider);
const client = OpenFeature.getClient();
const getter = { boolean: 'getBooleanDetails', string: 'getStringDetails', number: 'getNumberDetails' }[job.type];

const variants = {};
for (const user of job.users) {
  const context = { targetingKey: user };
  const details = await client[getter](job.flag, job.default, context);
  if (details.errorCode) throw new Error(`${job.flag} for ${user}: ${details.errorCode} ${details.errorMessage}`);
  variants[user] = details.variant;
  client.track(job.metric, context, { value: job.value });
}
await OpenFeature.close(); // the provider's onClose sends what is queued
console.log(JSON.stringify({ variants, stats: provider.tracking.stats() }));
