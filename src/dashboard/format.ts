/** How the dashboard writes numbers: short, fixed meaning, '-' when unknown. */

export function formatRate(perSecond: number | null): string {
  if (perSecond === null) return '-';
  if (perSecond === 0) return '0';
  if (perSecond < 10) return perSecond.toFixed(1);
  if (perSecond < 10_000) return String(Math.round(perSecond));
  return `${(perSecond / 1000).toFixed(0)}k`;
}

export function formatBytes(bytes: number | null): string {
  if (bytes === null) return '-';
  const mib = bytes / (1024 * 1024);
  if (mib < 1) return `${Math.round(bytes / 1024)}K`;
  if (mib < 1024) return `${Math.round(mib)}M`;
  return `${(mib / 1024).toFixed(1)}G`;
}

export function formatRetry(ms: number | null): string {
  if (ms === null) return '';
  return `retry in ${Math.max(0, Math.ceil(ms / 1000))}s`;
}
