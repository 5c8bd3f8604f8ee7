// A stub of Switchyard's event intake for the tests: records every request (headers, raw body,
// decoded batch) and answers from a script of responses (the last one repeats).

import http from 'node:http';
import { gunzipSync } from 'node:zlib';

export async function startStub(script = [{ status: 202 }]) {
  const requests = [];
  const waiters = [];
  const answers = [...script];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const text = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw).toString() : raw.toString();
      const answer = answers.length > 1 ? answers.shift() : answers[0];
      requests.push({ method: req.method, url: req.url, headers: req.headers, raw, batch: JSON.parse(text), at: Date.now() });
      for (const waiter of waiters.splice(0)) waiter();
      if (answer.destroy) {
        req.socket.destroy();
        return;
      }
      res.writeHead(answer.status, { 'Content-Type': 'application/json', ...(answer.headers ?? {}) });
      res.end(JSON.stringify(answer.body ?? { accepted: {} }));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    requests,
    /** Resolves once `n` requests have arrived; fails after `seconds`. */
    async waitFor(n, seconds = 10) {
      const deadline = Date.now() + seconds * 1000;
      while (requests.length < n) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} requests (got ${requests.length})`);
        await new Promise((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 100);
        });
      }
      return requests;
    },
    close: () => new Promise((resolve) => {
      server.closeAllConnections?.();
      server.close(resolve);
    }),
  };
}

/** A logger that keeps what it is told. */
export function recordingLogger() {
  const warnings = [];
  return { warnings, warn: (...args) => warnings.push(args.join(' ')) };
}
