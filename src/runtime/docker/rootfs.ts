/**
 * The file tree of an air-gapped image, gathered from this machine: binaries with the shared
 * libraries `ldd` says they load, whole directories (a JDK, the PostgreSQL binaries), and small
 * generated files. Packed as a Docker build context: Dockerfile + rootfs/.
 */
import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, lstatSync, readdirSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { pack as createPack } from 'tar-stream';

type Entry =
  | { kind: 'file'; source: string; mode: number; size: number; mtimeMs: number }
  | { kind: 'text'; content: Buffer; mode: number }
  | { kind: 'dir'; mode: number; owner?: number }
  | { kind: 'symlink'; target: string };

/** The libraries a binary loads, as `ldd` lists them (paths as the loader looks them up). */
export function sharedLibraries(binary: string): string[] {
  let output: string;
  try {
    output = execFileSync('ldd', [binary], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return []; // statically linked, or not an ELF file
  }
  const libraries: string[] = [];
  for (const line of output.split('\n')) {
    const arrow = line.match(/=>\s+(\/\S+)/);
    const direct = line.trim().match(/^(\/\S+)\s+\(/);
    const path = arrow?.[1] ?? direct?.[1];
    if (path) libraries.push(path);
  }
  return libraries;
}

export class Rootfs {
  private readonly entries = new Map<string, Entry>();

  /** Parent directories are added as needed (0755). */
  private ensureParents(imagePath: string): void {
    const parts = posix.dirname(imagePath).split('/').filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const dir = `/${parts.slice(0, i).join('/')}`;
      if (!this.entries.has(dir)) this.entries.set(dir, { kind: 'dir', mode: 0o755 });
    }
  }

  dir(imagePath: string, mode = 0o755, owner?: number): this {
    this.ensureParents(imagePath);
    this.entries.set(imagePath, owner === undefined ? { kind: 'dir', mode } : { kind: 'dir', mode, owner });
    return this;
  }

  text(imagePath: string, content: string, mode = 0o644): this {
    this.ensureParents(imagePath);
    this.entries.set(imagePath, { kind: 'text', content: Buffer.from(content), mode });
    return this;
  }

  symlink(imagePath: string, target: string): this {
    this.ensureParents(imagePath);
    this.entries.set(imagePath, { kind: 'symlink', target });
    return this;
  }

  /** A host file at `imagePath`, following symlinks on the host. */
  file(imagePath: string, hostPath: string, mode?: number): this {
    const stat = statSync(hostPath);
    this.ensureParents(imagePath);
    this.entries.set(imagePath, { kind: 'file', source: realpathSync(hostPath), mode: mode ?? stat.mode & 0o7777, size: stat.size, mtimeMs: stat.mtimeMs });
    return this;
  }

  /** A binary and every library it loads, each at the path the loader looks for it. */
  binary(imagePath: string, hostPath: string): this {
    this.file(imagePath, hostPath);
    return this.librariesOf(hostPath);
  }

  librariesOf(hostPath: string): this {
    for (const library of sharedLibraries(hostPath)) {
      if (!this.entries.has(library)) this.file(library, library);
    }
    return this;
  }

  /** A host directory copied whole (symlinks kept as symlinks); ELF files bring their libraries. */
  tree(imagePath: string, hostDir: string, options: { libraries?: boolean } = {}): this {
    this.dir(imagePath);
    for (const name of readdirSync(hostDir)) {
      const source = join(hostDir, name);
      const target = posix.join(imagePath, name);
      const stat = lstatSync(source);
      if (stat.isSymbolicLink()) {
        const link = readlinkSync(source);
        // A link out of the tree (Debian's JDK points conf/ into /etc) would dangle in the image: copy what it points to.
        if (!existsSync(source)) continue; // dangling on the host (e.g. the JDK's src.zip): nothing to copy
        if (link.startsWith('/') || !realpathSync(source).startsWith(`${realpathSync(hostDir)}/`)) {
          const resolved = realpathSync(source);
          if (statSync(resolved).isDirectory()) this.tree(target, resolved, options);
          else this.file(target, resolved);
        } else this.symlink(target, link);
      }
      else if (stat.isDirectory()) this.tree(target, source, options);
      else if (stat.isFile()) {
        this.file(target, source);
        if (options.libraries && (stat.mode & 0o111 || name.includes('.so'))) this.librariesOf(source);
      }
    }
    return this;
  }

  /**
   * COPY writes everything as root; directories that the app user must own are changed by a
   * RUN step (busybox chown) right after it.
   */
  chownStep(): string {
    const owned = [...this.entries].filter((entry): entry is [string, Extract<Entry, { kind: 'dir' }>] => entry[1].kind === 'dir' && entry[1].owner !== undefined);
    if (owned.length === 0) return '';
    const byOwner = new Map<number, string[]>();
    for (const [path, entry] of owned) byOwner.set(entry.owner!, [...(byOwner.get(entry.owner!) ?? []), path]);
    return [...byOwner].map(([owner, paths]) => `RUN ["/bin/busybox", "chown", "${owner}:${owner}", ${paths.map((p) => JSON.stringify(p)).join(', ')}]`).join('\n');
  }

  /** A build context: the Dockerfile and rootfs/ with every entry (owned by root). */
  context(dockerfile: string): Readable {
    return this.pack((path) => `rootfs${path}`, dockerfile);
  }

  /** The entries alone, as the Engine's archive upload takes them (extracted at /). */
  archive(): Readable {
    return this.pack((path) => path.slice(1));
  }

  private pack(nameOf: (path: string) => string, dockerfile?: string): Readable {
    const tar = createPack();
    const entries = [...this.entries].sort(([a], [b]) => a.localeCompare(b));
    const write = async () => {
      if (dockerfile !== undefined) tar.entry({ name: 'Dockerfile', mode: 0o644 }, dockerfile);
      for (const [path, entry] of entries) {
        const name = nameOf(path);
        if (entry.kind === 'dir') tar.entry({ name, type: 'directory', mode: entry.mode, uid: entry.owner ?? 0, gid: entry.owner ?? 0 });
        else if (entry.kind === 'symlink') tar.entry({ name, type: 'symlink', linkname: entry.target });
        else if (entry.kind === 'text') tar.entry({ name, mode: entry.mode }, entry.content);
        else {
          await new Promise<void>((resolve, reject) => {
            const sink = tar.entry({ name, size: entry.size, mode: entry.mode }, (error) => (error ? reject(error) : resolve()));
            createReadStream(entry.source).on('error', reject).pipe(sink);
          });
        }
      }
      tar.finalize();
    };
    write().catch((error: unknown) => tar.destroy(error as Error));
    return Readable.from(tar);
  }
}
