import type { Reporter, TestModule } from 'vitest/node';

/**
 * Prints one closing line, "vitest: N passed, N failed, N skipped", so that any CI reading
 * plain summaries can count the tests.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const testModule of testModules) {
      for (const test of testModule.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed += 1;
        else if (state === 'failed') failed += 1;
        else skipped += 1;
      }
      // A file that failed outside its tests (an import, a beforeAll) counts as one failure.
      const testFailed = [...testModule.children.allTests()].some((test) => test.result().state === 'failed');
      if (testModule.state() === 'failed' && !testFailed) failed += 1;
    }
    process.stdout.write(`\nvitest: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
