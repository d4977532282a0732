import { randomUUID } from 'node:crypto';
import { INGEST_SCOPE, startService, type RunningService } from '@msctl/kit';
import { asCaller, eventually, testEnv } from '@msctl/kit/testing';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { dataProcessingService, type DataProcessingConfig } from '../src/service';
import { connectTestKafka, type CollectedMessage, type TestKafka } from './kafka-helpers';

let running: RunningService<DataProcessingConfig>;
let kafka: TestKafka;
let processedTopic: string;
let dlqTopic: string;
let rawTopic: string;

type Caller = { subject?: string; scope?: string };
/** A service client allowed to post events about anyone: what most tests here post as. */
const ingestClient: Caller = { subject: 'ingest-client', scope: INGEST_SCOPE };

/** POST /events as `caller` (the gateway's assertion); null sends none. */
const postText = async (body: string, caller: Caller | null = ingestClient, target = () => running) =>
  fetch(`${target().url}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(caller === null ? {} : await asCaller('data-processing', caller)) },
    body,
  });
const post = (body: unknown, caller: Caller | null = ingestClient) => postText(JSON.stringify(body), caller);

const processedWithId = (id: string) =>
  kafka.messages.find((m) => m.topic === processedTopic && m.json?.id === id);

/** Partition → the offset the next record appended to `topic` there will get. */
async function endOffsets(topic: string): Promise<Map<number, number>> {
  const admin = new Kafka({ clientId: 'test-offsets', brokers: [inject('kafkaBootstrap')], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    return new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]));
  } finally {
    await admin.disconnect();
  }
}

beforeAll(async () => {
  running = await startService(dataProcessingService, { env: testEnv('data-processing', { extra: { MAX_BATCH_SIZE: '5' } }) });
  await running.consumersReady;
  rawTopic = running.context.topic('events.raw');
  processedTopic = running.context.topic('events.processed');
  dlqTopic = running.context.topic('events.dlq');
  kafka = await connectTestKafka([rawTopic, processedTopic, dlqTopic]);
});

afterAll(async () => {
  await kafka?.close();
  await running?.close();
});

describe('POST /events', () => {
  it('accepts one event with 202 after Kafka acknowledged it, and processes it with enrichment', async () => {
    const time = '2025-03-01T10:15:30.000Z';
    const response = await post({ type: 'page.viewed', userId: 'user-1', time, data: { path: '/home', n: 1 } });
    expect(response.status).toBe(202);
    const body = (await response.json()) as { accepted: number; ids: string[] };
    expect(body.accepted).toBe(1);
    expect(body.ids).toHaveLength(1);
    const id = body.ids[0]!;

    // acknowledged means it is already on events.raw, keyed by the subject (the user id)
    const raw = await eventually(async () => kafka.messages.find((m) => m.topic === rawTopic && m.json?.id === id), 15_000, 'raw event');
    expect(raw.key).toBe('user-1');
    expect(raw.json).toMatchObject({ specversion: '1.0', type: 'page.viewed', source: '/data-processing', subject: 'user-1', time });

    const processed = await eventually(async () => processedWithId(id), 20_000, 'processed event');
    expect(processed.key).toBe('user-1');
    const event = processed.json!;
    expect(event).toMatchObject({ id, type: 'page.viewed', subject: 'user-1', time, source: '/data-processing', data: { path: '/home', n: 1 } });
    expect(Date.parse(event.processedat as string)).not.toBeNaN();
    expect(event.enrichment).toMatchObject({ category: 'page', partition: expect.any(Number), offset: expect.any(String) });
    expect(Date.parse((event.enrichment as { receivedAt: string }).receivedAt)).not.toBeNaN();
  });

  it('accepts a batch and every event comes out processed with the same id; subject falls back to the id', async () => {
    const response = await post({
      events: [
        { type: 'order.created', subject: 'order-7', data: { total: 12 } },
        { type: 'order.created', data: {} },
        { type: 'cart_item-added', userId: 'u9', source: '/shop', data: { sku: 'a' } },
      ],
    });
    expect(response.status).toBe(202);
    const body = (await response.json()) as { accepted: number; ids: string[] };
    expect(body.accepted).toBe(3);
    expect(new Set(body.ids).size).toBe(3);
    const found = await eventually(
      async () => {
        const all = body.ids.map(processedWithId);
        return all.every(Boolean) ? (all as CollectedMessage[]) : undefined;
      },
      20_000,
      'the batch on events.processed',
    );
    expect(found.map((m) => m.json?.subject)).toEqual(['order-7', body.ids[1], 'u9']);
    expect(found[2]!.json).toMatchObject({ source: '/shop', type: 'cart_item-added', enrichment: { category: 'cart' } });
    expect(found.map((m) => m.key)).toEqual(['order-7', body.ids[1], 'u9']);
  });

  it('rejects an invalid event with 400 and details, and publishes nothing', async () => {
    const before = await endOffsets(rawTopic);
    const response = await post({ type: 'Page Viewed', data: [1, 2] });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: string; details: { invalid: Array<{ index: number; errors: Array<{ path: string }> }> } };
    expect(body.error).toBe('bad_request');
    const paths = body.details.invalid[0]!.errors.map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['type', 'data']));

    const noData = await post({ type: 'page.viewed' });
    expect(noData.status).toBe(400);
    const badTime = await post({ type: 'page.viewed', time: 'yesterday', data: {} });
    expect(badTime.status).toBe(400);

    // A 202 waits for Kafka's acknowledgement: whatever a refused request had published would
    // be on events.raw before the marker, on the marker's partition or another one.
    const marker = await post({ type: 'marker.refused', data: {} });
    expect(marker.status).toBe(202);
    const [markerId] = ((await marker.json()) as { ids: string[] }).ids;
    await eventually(async () => kafka.messages.find((m) => m.topic === rawTopic && m.json?.id === markerId), 15_000, 'the marker on events.raw');
    const { partition, offset } = (await eventually(async () => processedWithId(markerId!), 20_000, 'the processed marker')).json!.enrichment as { partition: number; offset: string };
    expect(Number(offset), 'the marker is the first record on its partition since the refused requests').toBe(before.get(partition));
    const after = await endOffsets(rawTopic);
    const appended = [...after].filter(([p, end]) => end !== before.get(p)).map(([p, end]) => ({ partition: p, records: end - before.get(p)! }));
    expect(appended).toEqual([{ partition, records: 1 }]);
  });

  it('refuses at the door, naming the field, what no consumer could store', async () => {
    const refuse = async (body: string, index: number, path: string, message: RegExp) => {
      const response = await postText(body);
      expect(response.status, body).toBe(400);
      const answer = (await response.json()) as { details: { invalid: Array<{ index: number; errors: Array<{ path: string; message: string }> }> } };
      const invalid = answer.details.invalid.find((i) => i.index === index);
      expect(invalid?.errors, body).toEqual(expect.arrayContaining([{ path, message: expect.stringMatching(message) }]));
    };
    await refuse('{"events":[{"type":"a","data":{}},{"type":"alert.triggered","subject":"a\\u0000b","data":{}}]}', 1, 'subject', /NUL character/);
    await refuse('{"type":"a","data":{"k\\u0000":1}}', 0, 'data["k\\u0000"]', /is a key that contains a NUL/);
    await refuse('{"type":"a","data":{"s":"\\ud800"}}', 0, 'data.s', /unpaired UTF-16 surrogate/);
    await refuse('{"type":"a","time":"0000-01-01T00:00:00Z","data":{}}', 0, 'time', /years 0001 to 9999/);
    await refuse('{"type":"a","data":{"n":1e400}}', 0, 'data.n', /the number 1e400/);
    await refuse('{"type":"a","data":{"id":12345678901234567890}}', 0, 'data.id', /the number 12345678901234567890/);
    // The same values, written as a double holds them, pass.
    const fine = await post({ type: 'a', data: { n: 1.5e300, id: '12345678901234567890', s: '🎉' } });
    expect(fine.status).toBe(202);
    const [fineId] = ((await fine.json()) as { ids: string[] }).ids;
    // It is on events.raw before the next test counts what arrives there.
    await eventually(async () => kafka.messages.find((m) => m.topic === rawTopic && m.json?.id === fineId), 15_000, 'the accepted event');
  });

  it('rejects a whole batch when one event is invalid, listing the bad indexes', async () => {
    const before = kafka.messages.filter((m) => m.topic === rawTopic).length;
    const response = await post({ events: [{ type: 'a.b', data: {} }, { type: 'A', data: {} }, { type: 'c', data: {} }, { data: {} }] });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { message: string; details: { invalid: Array<{ index: number }> } };
    expect(body.details.invalid.map((i) => i.index)).toEqual([1, 3]);
    expect(body.message).toContain('1, 3');
    // a later accepted event is on events.raw while none of the rejected batch ever is
    const marker = await post({ type: 'marker.event', data: {} });
    const [markerId] = ((await marker.json()) as { ids: string[] }).ids;
    await eventually(async () => kafka.messages.find((m) => m.topic === rawTopic && m.json?.id === markerId), 15_000, 'marker');
    const raws = kafka.messages.filter((m) => m.topic === rawTopic).slice(before);
    expect(raws.map((m) => m.json?.type)).toEqual(['marker.event']);
  });

  it('rejects a batch over MAX_BATCH_SIZE with 413 and a clear message', async () => {
    const events = Array.from({ length: 6 }, () => ({ type: 'x.y', data: {} }));
    const response = await post({ events });
    expect(response.status).toBe(413);
    const body = (await response.json()) as { message: string };
    expect(body.message).toMatch(/at most 5 events/);
    const empty = await post({ events: [] });
    expect(empty.status).toBe(400);
  });
});

describe('POST /events: whose events', () => {
  type Refusal = { error: string; message: string; details: { invalid: Array<{ index: number; errors: Array<{ path: string }> }> } };
  const user = () => ({ subject: `user-${randomUUID()}` });

  it("refuses with 403 an event whose subject or userId names someone other than the caller, and publishes nothing", async () => {
    const caller = user();
    const before = await endOffsets(rawTopic);
    for (const [event, paths] of [
      [{ type: 'page.viewed', subject: 'someone-else', data: {} }, ['subject']],
      [{ type: 'page.viewed', userId: 'someone-else', data: {} }, ['userId']],
      [{ type: 'page.viewed', subject: caller.subject, userId: 'someone-else', data: {} }, ['userId']],
    ] as const) {
      const response = await post(event, caller);
      expect(response.status, JSON.stringify(event)).toBe(403);
      const body = (await response.json()) as Refusal;
      expect(body.error).toBe('forbidden');
      expect(body.details.invalid).toHaveLength(1);
      expect(body.details.invalid[0]!.errors.map((e) => e.path)).toEqual(paths);
    }
    // A refusal is answered before anything is sent, and an acceptance only once Kafka acknowledged.
    expect(await endOffsets(rawTopic)).toEqual(before);
  });

  it('refuses a whole batch with 403 when one event names someone else: none is accepted', async () => {
    const caller = user();
    const before = await endOffsets(rawTopic);
    const response = await post(
      { events: [{ type: 'a', data: {} }, { type: 'a', subject: caller.subject, data: {} }, { type: 'a', userId: 'someone-else', data: {} }] },
      caller,
    );
    expect(response.status).toBe(403);
    const body = (await response.json()) as Refusal;
    expect(body.message).toMatch(/1 of 3 events name another user \(indexes 2\); none was accepted/);
    expect(body.details.invalid.map((i) => i.index)).toEqual([2]);
    expect(await endOffsets(rawTopic)).toEqual(before);
  });

  it("makes an event that names nobody the caller's, keyed by the caller", async () => {
    const caller = user();
    const response = await post({ events: [{ type: 'page.viewed', data: {} }, { type: 'page.viewed', userId: caller.subject, data: {} }] }, caller);
    expect(response.status).toBe(202);
    const { ids } = (await response.json()) as { ids: string[] };
    const raws = await eventually(async () => {
      const found = ids.map((id) => kafka.messages.find((m) => m.topic === rawTopic && m.json?.id === id));
      return found.every(Boolean) ? (found as CollectedMessage[]) : undefined;
    }, 15_000, 'the events on events.raw');
    expect(raws.map((m) => [m.key, m.json?.subject])).toEqual([
      [caller.subject, caller.subject],
      [caller.subject, caller.subject],
    ]);
  });

  it(`accepts events about anyone from a caller whose scope includes ${INGEST_SCOPE}`, async () => {
    const response = await post({ type: 'page.viewed', subject: 'someone-else', data: {} }, { subject: 'svc-importer', scope: `other:scope ${INGEST_SCOPE}` });
    expect(response.status).toBe(202);
    const [id] = ((await response.json()) as { ids: string[] }).ids;
    const raw = await eventually(async () => kafka.messages.find((m) => m.topic === rawTopic && m.json?.id === id), 15_000, 'the event on events.raw');
    expect(raw.json?.subject).toBe('someone-else');
    // A scope that merely contains the words is not the scope.
    expect((await post({ type: 'page.viewed', subject: 'someone-else', data: {} }, { subject: 'svc-other', scope: `${INGEST_SCOPE}:all` })).status).toBe(403);
  });

  it('answers 401 with nobody logged in, and to a request without the gateway assertion', async () => {
    for (const caller of [{}, null]) {
      const response = await post({ type: 'page.viewed', data: {} }, caller);
      expect(response.status).toBe(401);
      expect(((await response.json()) as { error: string }).error).toBe('unauthorized');
    }
  });
});

describe('the events.raw consumer', () => {
  it('sends what it cannot process to events.dlq, byte for byte, with the reason and origin in headers', async () => {
    const ce = (patch: object) => JSON.stringify({ specversion: '1.0', source: '/t', type: 'ok.type', data: {}, ...patch });
    const notUtf8 = Buffer.from([0x7b, 0xc3, 0x28, 0x7d]);
    const bad: Array<{ key: string; value: string | Buffer; reason: RegExp; class: string }> = [
      { key: 'bad-1', value: 'not json', reason: /not JSON/, class: 'invalid-event' },
      { key: 'bad-2', value: JSON.stringify({ hello: 'world' }), reason: /not a CloudEvent/, class: 'invalid-event' },
      { key: 'bad-3', value: ce({ id: 'ce-bad-type', type: 'Not Valid', subject: 'bad-3' }), reason: /type/, class: 'rejected' },
      { key: 'bad-4', value: ce({ id: 'ce-bad-data', data: 'text' }), reason: /data must be a JSON object/, class: 'rejected' },
      { key: 'bad-5', value: ce({ id: 'ce-nul', subject: 'a\u0000b' }), reason: /subject contains a NUL character/, class: 'rejected' },
      { key: 'bad-6', value: notUtf8, reason: /not valid UTF-8/, class: 'invalid-event' },
    ];
    await kafka.send(rawTopic, [
      ...bad.map(({ key, value }) => ({ key, value })),
      { key: 'good-1', value: ce({ id: 'ce-good', subject: 'good-1', data: { a: 1 } }) },
    ]);
    const dlq = await eventually(
      async () => {
        const found = bad.map(({ key }) => kafka.messages.find((m) => m.topic === dlqTopic && m.key === key));
        return found.every(Boolean) ? (found as CollectedMessage[]) : undefined;
      },
      20_000,
      'dead letters',
    );
    dlq.forEach((message, index) => {
      const sent = bad[index]!;
      expect(message.raw!.equals(Buffer.isBuffer(sent.value) ? sent.value : Buffer.from(sent.value))).toBe(true);
      expect(message.headers).toMatchObject({
        'dlq.original.topic': rawTopic,
        'dlq.consumer.group': running.context.topic('data-processing'),
        'dlq.error.class': sent.class,
      });
      expect(message.headers['dlq.error.reason']).toMatch(sent.reason);
      expect(message.headers['dlq.original.offset']).toMatch(/^\d+$/);
    });

    // the good one in the same batch is processed, and none of the bad ones is
    await eventually(async () => processedWithId('ce-good'), 20_000, 'the good event');
    expect(kafka.messages.filter((m) => m.topic === processedTopic && ['ce-bad-type', 'ce-bad-data', 'ce-nul'].includes(m.json?.id as string))).toEqual([]);
    expect(kafka.messages.filter((m) => m.topic === dlqTopic && m.key === 'good-1')).toEqual([]);
  });
});

describe('when Kafka does not acknowledge', () => {
  it('answers 503 with Retry-After, never 2xx', async () => {
    const broken = await startService(dataProcessingService, { env: testEnv('data-processing', { extra: { BREAKER_TIMEOUT_MS: '1500' } }) });
    try {
      // The producer is gone: nothing can be acknowledged any more.
      await broken.context.producer!.close();
      const response = await postText(JSON.stringify({ type: 'page.viewed', data: {} }), ingestClient, () => broken);
      expect(response.status).toBe(503);
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      await broken.close();
    }
  });
});
