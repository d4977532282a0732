import { describe, expect, it } from 'vitest';
import { idleReleaseStep, type IdleReleasePolicy } from '../../services/kit/src/memory';
import { SUPERVISOR_IDLE_RELEASE } from '../../src/runtime/local/node-flags';

const collections = (readings: number[], policy?: IdleReleasePolicy) => {
  let busy = false;
  return readings.filter((utilization) => {
    const step = idleReleaseStep(busy, utilization, policy);
    busy = step.busy;
    return step.collect;
  }).length;
};

describe("the supervisor's memory release", () => {
  // Its event loop idle, while it relays a load run's logs and spans, and idle again.
  const loadRun = [0.008, 0.006, 0.07, 0.09, 0.06, 0.01, 0.007, 0.008];

  it('collects once after a load run, which never looks busy by the measure of a service', () => {
    expect(collections(loadRun, SUPERVISOR_IDLE_RELEASE)).toBe(1);
    expect(collections(loadRun)).toBe(0);
  });

  it('does not collect while it stays idle', () => {
    expect(collections([0.006, 0.009, 0.012, 0.007, 0.01, 0.008], SUPERVISOR_IDLE_RELEASE)).toBe(0);
  });
});
