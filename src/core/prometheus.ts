/**
 * The Prometheus text exposition format, as prom-client writes it (`name{l="v",…} value`,
 * comments skipped): the one parser that the dashboard and load-test read every /metrics with.
 */

export interface Sample {
  name: string;
  labels: Readonly<Record<string, string>>;
  value: number;
}

const unescapeLabel = (value: string) => value.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));

/** A sample's value, or a bucket's `le`: +Inf, -Inf and NaN as Prometheus writes them. */
export function parseSampleValue(text: string): number {
  if (text === '+Inf' || text === 'Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  if (text === 'NaN') return Number.NaN;
  return Number(text);
}

/** Every sample of a Prometheus text exposition. Malformed lines are skipped, never thrown on. */
export function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const nameEnd = line.search(/[{\s]/);
    if (nameEnd <= 0) continue;
    const name = line.slice(0, nameEnd);
    const labels: Record<string, string> = {};
    let rest = line.slice(nameEnd);
    if (rest.startsWith('{')) {
      let i = 1;
      let ok = false;
      while (i < rest.length) {
        while (rest[i] === ' ' || rest[i] === ',') i++;
        if (rest[i] === '}') {
          ok = true;
          i++;
          break;
        }
        const eq = rest.indexOf('=', i);
        if (eq === -1 || rest[eq + 1] !== '"') break;
        const key = rest.slice(i, eq).trim();
        let j = eq + 2;
        let value = '';
        while (j < rest.length && rest[j] !== '"') {
          if (rest[j] === '\\' && j + 1 < rest.length) {
            value += rest.slice(j, j + 2);
            j += 2;
          } else {
            value += rest[j];
            j++;
          }
        }
        if (j >= rest.length) break;
        labels[key] = unescapeLabel(value);
        i = j + 1;
      }
      if (!ok) continue;
      rest = rest.slice(i);
    }
    const [valueText] = rest.trim().split(/\s+/);
    if (valueText === undefined || valueText === '') continue;
    const value = parseSampleValue(valueText);
    if (Number.isNaN(value) && valueText !== 'NaN') continue;
    samples.push({ name, labels, value });
  }
  return samples;
}
