import { describe, expect, it } from 'vitest';
import { formatUptime } from '../../src/ui/format';

describe('formatUptime', () => {
  it('is short at every scale, the same in status and the dashboard', () => {
    expect(formatUptime(null)).toBe('-');
    expect(formatUptime(42)).toBe('42s');
    expect(formatUptime(307)).toBe('5m07s');
    expect(formatUptime(3 * 3600 + 5 * 60)).toBe('3h05m');
    expect(formatUptime(2 * 86_400 + 4 * 3600 + 59)).toBe('2d04h');
  });
});
