/**
 * The self-contained HTML report: inline CSS and SVG only (no scripts, no fonts, no network):
 * SLO verdict, latency over time, latency histogram, throughput, per-group table, server side.
 */
import { describeCheck } from './slo';
import type { LoadResult } from './types';

const esc = (value: unknown) =>
  String(value).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const fmt = (n: number) => (Number.isInteger(n) ? n.toLocaleString('en-US') : n.toLocaleString('en-US', { maximumFractionDigits: 2 }));

interface Series {
  name: string;
  color: string;
  points: Array<[number, number]>;
}

const W = 640;
const H = 220;
const PAD = { left: 56, right: 16, top: 16, bottom: 32 };

function niceMax(value: number): number {
  if (value <= 0) return 1;
  const exp = 10 ** Math.floor(Math.log10(value));
  for (const m of [1, 2, 2.5, 5, 10]) if (value <= m * exp) return m * exp;
  return 10 * exp;
}

function axes(xMax: number, yMax: number, xLabel: string, yLabel: string): string {
  const lines: string[] = [];
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  for (let i = 0; i <= 4; i++) {
    const y = PAD.top + plotH - (plotH * i) / 4;
    lines.push(`<line x1="${PAD.left}" y1="${y}" x2="${W - PAD.right}" y2="${y}" class="grid"/>`);
    lines.push(`<text x="${PAD.left - 6}" y="${y + 4}" text-anchor="end">${esc(fmt((yMax * i) / 4))}</text>`);
  }
  for (let i = 0; i <= 4; i++) {
    const x = PAD.left + (plotW * i) / 4;
    lines.push(`<text x="${x}" y="${H - PAD.bottom + 16}" text-anchor="middle">${esc(fmt(Math.round(((xMax * i) / 4) * 10) / 10))}</text>`);
  }
  lines.push(`<text x="${W - PAD.right}" y="${H - 2}" text-anchor="end">${esc(xLabel)}</text>`);
  lines.push(`<text x="4" y="${PAD.top - 4}">${esc(yLabel)}</text>`);
  return lines.join('');
}

