/**
 * bench/bare-proxy: the least a Node reverse proxy can do, as the floor to judge the gateway by.
 * node:http in, one undici Pool out (as the gateway's), the client's assertion moved from
 * `authorization` into the header the services read, the answer buffered and relayed. No
 * routing table, token check, breaker, rate limit, metrics, logs or tracing.
 *
 *   node scripts/run-ts.mjs bench/bare-proxy.ts <port> <upstream base URL> <path prefix to strip>
 *
 * bench/load.ts starts it as its own process, so that its CPU is its own as the gateway's is.
 */
import { createServer } from 'node:http';
import { Pool } from 'undici';
import { ASSERTION_HEADER } from '../services/kit/src/auth';

const [port, upstream, strip = ''] = process.argv.slice(2);
if (!port || !upstream) {
  process.stderr.write('usage: bare-proxy <port> <upstream> [prefix to strip]\n');
  process.exit(2);
}
const pool = new Pool(upstream, { connections: 128, pipelining: 1 });

createServer((request, response) => {
  const assertion = (request.headers.authorization ?? '').replace(/^Bearer /, '');
  const path = request.url!.startsWith(strip) ? request.url!.slice(strip.length) : request.url!;
  pool
    .request({ method: 'GET', path, headers: { accept: request.headers.accept ?? '*/*', [ASSERTION_HEADER]: assertion } })
    .then(async (answer) => {
      const body = Buffer.from(await answer.body.arrayBuffer());
      response.writeHead(answer.statusCode, { 'content-type': String(answer.headers['content-type'] ?? 'application/octet-stream'), 'content-length': body.length });
      response.end(body);
    })
    .catch(() => {
      response.writeHead(502).end();
    });
}).listen(Number(port), '127.0.0.1', () => process.stdout.write('listening\n'));
