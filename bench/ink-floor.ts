/**
 * bench/ink-floor: what ink itself costs to keep a full terminal up to date once a second, as the
 * floor to judge `msctl dashboard`'s view by. The same ink and options as the dashboard's, a
 * screen of the same shape (a line per row of the terminal, each one text with styled parts, as
 * the dashboard's lines are; about 80 and 150 characters taking turns, as its tables and its log
 * pane), and as much of it changing every second as on an idle stack: the clock and seven
 * uptimes. Nothing is fetched or computed.
 *
 *   node --max-semi-space-size=4 scripts/run-ts.mjs bench/ink-floor.ts   (in a terminal; q quits)
 *
 * bench/dashboard.ts runs it in the same tmux terminal as the dashboard.
 */
import { Box, Text, render, useApp, useInput, useWindowSize } from 'ink';
import { createElement as h, memo, useEffect, useState, type ReactElement } from 'react';

const COLORS = ['green', 'yellow', 'cyan', 'red', 'gray'] as const;
const CHANGING_ROWS = 7;

interface RowProps {
  index: number;
  /** Rows below CHANGING_ROWS show this; the others never change. */
  seconds: number;
  width: number;
}

function RowText({ index, seconds, width }: RowProps): ReactElement {
  const figure = index < CHANGING_ROWS ? `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s` : '-';
  const name = `row-${String(index).padStart(2, '0')}`.padEnd(20);
  // Table rows and log lines: about 80 and 150 characters, taking turns.
  const filler = ' 123 4.5ms 98M '.repeat(10).slice(0, Math.max(0, index % 2 === 0 ? 40 : width - 50));
  return h(
    Text,
    { wrap: 'truncate-end' },
    `  ${name}  `,
    h(Text, { color: COLORS[index % COLORS.length] }, 'healthy   '),
    figure.padStart(7),
    h(Text, { bold: index % 3 === 0 }, filler),
  );
}
// As the dashboard's lines: a row whose props did not change is not rendered again.
const Row = memo(RowText);

function Screen(): ReactElement {
  const { exit } = useApp();
  const { columns, rows } = useWindowSize();
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  useInput((input) => {
    if (input === 'q') exit();
  });
  const seconds = Math.floor(now / 1000) % 3600;
  const lines: ReactElement[] = [h(Text, { key: 'header', bold: true }, `ink floor · ${new Date(now).toISOString().slice(11, 19)}`)];
  for (let i = 0; i < rows - 1; i++) lines.push(h(Row, { key: i, index: i, seconds: i < CHANGING_ROWS ? seconds : 0, width: columns }));
  return h(Box, { flexDirection: 'column', width: columns }, ...lines);
}

// The dashboard's own render options (src/dashboard/run.ts).
const instance = render(h(Screen), { exitOnCtrlC: true, patchConsole: true, maxFps: 10, incrementalRendering: true });
await instance.waitUntilExit();
