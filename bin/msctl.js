#!/usr/bin/env node
// msctl's launcher: checks the Node version, then loads the bundled CLI (dist/cli.js, made by `npm run build`).
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const major = Number(process.versions.node.split('.')[0]);
if (!(major >= 22)) {
  process.stderr.write(
    `msctl needs Node.js 22 or newer (this is ${process.version}); inside the project, \`npx msctl\` runs the pinned Node 24.\n`,
  );
  process.exit(1);
}

// `msctl --version` alone answers from package.json, loading none of the CLI.
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  process.stdout.write(`${version}\n`);
  process.exit(0);
}

// The dashboard stays up for hours and allocates a little on every frame, for which V8 grows
// its young generation to 32 MB; it runs with that capped instead. The same process starts
// over with the flag (execve, before anything has loaded or touched the terminal): 141 → 118 MB
// of RSS, the same CPU.
const DASHBOARD_NODE_FLAG = '--max-semi-space-size=4';
const semiSpaceSet = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((flag) => flag.startsWith('--max-semi-space-size'));
if (args.includes('dashboard') && !semiSpaceSet && typeof process.execve === 'function') {
  process.execve(process.execPath, [process.execPath, ...process.execArgv, DASHBOARD_NODE_FLAG, fileURLToPath(import.meta.url), ...args]);
}

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(fileURLToPath(cli))) {
  process.stderr.write(`msctl is not built yet (${fileURLToPath(cli)} is missing): run \`npm run build\` in the project first.\n`);
  process.exit(1);
}
await import(cli.href);
