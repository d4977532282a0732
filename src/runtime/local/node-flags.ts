/**
 * How the supervisor itself runs (apart from the supervisor's module, so that starting or
 * observing a stack does not load everything the supervisor needs). kafkajs 2.2.4 schedules a
 * timer with a negative delay, which Node 22+ reports on stderr as TimeoutNegativeWarning at
 * every start (harmless: Node uses 1 ms). The young generation is capped as the services' is
 * (SERVICE_NODE_FLAGS in stack/service-env.ts says why).
 */
export const NODE_FLAGS = ['--enable-source-maps', '--disable-warning=TimeoutNegativeWarning', '--max-semi-space-size=16'];