function lineChart(title: string, series: Series[], xLabel: string, yLabel: string): string {
  const xMax = Math.max(1, ...series.flatMap((s) => s.points.map(([x]) => x)));
  const yMax = niceMax(Math.max(0, ...series.flatMap((s) => s.points.map(([, y]) => y))));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const paths = series
    .map((s) => {
      const d = s.points.map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${(PAD.left + (x / xMax) * plotW).toFixed(1)},${(PAD.top + plotH - (y / yMax) * plotH).toFixed(1)}`).join(' ');
      const dots = s.points.length === 1 ? `<circle cx="${PAD.left}" cy="${(PAD.top + plotH - (s.points[0]![1] / yMax) * plotH).toFixed(1)}" r="3" fill="${s.color}"/>` : '';
      return `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>${dots}`;
    })
    .join('');
  const legend = series.map((s) => `<span class="key"><i style="background:${s.color}"></i>${esc(s.name)}</span>`).join(' ');
  return `<figure><figcaption>${esc(title)} ${legend}</figcaption><svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}">${axes(xMax, yMax, xLabel, yLabel)}${paths}</svg></figure>`;
}

function barChart(title: string, bars: Array<{ label: string; value: number }>, yLabel: string, color: string): string {
  const yMax = niceMax(Math.max(0, ...bars.map((b) => b.value)));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const width = plotW / Math.max(1, bars.length);
  const rects = bars
    .map((b, i) => {
      const h = (b.value / yMax) * plotH;
      const x = PAD.left + i * width;
      const label = i % Math.ceil(bars.length / 10) === 0 ? `<text x="${(x + width / 2).toFixed(1)}" y="${H - PAD.bottom + 16}" text-anchor="middle">${esc(b.label)}</text>` : '';
      return `<rect x="${(x + 1).toFixed(1)}" y="${(PAD.top + plotH - h).toFixed(1)}" width="${Math.max(1, width - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${color}"><title>${esc(b.label)}: ${esc(fmt(b.value))}</title></rect>${label}`;
    })
    .join('');
  const grid: string[] = [];
  for (let i = 0; i <= 4; i++) {
    const y = PAD.top + plotH - (plotH * i) / 4;
    grid.push(`<line x1="${PAD.left}" y1="${y}" x2="${W - PAD.right}" y2="${y}" class="grid"/><text x="${PAD.left - 6}" y="${y + 4}" text-anchor="end">${esc(fmt((yMax * i) / 4))}</text>`);
  }
  return `<figure><figcaption>${esc(title)}</figcaption><svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}">${grid.join('')}<text x="4" y="${PAD.top - 4}">${esc(yLabel)}</text>${rects}</svg></figure>`;
}

function table(header: string[], rows: Array<Array<string | number>>): string {
  return `<table><thead><tr>${header.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((row) => `<tr>${row.map((cell) => `<td>${typeof cell === 'number' ? esc(fmt(cell)) : esc(cell)}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

export function renderHtmlReport(result: LoadResult): string {
  const verdict = result.slo.ok ? 'pass' : 'fail';
  const timeline = result.timeline;
  const latencyChart = lineChart(
    'Latency over time',
    [
      { name: 'p50', color: '#2a7ab0', points: timeline.map((s) => [s.second + 1, s.p50]) },
      { name: 'p99', color: '#d9822b', points: timeline.map((s) => [s.second + 1, s.p99]) },
      { name: 'max', color: '#b03a2e', points: timeline.map((s) => [s.second + 1, s.max]) },
    ],
    'seconds',
    'ms',
  );
  const throughputSeries = [
    { name: 'requests/s', color: '#2a7ab0', points: timeline.map((s): [number, number] => [s.second + 1, s.requests]) },
    { name: '2xx/s', color: '#3c9d5d', points: timeline.map((s): [number, number] => [s.second + 1, s.ok]) },
  ];
  if (result.totals.eventsAccepted > 0) throughputSeries.push({ name: 'events/s', color: '#8e44ad', points: timeline.map((s) => [s.second + 1, s.events]) });
  const throughputChart = lineChart('Throughput', throughputSeries, 'seconds', 'per second');
  const last = result.histogram.reduce((max, b, i) => (b.count > 0 ? i : max), 0);
  const first = result.histogram.findIndex((b) => b.count > 0);
  const shown = result.histogram.slice(Math.max(0, first === -1 ? 0 : first - 1), last + 2);
  const histogramChart = barChart('Latency histogram (answers per bucket, upper bound in ms)', shown.map((b) => ({ label: `≤${b.le}`, value: b.count })), 'answers', '#2a7ab0');

  const sloRows = result.slo.checks.map((check) => [check.ok ? '✔ pass' : '✘ fail', describeCheck(check)]);
  const groupRows = Object.entries(result.groups).map(([name, g]) => [
    name,
    g.requests,
    g.okPerSecond,
    g.eventsPerSecond,
    g.latency.p50,
    g.latency.p90,
    g.latency.p99,
    g.latency.p999,
    g.latency.max,
    Object.entries(g.statusCodes).map(([code, n]) => `${code}×${n}`).join(' '),
  ]);
  const serviceRows = Object.entries(result.server.services).map(([name, s]) => [name, s.reachable ? s.requests : 'unreachable', s.requestsPerSecond, s.kafkaProduced, s.deadLetters]);
  const consumerRows = result.server.consumers.map((c) => [c.service, c.group, c.status, c.output]);
  const breakerRows = Object.entries(result.server.breakers.states).map(([name, s]) => {
    const events = result.server.breakers.events[name];
    return [name, s.before, s.after, events ? `open ${events.open}, half-open ${events.halfOpen}, close ${events.close}` : 'none'];
  });
  const changes = result.server.breakers.changes.map((c) => [c.at ?? '-', `${c.service}/${c.breaker}`, `${c.from} → ${c.to}`]);
  const check = result.ingestCheck;
  const checkText = check.ran
    ? `${check.ok ? '✔' : '✘'} accepted ${fmt(check.accepted)} events, analytics counted ${check.counted === null ? 'nothing' : fmt(check.counted)} (waited ${fmt(check.waitedMs)} ms)`
    : `not run: ${check.reason ?? ''}`;

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>msctl load-test: ${esc(result.scenario)} — ${verdict}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1d2330;background:#fff;max-width:1400px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.verdict{display:inline-block;padding:2px 10px;border-radius:4px;color:#fff;font-weight:600}
.pass{background:#3c9d5d}.fail{background:#b03a2e}
.meta{color:#586070}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}.card{border:1px solid #dde2ea;border-radius:6px;padding:8px 12px;min-width:120px}
.card b{display:block;font-size:18px}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:16px}
figure{margin:0;border:1px solid #dde2ea;border-radius:6px;padding:8px}figcaption{font-weight:600;margin-bottom:4px}
svg{width:100%;height:auto;font-size:11px;fill:#586070}.grid{stroke:#e6e9ef;stroke-width:1}
.key{font-weight:400;margin-left:8px;font-size:12px}.key i{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}
table{border-collapse:collapse;margin:4px 0}th,td{border-bottom:1px solid #e6e9ef;padding:4px 10px;text-align:left}th{background:#f5f7fa}
</style></head><body>
<h1>msctl load-test: ${esc(result.scenario)} <span class="verdict ${verdict}">SLO ${verdict}</span></h1>
<p class="meta">${esc(result.modelDescription)}.<br>Generator: ${esc(result.generator)}. Target ${esc(result.target)}, started ${esc(result.startedAt)}, ${esc(fmt(result.durationSeconds))} s measured after ${esc(result.warmupSeconds)} s warm-up.
Gateway rate limit: ${result.rateLimit.perSecondPerClient === null ? 'none reported' : `${esc(fmt(result.rateLimit.perSecondPerClient))} requests/s per client`} × ${esc(result.rateLimit.clients)} users${result.rateLimit.raised ? ' (raised for this run)' : ''}. Machine: ${esc(result.machine.cpus)} cores, Node ${esc(result.machine.node)}.</p>
<div class="cards">
<div class="card">requests/s<b>${esc(fmt(result.totals.requestsPerSecond))}</b></div>
<div class="card">2xx/s<b>${esc(fmt(result.totals.okPerSecond))}</b></div>
<div class="card">events/s<b>${esc(fmt(result.totals.eventsPerSecond))}</b></div>
<div class="card">p50<b>${esc(fmt(result.latency.p50))} ms</b></div>
<div class="card">p99<b>${esc(fmt(result.latency.p99))} ms</b></div>
<div class="card">p99.9<b>${esc(fmt(result.latency.p999))} ms</b></div>
<div class="card">max<b>${esc(fmt(result.latency.max))} ms</b></div>
<div class="card">non-2xx / errors<b>${esc(fmt(result.totals.non2xx))} / ${esc(fmt(result.totals.errors))}</b></div>
</div>
<h2>SLO verdict (${esc(result.slo.source)})</h2>
${sloRows.length ? table(['', 'objective'], sloRows) : '<p>No objective applies to the groups of this run.</p>'}
<div class="charts">${latencyChart}${throughputChart}${histogramChart}</div>
<h2>Per group</h2>
${table(['group', 'requests', '2xx/s', 'events/s', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'status codes'], groupRows)}
<h2>Ingest check</h2><p>${esc(checkText)}</p>
<h2>Server side (from /metrics)</h2>
${table(['service', 'requests served', 'per second', 'Kafka messages produced', 'records dead-lettered'], serviceRows)}
${consumerRows.length ? `<p>Consumer groups not moving when the run ended:</p>${table(['service', 'group', 'state', 'why'], consumerRows)}` : ''}
${breakerRows.length ? table(['circuit breaker', 'before', 'after', 'events during the run'], breakerRows) : ''}
${changes.length ? table(['seen at', 'breaker', 'change'], changes) : '<p>No circuit breaker changed state during the run.</p>'}
</body></html>
`;
}
