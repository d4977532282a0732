import type { IdleReleasePolicy } from '../../../services/kit/src/memory';

/**
 * How the supervisor itself runs (apart from the supervisor's module, so that starting or
 * observing a stack does not load everything the supervisor needs), with the services'
 * allocator settings (SERVICE_ALLOCATOR_ENV). As for the services
 * (SERVICE_NODE_FLAGS in stack/service-env.ts says why): the young generation capped, a
 * collection once load is over enabled, and no --enable-source-maps, which held ~20 MB of RSS
 * (the bundles are not minified, so a stack trace still names each function;
 * `NODE_OPTIONS=--enable-source-maps msctl up` brings it back).
 */
export const NODE_FLAGS = ['--max-semi-space-size=16', '--expose-gc'];

/**
 * When the supervisor gives memory back (services/kit/src/memory.ts). Relaying a load run's logs
 * and spans keeps its event loop 5–10 % busy, never the 15 % that marks a busy service, and idle
 * it is under 1 %: with the services' policy it never collected, and kept a young generation of
 * 8 MB after every run (RSS 10 s after a run: 90 → 82 MB with this one).
 */
export const SUPERVISOR_IDLE_RELEASE: IdleReleasePolicy = { busyAbove: 0.04, idleBelow: 0.02 };
