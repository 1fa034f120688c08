/**
 * Every protocol and AWS limit Cairn relies on, in one place, each with its source.
 */

/** Wire protocol version carried in `hello`; bumped on any incompatible change to protocol/SPEC.md. */
export const PROTOCOL_VERSION = 2;

/** Largest WebSocket frame either side accepts (checked before decoding; the gateway's ws `maxPayload`). */
export const MAX_FRAME_BYTES = 1024 * 1024;

/**
 * Most deliveries in one `Prizes` frame. A delivery's strings are at most 256 UTF-16 units
 * each (what a plugin accepts), so at most ~4 KiB of UTF-8 with its keys: 128 of them stay
 * well under MAX_FRAME_BYTES. A window's prizes for one server usually fit in one frame.
 */
export const MAX_PRIZES_PER_FRAME = 128;

/** Most optional features a hello may name (`caps`), and the longest name. */
export const MAX_HELLO_CAPS = 16;
export const MAX_CAP_CHARS = 32;

/** Largest number of events a plugin puts in one batch. */
export const MAX_BATCH_EVENTS = 2000;

/** Kinesis PutRecords: at most 500 records per call (AWS Kinesis API reference, PutRecords). */
export const KINESIS_MAX_RECORDS_PER_PUT = 500;

/** Kinesis PutRecords: at most 5 MiB per call, partition keys included (AWS Kinesis API reference, PutRecords). */
export const KINESIS_MAX_BYTES_PER_PUT = 5 * 1024 * 1024;

/** Kinesis: a record's data blob plus partition key is at most 1 MiB (AWS Kinesis quotas). */
export const KINESIS_MAX_RECORD_BYTES = 1024 * 1024;

/** Kinesis: one PUT payload unit is 25 KB (Kinesis on-demand/provisioned pricing); our default record size target. */
export const KINESIS_PUT_PAYLOAD_UNIT_BYTES = 25 * 1024;

/** Kinesis: a partition key is 1 to 256 Unicode characters (AWS Kinesis API reference, PutRecordsRequestEntry). */
export const KINESIS_MAX_PARTITION_KEY_CHARS = 256;

/** Shortest hunt window we accept: shorter windows cost more Redis round trips than they buy latency. */
export const MIN_WINDOW_MS = 1000;

/** Server ids and player ids: printable, short, no separators we use in Redis keys. */
export const ID_PATTERN = '^[A-Za-z0-9_.:-]{1,64}$';
export const MAX_ID_CHARS = 64;
/** ID_PATTERN as a RegExp: the one test of an id. */
export const ID_RE = new RegExp(ID_PATTERN);

/** Hunt ids, as the rules schema allows them (they go into Redis keys inside {hash tags}). */
export const HUNT_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** A hunt's window when its rules name none (hunt semantics: the `window` key). */
export const DEFAULT_WINDOW_MS = 60_000;

/** The `maxSpeed` window when the rules name none (hunt semantics: `speedWindowMs`). */
export const DEFAULT_SPEED_WINDOW_MS = 1000;
/**
 * Longest `speedWindowMs` accepted: the plugin keeps each player's samples of one window
 * (up to one slot per distinct millisecond), and a speed averaged over more than a
 * minute no longer tells a walker from a teleport.
 */
export const MAX_SPEED_WINDOW_MS = 60_000;
