import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, baseConfigSchema, kafkaConfigSchema, loadConfig, postgresConfigSchema } from '../src/config';

const schema = baseConfigSchema.extend({ ...kafkaConfigSchema.shape, ...postgresConfigSchema.shape, MAX_BATCH: z.coerce.number().int().default(500) });

describe('loadConfig', () => {
  it('parses and coerces a valid environment, applying defaults', () => {
    const config = loadConfig('svc', schema, {
      SERVICE_NAME: 'svc',
      PORT: '4001',
      KAFKA_BROKERS: '127.0.0.1:9092, 127.0.0.1:9093',
      DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/db',
      DATABASE_SCHEMA: 'users',
    });
    expect(config.PORT).toBe(4001);
    expect(config.KAFKA_BROKERS).toEqual(['127.0.0.1:9092', '127.0.0.1:9093']);
    expect(config.MAX_BATCH).toBe(500);
    expect(config.HOST).toBe('127.0.0.1');
  });

  it('reports every problem at once, naming each variable', () => {
    let error: unknown;
    try {
      loadConfig('svc', schema, { SERVICE_NAME: 'svc', PORT: 'eighty', DATABASE_URL: 'not a url', DATABASE_SCHEMA: 'Bad-Schema' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toMatch(/^PORT: /m);
    expect(problems).toMatch(/^KAFKA_BROKERS: is required/m);
    expect(problems).toMatch(/^DATABASE_URL: /m);
    expect(problems).toMatch(/^DATABASE_SCHEMA: lowercase/m);
    expect((error as Error).message).toContain('svc: invalid configuration');
  });
});
