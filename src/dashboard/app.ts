/**
 * The interactive shell around DashboardView: keys, terminal size, the log pane's feed.
 * Data comes from the poller's snapshots, the log feed and loadTrace; actions (restart, quit)
 * are callbacks. Still no network call or file read in here.
 */
import { useInput, useWindowSize } from 'ink';
import { createElement as h, useEffect, useState, useSyncExternalStore, type ReactElement } from 'react';
import type { Trace } from '../traces/store';
import type { DashboardSnapshot } from './snapshot';
import { type BuildLine, type DashboardOverlay, DashboardView, type PaneLine } from './view';

export interface SnapshotSource {
  subscribe(listener: () => void): () => void;
  getSnapshot(): DashboardSnapshot;
}

export interface LogSource {
  subscribe(listener: () => void): () => void;
  getLines(): readonly PaneLine[];
  /** Follow this target's log (null: none). */
  follow(target: string | null): void;
}

export interface DashboardAppProps {
  source: SnapshotSource;
  logs: LogSource;
  color: boolean;
  /** False when stdin is not a terminal: no keys. */
  interactive: boolean;
  onRestart(target: string): void;
  /** The stored trace with this id (undefined: no longer stored), for `t`. */
  loadTrace(traceId: string): Promise<Trace | undefined>;
  onQuit(reason: 'quit' | 'interrupted'): void;
  /** Fixed size (tests); default: the terminal's. */
  size?: { columns: number; rows: number };
  /** `msctl dev`'s line per watched service. */
  builds?: BuildSource;
}

export interface BuildSource {
  subscribe(listener: () => void): () => void;
  getLines(): readonly BuildLine[];
}

const NONE: readonly BuildLine[] = [];
// The same array every time: useSyncExternalStore renders again whenever the snapshot is another object.
const NO_BUILDS: BuildSource = { subscribe: () => () => undefined, getLines: () => NONE };

export function DashboardApp(props: DashboardAppProps): ReactElement {
  const snapshot = useSyncExternalStore(props.source.subscribe, props.source.getSnapshot);
  const logLines = useSyncExternalStore(props.logs.subscribe, props.logs.getLines);
  const builds = props.builds ?? NO_BUILDS;
  const buildLines = useSyncExternalStore(builds.subscribe, builds.getLines);
  const windowSize = useWindowSize();
  const size = props.size ?? windowSize;
  const [selected, setSelected] = useState(0);
  const [showLogs, setShowLogs] = useState(false);
  const [group, setGroup] = useState<string | null>(null);
  const [overlay, setOverlay] = useState<DashboardOverlay | null>(null);
  const count = snapshot.services.length;
  const index = count === 0 ? 0 : Math.min(selected, count - 1);
  const selectedName = snapshot.services[index]?.name ?? null;

  useEffect(() => {
    props.logs.follow(showLogs ? selectedName : null);
  }, [showLogs, selectedName, props.logs]);

  useInput(
    (input, key) => {
      if (key.ctrl && input === 'c') return props.onQuit('interrupted');
      if (key.escape && overlay) return setOverlay(null);
      if (input === 'q' || key.escape) return props.onQuit('quit');
      if (input === '?') return setOverlay((shown) => (shown?.kind === 'keys' ? null : { kind: 'keys' }));
      if (input === 't') {
        if (overlay?.kind === 'trace' || !selectedName) return setOverlay(null);
        return openTrace(selectedName);
      }
      // Functional updates: several keys can arrive before the next render.
      if (key.upArrow || input === 'k') {
        setSelected((current) => Math.max(0, Math.min(current, count - 1) - 1));
        setGroup(null);
      } else if (key.downArrow || input === 'j') {
        setSelected((current) => Math.min(Math.max(0, count - 1), current + 1));
        setGroup(null);
      } else if (input === 'l') {
        setShowLogs((shown) => !shown);
      } else if (input === 'g') {
        const groups = snapshot.kafka.groups.map((g) => g.group);
        if (groups.length > 0) setGroup(groups[(groups.indexOf(group ?? '') + 1) % groups.length] ?? null);
      } else if (input === 'r' && selectedName) {
        props.onRestart(selectedName);
      }
    },
    { isActive: props.interactive },
  );

  /** The service's slowest trace of the window (the snapshot's), read once the pane shows it is coming. */
  function openTrace(service: string): void {
    const traceId = snapshot.slowestTraces.find((t) => t.service === service)?.traceId ?? null;
    setOverlay({ kind: 'trace', service, traceId });
    if (!traceId) return;
    // Only into the pane that asked: it may have been closed, or opened for another trace since.
    const settle = (outcome: Partial<Extract<DashboardOverlay, { kind: 'trace' }>>) =>
      setOverlay((shown) => (shown?.kind === 'trace' && shown.traceId === traceId && !shown.trace ? { ...shown, ...outcome } : shown));
    props.loadTrace(traceId).then(
      (trace) => settle(trace ? { trace } : { missing: true }),
      (error: unknown) => settle({ error: error instanceof Error ? error.message : String(error) }),
    );
  }

  return h(DashboardView, { snapshot, width: size.columns, height: size.rows, color: props.color, selected: index, showLogs, logLines, selectedGroup: group, overlay, builds: buildLines });
}

/** The app as an element, for a caller that loads React only through this module. */
export const dashboardElement = (props: DashboardAppProps): ReactElement => h(DashboardApp, props);
