/**
 * `msctl dev`'s builds: esbuild contexts kept between saves (an incremental rebuild of one
 * bundle), and the type check, so that a save that does not type-check never reaches a running
 * service. Both report errors as the compilers print them: file, line, column and code frame.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import type { BuildContext, Message } from 'esbuild';
import { execa } from 'execa';
import { bundleOptions, assertHasEntry } from '../stack/build';
import type { ServiceManifest } from '../stack/manifest';
import type { Project } from '../stack/project';

export interface StepResult {
  ok: boolean;
  ms: number;
  /** The compiler's report of what failed, ready to print. */
  output?: string;
  /** A bundle built but not yet written: written only once the save also type-checks. */
  write?: () => Promise<void>;
}

export interface BuildOptions {
  color: boolean;
}

/** One esbuild context per service, created on its first build and kept for the next. */
export class Bundler {
  private readonly contexts = new Map<string, Promise<BuildContext>>();

  constructor(private readonly options: BuildOptions) {}

  async build(manifest: ServiceManifest): Promise<StepResult> {
    const started = performance.now();
    const esbuild = await import('esbuild');
    assertHasEntry(manifest);
    let context = this.contexts.get(manifest.name);
    if (!context) {
      // In memory: a save that does not type-check must not reach the bundle a crashed service restarts from.
      context = esbuild.context({ ...bundleOptions(manifest), write: false });
      this.contexts.set(manifest.name, context);
    }
    try {
      const { outputFiles = [] } = await (await context).rebuild();
      const write = async () => {
        for (const file of outputFiles) {
          await mkdir(dirname(file.path), { recursive: true });
          await writeFile(file.path, file.contents);
        }
      };
      return { ok: true, ms: performance.now() - started, write };
    } catch (error) {
      const errors = (error as { errors?: Message[] }).errors ?? [];
      const output =
        errors.length > 0
          ? (await esbuild.formatMessages(errors, { kind: 'error', color: this.options.color })).join('')
          : `${(error as Error).message}\n`;
      return { ok: false, ms: performance.now() - started, output };
    }
  }

  async dispose(): Promise<void> {
    await Promise.all([...this.contexts.values()].map(async (context) => (await context).dispose()));
    this.contexts.clear();
  }
}

/**
 * TypeScript's own checker (tsc, incremental: a save re-checks what it affects, in well under a
 * second), on what one service compiles: its sources and the kit they import. Its project file
 * extends the project's tsconfig.json and lives under .msctl/dev with its build info.
 */
export class TypeChecker {
  constructor(
    private readonly project: Project,
    private readonly options: BuildOptions,
  ) {}

  /** Whether there is a compiler to run: a project without TypeScript installed is only bundled. */
  available(): boolean {
    return tscPath(this.project.root) !== undefined;
  }

  async check(manifest: ServiceManifest): Promise<StepResult> {
    const started = performance.now();
    const tsc = tscPath(this.project.root);
    if (!tsc) return { ok: true, ms: 0 };
    const config = await this.writeConfig(manifest);
    const result = await execa(process.execPath, [tsc, '-p', config, '--noEmit', '--pretty', String(this.options.color)], {
      cwd: this.project.root,
      reject: false,
      env: { NO_COLOR: this.options.color ? undefined : '1' },
    });
    const ms = performance.now() - started;
    if (result.exitCode === 0) return { ok: true, ms };
    const output = `${String(result.stdout).trimEnd()}\n${String(result.stderr).trimEnd()}`.trim();
    return { ok: false, ms, output: `${output}\n` };
  }

  private async writeConfig(manifest: ServiceManifest): Promise<string> {
    const dir = join(this.project.stateDir, 'dev');
    await mkdir(dir, { recursive: true });
    const file = join(dir, `tsconfig.${manifest.name}.json`);
    const root = join(this.project.root, 'tsconfig.json');
    const kit = join(this.project.servicesDir, 'kit', 'src');
    const ambient = join(kit, 'raw-imports.d.ts');
    const config = {
      ...(existsSync(root) ? { extends: relative(dir, root) } : {}),
      compilerOptions: {
        noEmit: true,
        incremental: true,
        tsBuildInfoFile: `./${manifest.name}.tsbuildinfo`,
        ...(existsSync(root) ? {} : { strict: true, module: 'ESNext', moduleResolution: 'bundler', target: 'ES2023', types: ['node'], skipLibCheck: true }),
      },
      include: [relative(dir, join(manifest.dir, 'src')), ...(existsSync(ambient) ? [relative(dir, ambient)] : [])],
      exclude: [relative(dir, join(manifest.dir, 'src', '**', '*.test.ts'))],
    };
    await writeFile(file, `${JSON.stringify(config, null, 2)}\n`);
    return file;
  }
}

function tscPath(root: string): string | undefined {
  try {
    const pkg = createRequire(join(root, 'package.json')).resolve('typescript/package.json');
    const bin = join(dirname(pkg), 'bin', 'tsc');
    return existsSync(bin) ? bin : undefined;
  } catch {
    return undefined;
  }
}
