// An application under a guarded release: it evaluates a boolean flag for a pool of users, over
// and over, through the official OpenFeature server SDK and OFREP provider wrapped by
// @switchyard/openfeature-tracking, and tracks `error` at a base rate, or at a higher rate for
// users served the new variation (`true`): the regression the release's guardrail should catch.
// After each pass over the pool it prints one JSON line: when the pass ran, its evaluations,
// how many were served `true`, and the errors it tracked. It stops when its stdin closes (or
// after `max_seconds`), sending what is queued.
//
// argv[2]: {"flag", "users", "base_rate", "treated_rate", "concurrency", "max_seconds"}
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

let stopping = false;
process.stdin.on('end', () => (stopping = true));
process.stdin.resume();
const stopAt = Date.now() + job.max_seconds * 1000;

for (let pass = 0; !stopping && Date.now() < stopAt; pass++) {
  const started_ms = Date.now();
  const counts = { evaluations: 0, treated: 0, errors: 0, failed: 0 };
  let next = 0;
  const worker = async () => {
    while (!stopping && next < job.users) {
      const context = { targetingKey: `user-${next++}` };
      const details = await client.getBooleanDetails(job.flag, false, context);
      counts.evaluations++;
      if (details.errorCode) counts.failed++;
      const treated = details.value === true;
      if (treated) counts.treated++;
      if (Math.random() < (treated ? job.treated_rate : job.base_rate)) {
        client.track('error', context);
        counts.errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: job.concurrency }, worker));
  console.log(JSON.stringify({ pass, started_ms, ended_ms: Date.now(), ...counts }));
}
await OpenFeature.close();
console.log(JSON.stringify({ closed: true, stats: provider.tracking.stats() }));
