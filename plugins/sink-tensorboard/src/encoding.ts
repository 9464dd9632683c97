/**
 * The bytes of a TensorBoard event file, written from the formats' specifications:
 *
 * - TFRecord framing (tensorflow/core/lib/io/record_writer.h): per record
 *   `uint64 length · uint32 masked_crc32c(length) · data · uint32 masked_crc32c(data)`, little-endian,
 *   where `masked(crc) = ((crc >>> 15) | (crc << 17)) + 0xa282ead8` (mod 2³²) and CRC-32C is the
 *   Castagnoli polynomial (reflected 0x82f63b78).
 * - The few protocol-buffer messages an event file needs (encoded with protobufjs's `Writer`;
 *   the field numbers below): `Event` (tensorflow/core/util/event.proto), `Summary`, `SummaryMetadata`
 *   (tensorflow/core/framework/summary.proto), `TensorProto` and `TensorShapeProto`.
 */
import protobuf from 'protobufjs/minimal.js';

const { Writer } = protobuf;
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

/** A field's key: its number and wire type (0 varint, 1 64-bit, 2 length-delimited, 5 32-bit). */
const key = (field: number, wire: 0 | 1 | 2 | 5): number => (field << 3) | wire;

/** An `Event` with its wall time and step, the rest written by `body`. */
function event(wallTime: number, step: number | undefined, body: (w: protobuf.Writer) => unknown): Uint8Array {
  const w = Writer.create().uint32(key(EVENT.wallTime, 1)).double(wallTime);
  if (step !== undefined) w.uint32(key(EVENT.step, 0)).int64(step);
  body(w);
  return w.finish();
}

/** The first event of every file: `file_version: "brain.Event:2"`. */
export function fileVersionEvent(wallTime: number): Uint8Array {
  return event(wallTime, undefined, (w) => w.uint32(key(EVENT.fileVersion, 2)).string('brain.Event:2'));
}

/** An event with scalar summaries, one `simple_value` (float32) per tag. */
export function scalarsEvent(wallTime: number, step: number, scalars: Readonly<Record<string, number>>): Uint8Array {
  return event(wallTime, step, (w) => {
    w.uint32(key(EVENT.summary, 2)).fork();
    for (const [tag, value] of Object.entries(scalars))
      w.uint32(key(SUMMARY.value, 2)).fork().uint32(key(VALUE.tag, 2)).string(tag).uint32(key(VALUE.simpleValue, 5)).float(value).ldelim();
    w.ldelim();
  });
}

/** An event with one text summary (the text plugin's scalar string tensor; TensorBoard renders it as Markdown). */
export function textEvent(wallTime: number, step: number, tag: string, text: string): Uint8Array {
  return event(wallTime, step, (w) =>
    w
      .uint32(key(EVENT.summary, 2))
      .fork()
      .uint32(key(SUMMARY.value, 2))
      .fork()
      .uint32(key(VALUE.tag, 2))
      .string(tag)
      .uint32(key(VALUE.metadata, 2))
      .fork()
      .uint32(key(METADATA.pluginData, 2))
      .fork()
      .uint32(key(PLUGIN_DATA.pluginName, 2))
      .string('text')
      .uint32(key(PLUGIN_DATA.content, 2))
      .bytes(new Uint8Array())
      .ldelim()
      .ldelim()
      .uint32(key(VALUE.tensor, 2))
      .fork()
      .uint32(key(TENSOR.dtype, 0))
      .int32(DT_STRING)
      .uint32(key(TENSOR.shape, 2))
      .bytes(new Uint8Array())
      .uint32(key(TENSOR.stringVal, 2))
      .string(text)
      .ldelim()
      .ldelim()
      .ldelim(),
  );
}

/** A `SessionLog` event: START at the first step a resumed run logs, so TensorBoard drops the old run's later points. */
export function sessionStartEvent(wallTime: number, step: number): Uint8Array {
  return event(wallTime, step, (w) => w.uint32(key(EVENT.sessionLog, 2)).fork().uint32(key(1, 0)).int32(SESSION_START).ldelim());
}
