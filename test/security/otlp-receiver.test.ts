/**
 * msctl's OTLP receiver against what reaches it uninvited: a gzip bomb (1 GiB of zeros in 1 MiB)
 * is refused with 413 while it streams in, without the receiver's memory growing; a sender
 * without the stack's token gets 401; the kit's exporter shows that token, and the docker
 * runtime names the stack network's own gateway as the receiver's address. No Kafka or
 * PostgreSQL: runs with vitest.unit.config.ts.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createDeflate, createGzip, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTracing, otlpHeaders } from '@msctl/kit';
import { isMsctlError } from '../../src/core/errors';
import { receiverHost } from '../../src/runtime/docker/state';
import { serviceSpec } from '../../src/runtime/docker/spec';
import { loadProject } from '../../src/stack/project';
import type { StackSecrets } from '../../src/stack/secrets';
import { MAX_DECODED_BYTES, MAX_WIRE_BYTES, startTraceReceiver, type TraceReceiver } from '../../src/traces/receiver';
import { readSpans } from '../../src/traces/store';
import { repoRoot } from '../support/cli';

const MiB = 1024 * 1024;
const TOKEN = 'the-stacks-own-otlp-token-'.repeat(2);

let dir: string;
let receiver: TraceReceiver;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'msctl-otlp-receiver-'));
  receiver = await startTraceReceiver({ dir, token: TOKEN });
});
afterAll(async () => {
  await receiver?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** `megabytes` MiB of zeros through zlib, one MiB at a time: the bomb is built without ever holding what it inflates to. */
async function compressedZeros(megabytes: number, compressor: NodeJS.ReadWriteStream): Promise<Buffer> {
  const zeros = Buffer.alloc(MiB);
  const chunks: Buffer[] = [];
  for await (const chunk of Readable.from((function* () {
    for (let i = 0; i < megabytes; i++) yield zeros;
  })()).pipe(compressor)) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

interface Answer {
  status: number;
  body: string;
  ms: number;
}

/**
 * POSTs `body` to the receiver in 64 KiB writes, as a client streaming an upload would. The answer
 * may come before the upload is done; what the client fails to write after that is ignored.
 */
function post(body: Buffer | Readable, headers: Record<string, string>): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const request = httpRequest(`${receiver.url}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - started }));
      response.on('error', reject);
    });
    let answered = false;
    request.on('response', () => {
      answered = true;
    });
    request.on('error', (error) => {
      if (!answered) reject(error);
    });
    const source = Buffer.isBuffer(body) ? Readable.from((function* () {
      for (let offset = 0; offset < body.length; offset += 64 * 1024) yield body.subarray(offset, offset + 64 * 1024);
    })()) : body;
    source.pipe(request);
  });
}

const authorized = { authorization: `Bearer ${TOKEN}` };

function validExport(name: string): Buffer {
  return Buffer.from(JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: 'ab'.repeat(16), spanId: `${Math.random().toString(16).slice(2, 10).padEnd(8, '0')}`.repeat(2), name, kind: 2 }] }] }] }));
}

/** This process's peak resident set (VmHWM), reset first where the kernel allows it. */
function peakRss(): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return Number(match?.[1] ?? 0) * 1024;
}
function resetPeakRss(): void {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    // Not permitted here: the peak then starts from the highest point so far, which only makes the check stricter.
  }
}

describe('bounded, streamed decompression', () => {
  it('refuses a 1 GiB gzip bomb with 413 as it streams in, without growing, and takes a valid export after it', async () => {
    const bomb = await compressedZeros(1024, createGzip({ level: 9 }));
    expect(bomb.length).toBeLessThan(2 * MiB); // 1 GiB once inflated
    global.gc?.();
    resetPeakRss();
    const before = peakRss();
    const answer = await post(bomb, { ...authorized, 'content-encoding': 'gzip' });
    const grown = peakRss() - before;
    expect(answer.status, answer.body).toBe(413);
    expect(answer.body).toContain('decompressed request body larger than');
    expect(answer.ms).toBeLessThan(5_000);
    // Inflating it whole would be 1 GiB; streamed, the receiver holds at most its limit.
    expect(grown, `peak RSS grew by ${Math.round(grown / MiB)} MiB`).toBeLessThan(MAX_DECODED_BYTES + 96 * MiB);

    const after = await post(gzipSync(validExport('after-the-bomb')), { ...authorized, 'content-encoding': 'gzip' });
    expect(after.status, after.body).toBe(200);
    expect((await readSpans(dir)).map((span) => span.name)).toContain('after-the-bomb');
  }, 60_000);

  it('refuses a deflate bomb the same way', async () => {
    const bomb = await compressedZeros(64, createDeflate({ level: 9 }));
    const answer = await post(bomb, { ...authorized, 'content-encoding': 'deflate' });
    expect(answer.status, answer.body).toBe(413);
  }, 60_000);

  it('bounds the body on the wire too: by its content-length before reading, and by counting when it is chunked', async () => {
    // Only the headers go out: the answer must not wait for a body the receiver will never take.
    const declared = await new Promise<number>((resolve, reject) => {
      const request = httpRequest(`${receiver.url}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(MAX_WIRE_BYTES + 1), ...authorized } }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
        request.destroy();
      });
      request.on('error', reject);
      request.flushHeaders();
    });
    expect(declared).toBe(413);
    const endless = Readable.from((function* () {
      const block = Buffer.alloc(MiB, 0x20);
      for (let i = 0; i < 1024; i++) yield block; // 1 GiB, unless the receiver stops it
    })());
    const chunked = await post(endless, authorized);
    expect(chunked.status).toBe(413);
    expect(chunked.body).toContain(`request body larger than ${MAX_WIRE_BYTES} bytes`);
    endless.destroy();
  }, 60_000);

  it('lets a client that is still sending read its 413: the refused body is drained for a moment, never reset under it', async () => {
    // Closing the socket as soon as the answer is out resets a connection the client is still
    // writing to; the client then sees EPIPE instead of the answer, a few times in forty.
    const outcomes: string[] = [];
    for (let i = 0; i < 40; i++) {
      const block = Buffer.alloc(MiB, 0x20);
      const answer = await post(Readable.from((function* () {
        for (let j = 0; j < 64; j++) yield block;
      })()), authorized).catch((error: NodeJS.ErrnoException) => ({ status: error.code ?? String(error) }));
      outcomes.push(String(answer.status));
    }
    expect(outcomes.filter((outcome) => outcome !== '413')).toEqual([]);
  }, 120_000);

  it('answers 400, not 500, to a body that is not what its content-encoding says', async () => {
    const answer = await post(Buffer.from('not gzip at all'), { ...authorized, 'content-encoding': 'gzip' });
    expect(answer.status).toBe(400);
    const unknown = await post(Buffer.from('{}'), { ...authorized, 'content-encoding': 'br' });
    expect(unknown.status).toBe(415);
  });
});

