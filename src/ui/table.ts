/**
 * A tiny column formatter for status and doctor: pads every column to its widest cell.
 * Widths ignore colour codes; with `color: false` any colour codes in the cells are removed,
 * so the output holds no escape sequence at all.
 */
import { makeChalk, stripAnsi } from './colors';

export interface TableOptions {
  /** Column titles, printed first (bold when colour is on). */
  header?: string[];
  color?: boolean;
  /** Per column; default left. */
  align?: Array<'left' | 'right'>;
  /** Spaces between columns; default 2. */
  gap?: number;
  /** Prefix of every line; default ''. */
  indent?: string;
}

/** Display width of a cell (colour codes excluded; every code point counts as one column). */
export const visibleWidth = (text: string): number => [...stripAnsi(text)].length;

/** The table as lines (no trailing newline); trailing spaces of each line are trimmed. */
export function formatTable(rows: ReadonlyArray<ReadonlyArray<string>>, options: TableOptions = {}): string {
  const color = options.color ?? false;
  const c = makeChalk(color);
  const clean = (cell: string) => (color ? cell : stripAnsi(cell));
  const body = rows.map((row) => row.map(clean));
  const header = options.header?.map(clean);
  const all = header ? [header, ...body] : body;
  const columns = Math.max(0, ...all.map((row) => row.length));
  const widths = Array.from({ length: columns }, (_, i) => Math.max(0, ...all.map((row) => visibleWidth(row[i] ?? ''))));
  const gap = ' '.repeat(options.gap ?? 2);
  const line = (row: readonly string[]) =>
    (options.indent ?? '') +
    widths
      .map((width, i) => {
        const cell = row[i] ?? '';
        const pad = ' '.repeat(width - visibleWidth(cell));
        return options.align?.[i] === 'right' ? pad + cell : cell + pad;
      })
      .join(gap)
      .trimEnd();
  const lines = body.map(line);
  if (header) lines.unshift(color ? c.bold(line(header)) : line(header));
  return lines.join('\n');
}
