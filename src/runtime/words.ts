/** "1.5 s": how long a chaos action lasts, as both runtimes say it. */
export const secondsText = (ms: number): string => `${Math.round(ms / 100) / 10} s`;
