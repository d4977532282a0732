/**
 * How the supervisor itself runs (apart from the supervisor's module, so that starting or
 * observing a stack does not load everything the supervisor needs). The young generation is
 * capped, and a collection once load is over enabled, as for the services (SERVICE_NODE_FLAGS in
 * stack/service-env.ts says why).
 */
export const NODE_FLAGS = ['--enable-source-maps', '--max-semi-space-size=16', '--expose-gc'];
