/** How durations and cells read on a terminal (msctl status, traces, the dashboard): short, fixed meaning, '-' when unknown. */

/** 42s, 5m07s, 3h05m, 2d04h. */
export function formatUptime(seconds: number | null): string {
  if (seconds === null) return '-';
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(seconds / 86_400)}d${String(Math.floor((seconds % 86_400) / 3600)).padStart(2, '0')}h`;
}

const integerDigits = (value: number) => (value < 10 ? 1 : value < 100 ? 2 : 3);

/**
 * Milliseconds with about `digits` significant digits: `8.3ms`, `45ms`, `1.2s` (2, the
 * dashboard's cells); `8.30ms`, `45.0ms`, `1.23s` (3, the waterfall's spans).
 */
export function formatMs(ms: number | null, digits = 2): string {
  if (ms === null) return '-';
  const abs = Math.abs(ms);
  const [value, unit] = abs < 1000 ? [ms, 'ms'] : [ms / 1000, 's'];
  return `${value.toFixed(Math.max(0, digits - integerDigits(Math.abs(value))))}${unit}`;
}

/** Exactly `width` columns: padded, or cut with an ellipsis. */
export function fit(text: string, width: number, align: 'left' | 'right' = 'left'): string {
  const chars = [...text];
  if (chars.length > width) return width <= 1 ? chars.slice(0, width).join('') : `${chars.slice(0, width - 1).join('')}…`;
  const pad = ' '.repeat(width - chars.length);
  return align === 'right' ? pad + text : text + pad;
}
