/**
 * The bytes of a W&B transaction log (`run-<id>.wandb`), written from W&B's own definitions:
 *
 * - the LevelDB log format as W&B's datastore uses it (`wandb/sdk/internal/datastore.py` in the
 *   wandb repository): a 7-byte file header `":W&B"`, magic `0xBEE1` (uint16 LE), version `0`;
 *   then 32 KiB blocks of chunks, each `uint32 checksum · uint16 length · uint8 type · data`
 *   (little-endian), the checksum being zlib's CRC-32 of the type byte followed by the data; a
 *   record that does not fit the rest of a block is split into FIRST, MIDDLE… and LAST chunks, and a
 *   block tail shorter than a chunk header is zero-padded;
 * - each record a `wandb_internal.Record` protocol buffer (`wandb/proto/wandb_internal.proto`),
 *   of which this file writes the header, run, history, summary, exit and final records.
 */

const IEEE = 0xedb88320;
const TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ IEEE : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** zlib's CRC-32 (`zlib.crc32(bytes, start)`). */
export function crc32(bytes: Uint8Array, start = 0): number {
  let crc = ~start >>> 0;
  for (const b of bytes) crc = TABLE[(crc ^ b) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}

export const BLOCK = 32 * 1024;
export const CHUNK_HEADER = 7;
const FULL = 1;
const FIRST = 2;
const MIDDLE = 3;
const LAST = 4;

/** The file header: ident `:W&B`, magic 0xBEE1, version 0. */
export function logHeader(): Uint8Array {
  const out = new Uint8Array(7);
  out.set(new TextEncoder().encode(':W&B'), 0);
  new DataView(out.buffer).setUint16(4, 0xbee1, true);
  out[6] = 0;
  return out;
}

/** Frames records into the log's blocks; `offset` is where the next byte goes in the file. */
export class LogFramer {
  offset: number;

  /** A new log starts after its header. */
  constructor(offset = 7) {
    this.offset = offset;
  }

  private chunk(data: Uint8Array, type: number): Uint8Array {
    const out = new Uint8Array(CHUNK_HEADER + data.length);
    const view = new DataView(out.buffer);
    view.setUint32(0, crc32(data, crc32(Uint8Array.of(type))), true);
    view.setUint16(4, data.length, true);
    out[6] = type;
    out.set(data, CHUNK_HEADER);
    this.offset += out.length;
    return out;
  }

  /** The bytes of one record, with padding and chunk headers, as they follow `offset`. */
  frame(record: Uint8Array): Uint8Array[] {
    const parts: Uint8Array[] = [];
    let left = BLOCK - (this.offset % BLOCK);
    if (left < CHUNK_HEADER) {
      parts.push(new Uint8Array(left));
      this.offset += left;
      left = BLOCK;
    }
    if (record.length + CHUNK_HEADER <= left) {
      parts.push(this.chunk(record, FULL));
      return parts;
    }
    let used = left - CHUNK_HEADER;
    parts.push(this.chunk(record.subarray(0, used), FIRST));
    while (record.length - used > BLOCK - CHUNK_HEADER) {
      parts.push(this.chunk(record.subarray(used, used + BLOCK - CHUNK_HEADER), MIDDLE));
      used += BLOCK - CHUNK_HEADER;
    }
    parts.push(this.chunk(record.subarray(used), LAST));
    return parts;
  }
}

/** A protocol-buffer message being written: fields appended in order. */
export class ProtoWriter {
  private readonly parts: Uint8Array[] = [];
  private size = 0;

  private push(bytes: Uint8Array): this {
    this.parts.push(bytes);
    this.size += bytes.length;
    return this;
  }

  private varint(value: bigint | number): this {
    let v = BigInt.asUintN(64, BigInt(value));
    const bytes: number[] = [];
    while (v >= 0x80n) {
      bytes.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    bytes.push(Number(v));
    return this.push(Uint8Array.from(bytes));
  }

  /** int32, int64, enum and bool fields (wire type 0). */
  int(field: number, value: number | bigint): this {
    return this.varint(field << 3).varint(value);
  }

  /** bytes, string and embedded messages (wire type 2). */
  bytes(field: number, value: Uint8Array | string | ProtoWriter): this {
    const data = typeof value === 'string' ? new TextEncoder().encode(value) : value instanceof ProtoWriter ? value.finish() : value;
    return this.varint((field << 3) | 2)
      .varint(data.length)
      .push(data);
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let offset = 0;
    for (const p of this.parts) {
      out.set(p, offset);
      offset += p.length;
    }
    return out;
  }
}

/** Field numbers of `wandb_internal.Record` and the records written (wandb_internal.proto). */
const RECORD = { num: 1, history: 2, summary: 3, config: 5, run: 17, exit: 18, final: 20, header: 21 } as const;
const RUN = { runId: 1, entity: 2, project: 3, config: 4, group: 6, jobType: 7, displayName: 8, notes: 9, tags: 10, host: 13, startTime: 17 } as const;
/** `key` and `value_json` of ConfigItem, HistoryItem and SummaryItem alike. */
const ITEM = { key: 1, valueJson: 16 } as const;

/**
 * A value as W&B's `value_json`: JSON, with non-finite numbers written as Python's `json.dumps`
 * writes them (`NaN`, `Infinity`, `-Infinity`), as W&B's own SDK does.
 */
export function valueJson(value: unknown): string {
  if (typeof value === 'number' && !Number.isFinite(value)) return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
  return JSON.stringify(value) ?? 'null';
}

const items = (field: number, entries: Iterable<[string, unknown]>, into = new ProtoWriter()): ProtoWriter => {
  for (const [key, value] of entries) into.bytes(field, new ProtoWriter().bytes(ITEM.key, key).bytes(ITEM.valueJson, valueJson(value)));
  return into;
};

const record = (num: number, field: number, body: ProtoWriter): Uint8Array => new ProtoWriter().int(RECORD.num, num).bytes(field, body).finish();

/** `HeaderRecord { version_info { producer } }`. */
export function headerRecord(num: number, producer: string): Uint8Array {
  return record(num, RECORD.header, new ProtoWriter().bytes(1, new ProtoWriter().bytes(1, producer)));
}

export interface RunInfo {
  runId: string;
  project: string;
  entity?: string;
  displayName?: string;
  group?: string;
  jobType?: string;
  notes?: string;
  tags?: readonly string[];
  host?: string;
  /** Start time in milliseconds since the epoch. */
  startTime: number;
  /** The run's config, by top-level key. */
  config: Readonly<Record<string, unknown>>;
}

/** `RunRecord`: the run's identity, start time and config. */
export function runRecord(num: number, run: RunInfo): Uint8Array {
  const body = new ProtoWriter().bytes(RUN.runId, run.runId);
  if (run.entity) body.bytes(RUN.entity, run.entity);
  body.bytes(RUN.project, run.project);
  body.bytes(RUN.config, items(1, Object.entries(run.config)));
  if (run.group) body.bytes(RUN.group, run.group);
  if (run.jobType) body.bytes(RUN.jobType, run.jobType);
  if (run.displayName) body.bytes(RUN.displayName, run.displayName);
  if (run.notes) body.bytes(RUN.notes, run.notes);
  for (const tag of run.tags ?? []) body.bytes(RUN.tags, tag);
  if (run.host) body.bytes(RUN.host, run.host);
  const seconds = Math.floor(run.startTime / 1000);
  body.bytes(RUN.startTime, new ProtoWriter().int(1, seconds).int(2, Math.round((run.startTime - seconds * 1000) * 1e6)));
  return record(num, RECORD.run, body);
}

/** `HistoryRecord`: one row of the run's history (the step's metrics with `_step`, `_runtime`, `_timestamp`) at `step`. */
export function historyRecord(num: number, step: number, row: Readonly<Record<string, unknown>>): Uint8Array {
  const body = items(1, Object.entries(row));
  body.bytes(2, new ProtoWriter().int(1, step));
  return record(num, RECORD.history, body);
}

/** `SummaryRecord`: the run's summary values (by default the last value of each metric). */
export function summaryRecord(num: number, summary: Readonly<Record<string, unknown>>): Uint8Array {
  return record(num, RECORD.summary, items(1, Object.entries(summary)));
}

/** `RunExitRecord { exit_code, runtime }`. */
export function exitRecord(num: number, exitCode: number, runtimeSeconds: number): Uint8Array {
  return record(num, RECORD.exit, new ProtoWriter().int(1, exitCode).int(2, Math.round(runtimeSeconds)));
}

/** `FinalRecord`: the log is complete. */
export function finalRecord(num: number): Uint8Array {
  return record(num, RECORD.final, new ProtoWriter());
}
