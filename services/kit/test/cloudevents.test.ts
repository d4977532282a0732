import { describe, expect, it } from 'vitest';
import { InvalidCloudEventError, createCloudEvent, parseCloudEvent } from '../src/cloudevents';
import { toMessage } from '../src/kafka';

describe('CloudEvents envelope', () => {
  it('creates a 1.0 structured-mode event keyed by its subject', () => {
    const event = createCloudEvent({ type: 'user.created', source: '/users', subject: 'u-1', data: { id: 'u-1' } });
    expect(event).toMatchObject({ specversion: '1.0', type: 'user.created', source: '/users', subject: 'u-1', data: { id: 'u-1' } });
    expect(event.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Date(event.time).toISOString()).toBe(event.time);
    const message = toMessage(event);
    expect(message.key).toBe('u-1');
    expect(message.headers?.['content-type']).toMatch(/^application\/cloudevents\+json/);
    expect(parseCloudEvent(message.value)).toEqual(event);
  });

  it('rejects values that are not CloudEvents, saying why', () => {
    expect(() => parseCloudEvent(null)).toThrow(InvalidCloudEventError);
    expect(() => parseCloudEvent('not json')).toThrow('value is not JSON');
    expect(() => parseCloudEvent(JSON.stringify({ specversion: '0.3', id: '1', source: 's', type: 't' }))).toThrow(/specversion/);
    expect(() => parseCloudEvent(Buffer.from(JSON.stringify({ specversion: '1.0', source: 's', type: 't' })))).toThrow(/id/);
  });

  it('rejects bytes that are not UTF-8 and strings that are not Unicode text, and keeps surrogate pairs', () => {
    expect(() => parseCloudEvent(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]))).toThrow('value is not valid UTF-8');
    const ce = (data: string) => `{"specversion":"1.0","id":"1","source":"s","type":"t","data":${data}}`;
    expect(() => parseCloudEvent(ce('{"title":"half \\ud83d"}'))).toThrow('data.title contains an unpaired UTF-16 surrogate, which is not Unicode text');
    expect(() => parseCloudEvent(ce('{"\\udc00":1}'))).toThrow(/^data\.\udc00 contains an unpaired/);
    expect(parseCloudEvent(ce('{"title":"\\ud83c\\udf89"}')).data).toEqual({ title: '🎉' });
  });
});
