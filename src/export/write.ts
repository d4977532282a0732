/**
 * Writes what the exporters generate: each file atomically (temp file + rename), secrets with
 * mode 0600. Nothing else in the output folder is touched.
 */
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export async function writeAtomically(path: string, text: string, mode = 0o644): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, text, { mode });
  await chmod(temporary, mode); // writeFile's mode is filtered by the umask
  await rename(temporary, path);
}

export async function writeTree(root: string, files: Array<{ path: string; text: string }>): Promise<string[]> {
  const written: string[] = [];
  for (const file of files) {
    const path = join(root, file.path);
    await writeAtomically(path, file.text);
    written.push(path);
  }
  return written;
}
