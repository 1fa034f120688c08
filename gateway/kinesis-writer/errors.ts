/**
 * How the writer classifies Kinesis errors, and the error a failed write rejects with.
 * KinesisWriteError stays inside the gateway: the connection turns it into an Internal
 * error for the plugin (only codes cross the wire), so it is not in protocol/errors.ts.
 */

/** Thrown by a write whose records could not all be put. */
export class KinesisWriteError extends Error {
  constructor(
    message: string,
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'KinesisWriteError';
  }
}

/** Error codes no retry can fix: fail the write at once. */
export const FATAL_CODES: ReadonlySet<string> = new Set([
  'ResourceNotFoundException',
  'ValidationException',
  'InvalidArgumentException',
  'AccessDeniedException',
  'KMSAccessDeniedException',
  'KMSDisabledException',
  'KMSInvalidStateException',
  'KMSNotFoundException',
  'KMSOptInRequired',
  'UnrecognizedClientException',
]);

/** Error codes that mean "slower": they also slow every later call (pacing.ts). */
export const THROTTLE_CODES: ReadonlySet<string> = new Set(['ProvisionedThroughputExceededException', 'LimitExceededException', 'KMSThrottlingException', 'ThrottlingException']);

/** The AWS error name (ProvisionedThroughputExceededException, ...), else a Node error code. */
export function errorCode(err: unknown): string {
  const e = err as { name?: string; code?: string };
  return e?.name && e.name !== 'Error' ? e.name : (e?.code ?? 'Error');
}
