/** Waits `ms`, or less when the signal aborts; resolves true when it was aborted, false when the time ran out. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(true);
    const aborted = () => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', aborted);
      resolve(false);
    }, ms);
    signal?.addEventListener('abort', aborted, { once: true });
  });
}
