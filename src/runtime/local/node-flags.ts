import type { IdleReleasePolicy } from '../../../services/kit/src/memory';
import { SERVICE_ALLOCATOR_ENV } from '../../stack/service-env';

/**
 * How the supervisor itself runs (apart from the supervisor's module, so that starting or
 * observing a stack does not load everything the supervisor needs). As for the services
 * (SERVICE_NODE_FLAGS in stack/service-env.ts says why): the young generation capped, a
 * collection once load is over enabled, and no --enable-source-maps, which held ~20 MB of RSS
 * (the bundles are not minified, so a stack trace still names each function;
 * `NODE_OPTIONS=--enable-source-maps msctl up` brings it back).
 */
export const NODE_FLAGS = ['--max-semi-space-size=16', '--expose-gc'];

/**
 * glibc's allocator as for the services, with blocks of 16 KiB and more mapped on their own and
 * so returned when freed. The supervisor reads the output of every process it runs from pipes,
 * 64 KiB a read, and allocates many blocks of tens of KiB besides; taken from the heap,
 * they left it so fragmented that 43 MB freed could not be given back (`malloc_trim(0)` in gdb
 * gave back all of it; a threshold of 128 KiB changed nothing). With 64 KiB: 127 → 98 MB of RSS
 * idle; with 16 KiB, a further 85 → 77 MB idle and 98 → 90 MB after a load run, for the same CPU
 * per request (`msctl load-test users`, /proc ticks of the supervisor).
 */
export const SUPERVISOR_ALLOCATOR_ENV = { ...SERVICE_ALLOCATOR_ENV, MALLOC_MMAP_THRESHOLD_: '16384' };

/**
 * When the supervisor gives memory back (services/kit/src/memory.ts). Relaying a load run's logs
 * and spans keeps its event loop 5–10 % busy, never the 15 % that marks a busy service, and idle
 * it is under 1 %: with the services' policy it never collected, and kept a young generation of
 * 8 MB after every run (RSS 10 s after a run: 90 → 82 MB with this one).
 */
export const SUPERVISOR_IDLE_RELEASE: IdleReleasePolicy = { busyAbove: 0.04, idleBelow: 0.02 };
