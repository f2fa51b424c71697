/**
 * Which decorator mode this run compiles tests with (scripts/test-node.mjs sets
 * LAPTIME_TEST_DECORATORS together with TSX_TSCONFIG_PATH), and a probe decorator that records the
 * arguments it really receives, so a test can prove the mode was in effect.
 */
export type Mode = 'standard' | 'legacy';

export const MODE: Mode = process.env.LAPTIME_TEST_DECORATORS === 'legacy' ? 'legacy' : 'standard';

export interface ProbeCall {
  argc: number;
  /** `kind` of a standard context, or the type of the legacy target. */
  shape: string;
}

export const probeCalls: ProbeCall[] = [];

/** A no-op method decorator that notes how it was called. */
export function probe(...args: unknown[]): void {
  const second = args[1];
  const shape =
    typeof second === 'object' && second !== null && 'kind' in second ? `standard:${String((second as { kind: unknown }).kind)}` : `legacy:${typeof args[0]}:${typeof args[2]}`;
  probeCalls.push({ argc: args.length, shape });
}
