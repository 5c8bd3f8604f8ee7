// Evaluates the cases given as JSON in argv[2] through the official OpenFeature server SDK and
// its OFREP provider, and prints each evaluation's details as one JSON array. The assertions
// live in the Rust test that runs this; this script only reports what the real client saw.
import { OpenFeature } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';

const baseUrl = process.env.SWITCHYARD_URL;
const key = process.env.SWITCHYARD_SDK_KEY;
const cases = JSON.parse(process.argv[2]);

// One client per way of presenting the key (and one with a wrong key).
const providers = {
  bearer: new OFREPProvider({ baseUrl, headers: [['Authorization', `Bearer ${key}`]] }),
  apiKey: new OFREPProvider({ baseUrl, headers: [['X-API-Key', key]] }),
  badKey: new OFREPProvider({ baseUrl, headers: [['Authorization', 'Bearer sys_0000_wrong']] }),
};
for (const [domain, provider] of Object.entries(providers)) {
  await OpenFeature.setProviderAndWait(domain, provider);
}

const getters = {
  boolean: 'getBooleanDetails',
  string: 'getStringDetails',
  number: 'getNumberDetails',
  object: 'getObjectDetails',
};

const results = [];
for (const c of cases) {
  const client = OpenFeature.getClient(c.client ?? 'bearer');
  const details = await client[getters[c.type]](c.flag, c.default, c.context ?? {});
  results.push({
    value: details.value,
    variant: details.variant ?? null,
    reason: details.reason ?? null,
    errorCode: details.errorCode ?? null,
    version: details.flagMetadata?.version ?? null,
  });
}
await OpenFeature.close();
console.log(JSON.stringify(results));
