import { describe, expect, it } from 'vitest';
import { chaosDuration } from '../../src/cli/commands/chaos/run';
import { durationSeconds } from '../../src/cli/command';
import { parseDuration, parseTimeOrAgo } from '../../src/core/duration';
import { MsctlError } from '../../src/core/errors';

describe('the duration grammar', () => {
  it('takes one unit, compounds and decimals', () => {
    expect(parseDuration('500ms', '--for')).toBe(500);
    expect(parseDuration('30s', '--for')).toBe(30_000);
    expect(parseDuration('5m', '--for')).toBe(300_000);
    expect(parseDuration('1h', '--for')).toBe(3_600_000);
    expect(parseDuration('1d', '--for')).toBe(86_400_000);
    expect(parseDuration('1h30m', '--for')).toBe(5_400_000);
    expect(parseDuration('2m30s', '--for')).toBe(150_000);
    expect(parseDuration('1m500ms', '--for')).toBe(60_500);
    expect(parseDuration('1.5h', '--for')).toBe(5_400_000);
    expect(parseDuration(' 10 s ', '--for')).toBe(10_000);
  });

  it('reads a bare number as seconds', () => {
    expect(parseDuration('30', '--ttl')).toBe(30_000);
    expect(parseDuration('0.5', '--ttl')).toBe(500);
  });

  it('refuses anything else with a usage error naming the flag', () => {
    for (const text of ['', 'soon', '5 parsecs', '1h30', '-5s', '1.s', 'm', '30x', '1h 30m ago']) {
      expect(() => parseDuration(text, '--min-duration'), text).toThrow(MsctlError);
    }
    expect(() => parseDuration('soon', '--min-duration')).toThrow(
      expect.objectContaining({ code: 'USAGE', message: '--min-duration soon is not a duration', hint: 'e.g. 500ms, 30s, 5m, 1h30m' }),
    );
  });

  it('a time or a duration back from now', () => {
    const now = new Date('2025-01-01T12:00:00Z');
    expect(parseTimeOrAgo('1h30m', '--since', now).toISOString()).toBe('2025-01-01T10:30:00.000Z');
    expect(parseTimeOrAgo('60', '--since', now).toISOString()).toBe('2025-01-01T11:59:00.000Z');
    expect(parseTimeOrAgo('2025-01-01T08:00:00Z', '--since', now).toISOString()).toBe('2025-01-01T08:00:00.000Z');
    expect(() => parseTimeOrAgo('yesterday', '--since', now)).toThrow(expect.objectContaining({ code: 'USAGE', message: '--since yesterday: not a time' }));
  });

  it('chaos --for is at most an hour; load-test --duration is seconds', () => {
    expect(chaosDuration('15')).toBe(15_000);
    expect(chaosDuration('1h')).toBe(3_600_000);
    expect(() => chaosDuration('1h1s')).toThrow(/out of range/);
    expect(durationSeconds('--duration')('30s')).toBe(30);
    expect(durationSeconds('--duration')('2m')).toBe(120);
    expect(durationSeconds('--duration')('45')).toBe(45);
    expect(() => durationSeconds('--duration')('0s')).toThrow(/--duration must be a positive duration/);
    expect(() => durationSeconds('--duration')('soon')).toThrow(/--duration/);
  });
});
