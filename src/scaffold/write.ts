/**
 * Writes a new service folder all at once or not at all: the files go into a hidden temp
 * folder next to it (services/.<name>.tmp-<pid>), which is renamed into place at the end. On
 * any error, on abort (Ctrl-C) or when the process exits half-way, the temp folder is removed:
 * there is never a half-written services/<name>.
 */
import { rmSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { MsctlError } from '../core/errors';
import type { RenderedFile } from './render';

export interface WriteOptions {
  signal?: AbortSignal;
  /** Runs before each file is written (tests use it to interrupt half-way). */
  beforeFile?: (path: string, index: number) => Promise<void> | void;
  /** Runs after the folder is in place; a throw undoes the whole write (the folder is removed). */
  afterRename?: () => Promise<void>;
}

export const tempDirFor = (servicesDir: string, name: string, pid = process.pid) => join(servicesDir, `.${name}.tmp-${pid}`);

const abortError = (signal: AbortSignal) =>
  signal.reason instanceof MsctlError ? signal.reason : new MsctlError('INTERRUPTED', 'interrupted; nothing was written');

export async function writeServiceFolder(servicesDir: string, name: string, files: RenderedFile[], options: WriteOptions = {}): Promise<string> {
  const target = join(servicesDir, name);
  const temp = tempDirFor(servicesDir, name);
  // Last resort: a process that exits while the temp folder exists removes it.
  const onExit = () => rmSync(temp, { recursive: true, force: true });
  process.once('exit', onExit);
  let renamed = false;
  try {
    await rm(temp, { recursive: true, force: true });
    await mkdir(temp, { recursive: false });
    for (const [index, file] of files.entries()) {
      if (options.signal?.aborted) throw abortError(options.signal);
      await options.beforeFile?.(file.path, index);
      if (options.signal?.aborted) throw abortError(options.signal);
      const path = join(temp, file.path);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, file.contents, { flag: 'wx' });
    }
    if (options.signal?.aborted) throw abortError(options.signal);
    try {
      // rename(2) fails when the target exists and is not empty; an empty one is replaced.
      await rename(temp, target);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') throw new MsctlError('USAGE', `services/${name} already exists`, 'choose another name, or remove the folder first');
      throw error;
    }
    renamed = true;
    await options.afterRename?.();
    return target;
  } catch (error) {
    await rm(renamed ? target : temp, { recursive: true, force: true });
    throw error;
  } finally {
    await rm(temp, { recursive: true, force: true });
    process.off('exit', onExit);
  }
}
