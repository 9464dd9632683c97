/**
 * The bytes of a TensorBoard event file, written from the formats' specifications:
 *
 * - TFRecord framing (tensorflow/core/lib/io/record_writer.h): per record
 *   `uint64 length · uint32 masked_crc32c(length) · data · uint32 masked_crc32c(data)`, little-endian,
 *   where `masked(crc) = ((crc >>> 15) | (crc << 17)) + 0xa282ead8` (mod 2³²) and CRC-32C is the
 *   Castagnoli polynomial (reflected 0x82f63b78).
 * - Protocol-buffer encoding (varints, tags `field << 3 | wire type`) of the few messages an
 *   event file needs: `Event` (tensorflow/core/util/event.proto), `Summary`, `SummaryMetadata`
 *   (tensorflow/core/framework/summary.proto), `TensorProto` and `TensorShapeProto`.
 */

const CASTAGNOLI = 0x82f63b78;
const TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ CASTAGNOLI : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32C (Castagnoli) of `bytes`. */
export function crc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of bytes) crc = TABLE[(crc ^ b) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** TFRecord's masked CRC: rotated right by 15 bits plus a constant, so CRCs of CRCs stay useful. */
export function maskedCrc32c(bytes: Uint8Array): number {
  const crc = crc32c(bytes);
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** One TFRecord: length, its masked CRC, the data and its masked CRC. */
export function tfRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length + 4);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(data.length), true);
  view.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, 12);
  view.setUint32(12 + data.length, maskedCrc32c(data), true);
  return out;
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

  private tag(field: number, wireType: 0 | 1 | 2 | 5): this {
    return this.varint((field << 3) | wireType);
  }

  /** int32, int64, enum and bool fields (wire type 0). */
  int(field: number, value: number | bigint): this {
    return this.tag(field, 0).varint(value);
  }

  /** double (wire type 1). */
  double(field: number, value: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, value, true);
    return this.tag(field, 1).push(b);
  }

  /** float (wire type 5). */
  float(field: number, value: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    return this.tag(field, 5).push(b);
  }

  /** bytes, string and embedded messages (wire type 2). */
  bytes(field: number, value: Uint8Array | string | ProtoWriter): this {
    const data = typeof value === 'string' ? new TextEncoder().encode(value) : value instanceof ProtoWriter ? value.finish() : value;
    return this.tag(field, 2).varint(data.length).push(data);
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

/** Field numbers of the messages written (from the .proto files named above). */
const EVENT = { wallTime: 1, step: 2, fileVersion: 3, summary: 5, sessionLog: 7 } as const;
const SUMMARY = { value: 1 } as const;
const VALUE = { tag: 1, simpleValue: 2, tensor: 8, metadata: 9 } as const;
const METADATA = { pluginData: 1 } as const;
const PLUGIN_DATA = { pluginName: 1, content: 2 } as const;
const TENSOR = { dtype: 1, shape: 2, stringVal: 8 } as const;
const DT_STRING = 7;
/** `SessionLog.status`: START tells TensorBoard that a (resumed) run starts again at this step. */
export const SESSION_START = 1;

/** The first event of every file: `file_version: "brain.Event:2"`. */
export function fileVersionEvent(wallTime: number): Uint8Array {
  return new ProtoWriter().double(EVENT.wallTime, wallTime).bytes(EVENT.fileVersion, 'brain.Event:2').finish();
}

/** An event with scalar summaries, one `simple_value` (float32) per tag. */
export function scalarsEvent(wallTime: number, step: number, scalars: Readonly<Record<string, number>>): Uint8Array {
  const summary = new ProtoWriter();
  for (const [tag, value] of Object.entries(scalars)) summary.bytes(SUMMARY.value, new ProtoWriter().bytes(VALUE.tag, tag).float(VALUE.simpleValue, value));
  return new ProtoWriter().double(EVENT.wallTime, wallTime).int(EVENT.step, step).bytes(EVENT.summary, summary).finish();
}

/** An event with one text summary (the text plugin's scalar string tensor; TensorBoard renders it as Markdown). */
export function textEvent(wallTime: number, step: number, tag: string, text: string): Uint8Array {
  const metadata = new ProtoWriter().bytes(
    METADATA.pluginData,
    new ProtoWriter().bytes(PLUGIN_DATA.pluginName, 'text').bytes(PLUGIN_DATA.content, new Uint8Array()),
  );
  const tensor = new ProtoWriter().int(TENSOR.dtype, DT_STRING).bytes(TENSOR.shape, new Uint8Array()).bytes(TENSOR.stringVal, text);
  const value = new ProtoWriter().bytes(VALUE.tag, tag).bytes(VALUE.metadata, metadata).bytes(VALUE.tensor, tensor);
  return new ProtoWriter().double(EVENT.wallTime, wallTime).int(EVENT.step, step).bytes(EVENT.summary, new ProtoWriter().bytes(SUMMARY.value, value)).finish();
}

/** A `SessionLog` event: START at the first step a resumed run logs, so TensorBoard drops the old run's later points. */
export function sessionStartEvent(wallTime: number, step: number): Uint8Array {
  return new ProtoWriter().double(EVENT.wallTime, wallTime).int(EVENT.step, step).bytes(EVENT.sessionLog, new ProtoWriter().int(1, SESSION_START)).finish();
}
