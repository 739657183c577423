// Evaluates flags through the OpenFeature server SDK and the OFREP provider for Node.
// stdin: {"baseUrl": "...", "headers": {...}, "cases": [{"flag", "type", "default", "context"}]}
// stdout: one JSON array of {"value", "variant", "reason", "errorCode"}, in the order of the cases.
// Run with NODE_PATH pointing at the node_modules that scripts/setup.sh installs (.node-cache/).
'use strict';

const { OpenFeature } = require('@openfeature/server-sdk');
const { OFREPProvider } = require('@openfeature/ofrep-provider');

const GETTERS = {
  boolean: 'getBooleanDetails',
  string: 'getStringDetails',
  number: 'getNumberDetails',
  object: 'getObjectDetails',
};

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const request = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  await OpenFeature.setProviderAndWait(new OFREPProvider({ baseUrl: request.baseUrl, headers: request.headers || {} }));
  const client = OpenFeature.getClient();
  const out = [];
  for (const c of request.cases) {
    const getter = GETTERS[c.type];
    if (!getter) throw new Error(`unknown type ${c.type}`);
    const d = await client[getter](c.flag, c.default, c.context);
    out.push({ value: d.value, variant: d.variant === undefined ? null : d.variant, reason: d.reason,
               errorCode: d.errorCode === undefined ? null : d.errorCode });
  }
  await OpenFeature.close();
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => {
  process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
