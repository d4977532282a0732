/**
 * What `msctl up` and `msctl restart` rebuild before they start a service: exactly the bundles
 * whose service or kit sources are newer, with esbuild for real on a throwaway services dir.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MsctlError } from '../../src/core/errors';
import type { ProgressEventInput, ProgressSink } from '../../src/core/events';
import { buildStale, isBundleStale, serviceBundle } from '../../src/stack/build';
import { manifestSchema, type ServiceManifest } from '../../src/stack/manifest';

let servicesDir: string;
let manifests: ServiceManifest[];
let events: ProgressEventInput[];
const sink: ProgressSink = { emit: (event) => void events.push(event) };
const later = (seconds: number) => new Date(Date.now() + seconds * 1000);

/** Writes a file and dates it `seconds` from now, so that the order of edits is the order of mtimes. */
async function write(path: string, text: string, seconds: number): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, text);
  await utimes(path, later(seconds), later(seconds));
}

const run = (manifest: ServiceManifest) => execFileSync(process.execPath, [serviceBundle(manifest)], { encoding: 'utf8' }).trim();

beforeEach(async () => {
  servicesDir = await mkdtemp(join(tmpdir(), 'msctl-build-'));
  events = [];
  await write(join(servicesDir, 'kit', 'src', 'index.ts'), "export const greeting = 'hello';\n", -60);
  manifests = [];
  for (const [name, port] of [['alpha', 4101], ['beta', 4102]] as const) {
    const dir = join(servicesDir, name);
    await write(join(dir, 'src', 'main.ts'), `import { greeting } from '../../kit/src/index';\nconsole.log(\`\${greeting} from ${name}\`);\n`, -60);
    manifests.push({ ...manifestSchema.parse({ name, port }), dir });
  }
});
afterEach(async () => {
  await rm(servicesDir, { recursive: true, force: true });
});

const built = () => events.filter((event) => event.type === 'target' && event.phase === 'built').map((event) => (event as { target: string }).target).sort();

describe('buildStale', () => {
  it('names the modules in a bundle from the services folder, not from where msctl runs, so a bundle is the same from any folder', async () => {
    await buildStale(manifests, servicesDir, sink);
    const named = readFileSync(serviceBundle(manifests[0]!), 'utf8').split('\n').filter((line) => line.startsWith('// '));
    expect(named).toEqual(['// kit/src/index.ts', '// alpha/src/main.ts']);
  });

  it('builds what has no bundle, then nothing while the sources are older than their bundles', async () => {
    expect(await buildStale(manifests, servicesDir, sink)).toEqual(['alpha', 'beta']);
    expect(built()).toEqual(['alpha', 'beta']);
    expect(manifests.map(run)).toEqual(['hello from alpha', 'hello from beta']);

    events = [];
    const before = statSync(serviceBundle(manifests[0]!)).mtimeMs;
    expect(await buildStale(manifests, servicesDir, sink)).toEqual([]);
    expect(events).toEqual([]);
    expect(statSync(serviceBundle(manifests[0]!)).mtimeMs).toBe(before);
  });

  it("rebuilds only the service whose source changed, and every service when the kit changed", async () => {
    await buildStale(manifests, servicesDir, sink);
    const [alpha, beta] = manifests as [ServiceManifest, ServiceManifest];

    await write(join(alpha.dir, 'src', 'main.ts'), "import { greeting } from '../../kit/src/index';\nconsole.log(`${greeting} again from alpha`);\n", 60);
    expect([isBundleStale(alpha, servicesDir), isBundleStale(beta, servicesDir)]).toEqual([true, false]);
    events = [];
    expect(await buildStale(manifests, servicesDir, sink)).toEqual(['alpha']);
    expect(run(alpha)).toBe('hello again from alpha');

    await write(join(servicesDir, 'kit', 'src', 'index.ts'), "export const greeting = 'hi';\n", 120);
    expect(await buildStale(manifests, servicesDir, sink)).toEqual(['alpha', 'beta']);
    expect(manifests.map(run)).toEqual(['hi again from alpha', 'hi from beta']);
  });

  it('a source that does not compile is a usage error naming the service, the file and the line', async () => {
    await write(join(manifests[0]!.dir, 'src', 'main.ts'), 'const x = ;\n', 60);
    const failure = buildStale(manifests, servicesDir, sink);
    await expect(failure).rejects.toThrow(MsctlError);
    await expect(failure).rejects.toMatchObject({ code: 'USAGE', message: expect.stringMatching(/^alpha does not build: .+ at .*alpha\/src\/main\.ts:1$/) });
    // The failure is told once the other builds have ended: none writes its bundle afterwards.
    expect(built()).toEqual(['beta']);
    expect(run(manifests[1]!)).toBe('hello from beta');
  });
});
