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
import zlib from 'node:zlib';
import protobuf from 'protobufjs/minimal.js';

const { Writer } = protobuf;

/** zlib's CRC-32 (`zlib.crc32(bytes, start)`): the log's chunk checksum. */
export function crc32(bytes: Uint8Array, start = 0): number {
  return zlib.crc32(bytes, start);
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

/** A field's key: its number and wire type (0 varint, 2 length-delimited). */
const key = (field: number, wire: 0 | 2): number => (field << 3) | wire;

/** Repeated `{ key, value_json }` items under `field`. */
function items(w: protobuf.Writer, field: number, entries: Iterable<[string, unknown]>): protobuf.Writer {
  for (const [name, value] of entries)
    w.uint32(key(field, 2)).fork().uint32(key(ITEM.key, 2)).string(name).uint32(key(ITEM.valueJson, 2)).string(valueJson(value)).ldelim();
  return w;
}

/** A `Record` with its number and one record field, whose body `body` writes. */
function record(num: number, field: number, body: (w: protobuf.Writer) => unknown): Uint8Array {
  const w = Writer.create().uint32(key(RECORD.num, 0)).int64(num).uint32(key(field, 2)).fork();
  body(w);
  return w.ldelim().finish();
}

/** `HeaderRecord { version_info { producer } }`. */
export function headerRecord(num: number, producer: string): Uint8Array {
  return record(num, RECORD.header, (w) => w.uint32(key(1, 2)).fork().uint32(key(1, 2)).string(producer).ldelim());
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
  return record(num, RECORD.run, (w) => {
    const text = (field: number, value: string | undefined) => value && w.uint32(key(field, 2)).string(value);
    w.uint32(key(RUN.runId, 2)).string(run.runId);
    text(RUN.entity, run.entity);
    w.uint32(key(RUN.project, 2)).string(run.project);
    items(w.uint32(key(RUN.config, 2)).fork(), 1, Object.entries(run.config)).ldelim();
    text(RUN.group, run.group);
    text(RUN.jobType, run.jobType);
    text(RUN.displayName, run.displayName);
    text(RUN.notes, run.notes);
    for (const tag of run.tags ?? []) w.uint32(key(RUN.tags, 2)).string(tag);
    text(RUN.host, run.host);
    // google.protobuf.Timestamp { seconds, nanos }
    const seconds = Math.floor(run.startTime / 1000);
    const nanos = Math.round((run.startTime - seconds * 1000) * 1e6);
    w.uint32(key(RUN.startTime, 2)).fork().uint32(key(1, 0)).int64(seconds).uint32(key(2, 0)).int32(nanos).ldelim();
  });
}

/** `HistoryRecord`: one row of the run's history (the step's metrics with `_step`, `_runtime`, `_timestamp`) at `step`. */
export function historyRecord(num: number, step: number, row: Readonly<Record<string, unknown>>): Uint8Array {
  return record(num, RECORD.history, (w) => items(w, 1, Object.entries(row)).uint32(key(2, 2)).fork().uint32(key(1, 0)).int64(step).ldelim());
}

/** `SummaryRecord`: the run's summary values (by default the last value of each metric). */
export function summaryRecord(num: number, summary: Readonly<Record<string, unknown>>): Uint8Array {
  return record(num, RECORD.summary, (w) => items(w, 1, Object.entries(summary)));
}

/** `RunExitRecord { exit_code, runtime }`. */
export function exitRecord(num: number, exitCode: number, runtimeSeconds: number): Uint8Array {
  return record(num, RECORD.exit, (w) => w.uint32(key(1, 0)).int32(exitCode).uint32(key(2, 0)).int32(Math.round(runtimeSeconds)));
}

/** `FinalRecord`: the log is complete. */
export function finalRecord(num: number): Uint8Array {
  return record(num, RECORD.final, () => undefined);
}
