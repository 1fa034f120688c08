/**
 * One catalogue of Cairn's error codes. A code is never reused or renamed; only codes
 * (and a human message) cross the wire. Every code is documented in docs/errors.md.
 */
export const ErrorCode = {
  /** A rules file failed validation. */
  RulesInvalid: 'CAIRN_ERR_RULES_INVALID',
  /** A replay trace line is not valid. */
  TraceInvalid: 'CAIRN_ERR_TRACE_INVALID',
  /** A frame could not be decoded as msgpack, or is not a known message. */
  FrameInvalid: 'CAIRN_ERR_FRAME_INVALID',
  /** A frame is larger than MAX_FRAME_BYTES. */
  FrameTooLarge: 'CAIRN_ERR_FRAME_TOO_LARGE',
  /** The hello carries a protocol version this side does not speak. */
  ProtocolVersion: 'CAIRN_ERR_PROTOCOL_VERSION',
  /** The first message on a connection was not a valid hello. */
  HelloRequired: 'CAIRN_ERR_HELLO_REQUIRED',
  /** The hello's token does not match the server's token. */
  AuthFailed: 'CAIRN_ERR_AUTH_FAILED',
  /** The hello's epoch is older than the newest epoch seen for that server. */
  StaleEpoch: 'CAIRN_ERR_STALE_EPOCH',
  /** Configuration (environment, plugin.json, options) is not valid. */
  ConfigInvalid: 'CAIRN_ERR_CONFIG_INVALID',
  /** Redis could not be reached or started. */
  RedisUnavailable: 'CAIRN_ERR_REDIS_UNAVAILABLE',
  /** Kinesis could not be reached, or the stream could not be created. */
  KinesisUnavailable: 'CAIRN_ERR_KINESIS_UNAVAILABLE',
  /** The gateway failed to make a batch durable (it will be resent). */
  Internal: 'CAIRN_ERR_INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * WebSocket close codes used by the gateway. Application codes live in 4000-4999
 * (RFC 6455 section 7.4.2).
 */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  /** ws closes a connection whose fragments exceed maxFragments (RFC 6455 7.4.1) */
  PolicyViolation: 1008,
  /** ws closes a frame over maxPayload before we see it (RFC 6455 7.4.1) */
  MessageTooBig: 1009,
  FrameInvalid: 4000,
  FrameTooLarge: 4001,
  ProtocolVersion: 4002,
  HelloRequired: 4003,
  AuthFailed: 4004,
  StaleEpoch: 4005,
  Replaced: 4006,
  Internal: 4010,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** Base class: a message that names what was wrong and where, and a stable code. */
export class CairnError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CairnError';
    this.code = code;
  }
}

/** One problem found in a rules file. `path` is a JSON pointer ('' for the document). */
export interface RulesIssue {
  file: string;
  path: string;
  message: string;
  line?: number;
  column?: number;
  severity: 'error' | 'warning';
}

export function formatRulesIssue(i: RulesIssue): string {
  const where = i.line !== undefined ? `${i.file}:${i.line}:${i.column ?? 1}` : i.file;
  const sev = i.severity === 'warning' ? 'warning: ' : '';
  return `${where}: ${i.path || '/'}: ${sev}${i.message}`;
}

export class RulesError extends CairnError {
  readonly issues: RulesIssue[];
  constructor(issues: RulesIssue[]) {
    super(ErrorCode.RulesInvalid, issues.filter((i) => i.severity === 'error').map(formatRulesIssue).join('\n'));
    this.name = 'RulesError';
    this.issues = issues;
  }
}

export class TraceError extends CairnError {
  /** the line that is wrong (0: the file as a whole) */
  readonly line: number;
  /** what is wrong with it, without the file and line */
  readonly problem: string;
  constructor(file: string, line: number, problem: string) {
    super(ErrorCode.TraceInvalid, `${file}:${line}: ${problem}`);
    this.name = 'TraceError';
    this.line = line;
    this.problem = problem;
  }
}

/** A frame or message that must not be used; the connection that sent it is closed with `close`. */
export class ProtocolError extends CairnError {
  readonly close: CloseCode;
  constructor(code: ErrorCode, close: CloseCode, message: string) {
    super(code, message);
    this.name = 'ProtocolError';
    this.close = close;
  }
}