describe('the stack token', () => {
  it('answers 401 without the token, with another one, or with it in the wrong scheme', async () => {
    const body = validExport('unauthorized');
    const attempts: Array<Record<string, string>> = [{}, { authorization: 'Bearer wrong' }, { authorization: `Bearer ${TOKEN}x` }, { authorization: `Basic ${TOKEN}` }, { authorization: TOKEN }];
    for (const headers of attempts) {
      const answer = await post(body, headers);
      expect(answer.status, JSON.stringify(headers)).toBe(401);
    }
    expect((await readSpans(dir)).map((span) => span.name)).not.toContain('unauthorized');
    const accepted = await post(validExport('authorized'), authorized);
    expect(accepted.status).toBe(200);
  });

  it('refuses an unauthenticated bomb before reading it', async () => {
    const bomb = await compressedZeros(64, createGzip({ level: 9 }));
    const answer = await post(bomb, { 'content-encoding': 'gzip' });
    expect(answer.status).toBe(401);
  }, 60_000);

  it('needs a token to start', async () => {
    await expect(startTraceReceiver({ dir, token: '' })).rejects.toThrow(/token/);
  });

  it('parses OTEL_EXPORTER_OTLP_HEADERS as the OTel spec says: comma-separated, URL-decoded, per-signal wins', () => {
    expect(otlpHeaders({ OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20abc , x-team = a%2Cb' })).toEqual({ authorization: 'Bearer abc', 'x-team': 'a,b' });
    expect(otlpHeaders({ OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer abc', OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'Authorization=Bearer traces' })).toEqual({ authorization: 'Bearer traces' });
    expect(otlpHeaders({ OTEL_EXPORTER_OTLP_HEADERS: 'novalue,=x,bad=%zz' })).toEqual({ bad: '%zz' });
    expect(otlpHeaders({})).toEqual({});
  });

  it('is sent by the kit’s exporter from the service’s own environment', async () => {
    // The exporter alone would read process.env, which is not the service's environment here.
    expect(process.env.OTEL_EXPORTER_OTLP_HEADERS).toBeUndefined();
    const tracing = createTracing({
      service: 'token-bearer',
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_HEADERS: `authorization=Bearer ${TOKEN}` },
    });
    tracing.tracer.startSpan('sent-with-the-token').end();
    await tracing.shutdown();
    expect((await readSpans(dir)).filter((span) => span.service === 'token-bearer').map((span) => span.name)).toEqual(['sent-with-the-token']);
  });

  it('goes to msctl’s receiver in docker containers, never to a collector the user named', async () => {
    const project = await loadProject(repoRoot);
    const manifest = project.manifests.find((m) => m.name === 'users')!;
    const secrets = { jwtSecret: 'j'.repeat(48), postgresPassword: 'p'.repeat(24), otlpToken: TOKEN, roleSeed: 'r'.repeat(32), internalAuth: { privateKey: 'PRIVATE KEY', publicKey: 'PUBLIC KEY' } } as StackSecrets;
    const ours = serviceSpec(project, manifest, 'image', secrets, 1, {}, { endpoint: 'http://172.30.0.1:4318', external: false });
    expect(ours.env.OTEL_EXPORTER_OTLP_HEADERS).toBe(`authorization=Bearer ${TOKEN}`);
    const theirs = serviceSpec(project, manifest, 'image', secrets, 1, {}, { endpoint: 'http://tempo.example:4318', external: true });
    expect(theirs.env.OTEL_EXPORTER_OTLP_ENDPOINT).toBe('http://tempo.example:4318');
    expect(theirs.env.OTEL_EXPORTER_OTLP_HEADERS).toBeUndefined();
    expect(JSON.stringify(theirs)).not.toContain(TOKEN);
  });
});

describe('where the docker runtime’s receiver listens', () => {
  it('on the stack network’s IPv4 gateway, never a guessed default bridge', () => {
    expect(receiverHost('p_default', { IPAM: { Config: [{ Gateway: 'fd00:1::1' }, { Gateway: '172.30.0.1' }] } })).toBe('172.30.0.1');
    for (const inspect of [{}, { IPAM: { Config: [] } }, { IPAM: { Config: [{ Gateway: 'fd00:1::1' }] } }]) {
      let error: unknown;
      try {
        receiverHost('p_default', inspect);
      } catch (caught) {
        error = caught;
      }
      expect(isMsctlError(error) && error.code).toBe('DOCKER_UNAVAILABLE');
    }
  });
});
