import { describe, expect, it } from 'vitest';
import { fit, formatMs, formatUptime } from '../../src/ui/format';

describe('formatUptime', () => {
  it('is short at every scale, the same in status and the dashboard', () => {
    expect(formatUptime(null)).toBe('-');
    expect(formatUptime(42)).toBe('42s');
    expect(formatUptime(307)).toBe('5m07s');
    expect(formatUptime(3 * 3600 + 5 * 60)).toBe('3h05m');
    expect(formatUptime(2 * 86_400 + 4 * 3600 + 59)).toBe('2d04h');
  });
});

describe('formatMs', () => {
  it("keeps two digits in the dashboard's cells", () => {
    expect(formatMs(null)).toBe('-');
    expect(formatMs(8.34)).toBe('8.3ms');
    expect(formatMs(45.4)).toBe('45ms');
    expect(formatMs(182)).toBe('182ms');
    expect(formatMs(1234)).toBe('1.2s');
  });

  it("keeps three in the waterfall's spans, negative offsets included", () => {
    expect(formatMs(0, 3)).toBe('0.00ms');
    expect(formatMs(10, 3)).toBe('10.0ms');
    expect(formatMs(420, 3)).toBe('420ms');
    expect(formatMs(1234, 3)).toBe('1.23s');
    expect(formatMs(12_345, 3)).toBe('12.3s');
    expect(formatMs(-2.5, 3)).toBe('-2.50ms');
  });
});

describe('fit', () => {
  it('pads or cuts to exactly the width, counting characters, not code units', () => {
    expect(fit('users', 8)).toBe('users   ');
    expect(fit('users', 8, 'right')).toBe('   users');
    expect(fit('data-processing', 8)).toBe('data-pr…');
    expect(fit('✓ ok', 3)).toBe('✓ …');
  });
});
