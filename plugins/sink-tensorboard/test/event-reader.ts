/**
 * An independent reader of TensorBoard event files, written from the specifications rather than
 * from the writer: TFRecord framing (length, masked CRC-32C of the length, data, masked CRC-32C of
 * the data) with a bitwise CRC-32C, a generic protocol-buffer decoder, and the field numbers of
 * tensorflow/core/util/event.proto and tensorflow/core/framework/summary.proto.
 */

/** Bitwise CRC-32C (no table), reflected polynomial 0x82F63B78. */
function crc32cBitwise(bytes: Uint8Array): number {
  let crc = ~0 >>> 0;
  for (const byte of bytes) {
    crc ^= byte;
    for (let i = 0; i < 8; i++) crc = (crc >>> 1) ^ (0x82f63b78 & -(crc & 1));
  }
  return ~crc >>> 0;
}

function unmask(masked: number): number {
  const rot = (masked - 0xa282ead8) >>> 0;
  return ((rot >>> 17) | (rot << 15)) >>> 0;
}

/** The records of a TFRecord file; throws on a bad CRC or a truncated record. */
export function readRecords(file: Uint8Array): Uint8Array[] {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < file.length) {
    if (at + 12 > file.length) throw new Error(`truncated header at ${at}`);
    const length = Number(view.getBigUint64(at, true));
    if (unmask(view.getUint32(at + 8, true)) !== crc32cBitwise(file.subarray(at, at + 8))) throw new Error(`bad length CRC at ${at}`);
    const data = file.subarray(at + 12, at + 12 + length);
    if (data.length !== length || at + 16 + length > file.length) throw new Error(`truncated record at ${at}`);
    if (unmask(view.getUint32(at + 12 + length, true)) !== crc32cBitwise(data)) throw new Error(`bad data CRC at ${at}`);
    out.push(data);
    at += 16 + length;
  }
  return out;
}

type Field = { field: number; wire: number; int?: bigint; bytes?: Uint8Array; fixed?: DataView };

/** Decodes one protocol-buffer message into its fields, in order. */
export function decodeMessage(bytes: Uint8Array): Field[] {
  const fields: Field[] = [];
  let at = 0;
  const varint = (): bigint => {
    let result = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const b = bytes[at++];
      if (b === undefined) throw new Error('truncated varint');
      result |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return result;
    }
  };
  while (at < bytes.length) {
    const key = Number(varint());
    const field = key >>> 3;
    const wire = key & 7;
    if (wire === 0) fields.push({ field, wire, int: varint() });
    else if (wire === 1 || wire === 5) {
      const n = wire === 1 ? 8 : 4;
      fields.push({ field, wire, fixed: new DataView(bytes.buffer, bytes.byteOffset + at, n) });
      at += n;
    } else if (wire === 2) {
      const n = Number(varint());
      fields.push({ field, wire, bytes: bytes.subarray(at, at + n) });
      at += n;
    } else throw new Error(`unsupported wire type ${wire}`);
  }
  return fields;
}

const text = (b: Uint8Array | undefined) => new TextDecoder().decode(b);

export interface DecodedValue {
  tag: string;
  simpleValue?: number;
  pluginName?: string;
  strings?: string[];
  dtype?: number;
}

export interface DecodedEvent {
  wallTime: number;
  step: number;
  fileVersion?: string;
  sessionStatus?: number;
  values?: DecodedValue[];
}

/** An `Event`: wall_time 1 (double), step 2 (int64), file_version 3, summary 5, session_log 7. */
export function decodeEvent(bytes: Uint8Array): DecodedEvent {
  const event: DecodedEvent = { wallTime: 0, step: 0 };
  for (const f of decodeMessage(bytes)) {
    if (f.field === 1) event.wallTime = f.fixed!.getFloat64(0, true);
    else if (f.field === 2) event.step = Number(f.int!);
    else if (f.field === 3) event.fileVersion = text(f.bytes);
    else if (f.field === 7) event.sessionStatus = Number(decodeMessage(f.bytes!).find((g) => g.field === 1)?.int ?? 0n);
    else if (f.field === 5) {
      // Summary: repeated Value value = 1; Value: tag 1, simple_value 2 (float), tensor 8, metadata 9.
      event.values = decodeMessage(f.bytes!)
        .filter((g) => g.field === 1)
        .map((g) => {
          const value: DecodedValue = { tag: '' };
          for (const v of decodeMessage(g.bytes!)) {
            if (v.field === 1) value.tag = text(v.bytes);
            else if (v.field === 2) value.simpleValue = v.fixed!.getFloat32(0, true);
            else if (v.field === 9) {
              // SummaryMetadata: plugin_data 1 → PluginData: plugin_name 1.
              const pluginData = decodeMessage(v.bytes!).find((m) => m.field === 1);
              value.pluginName = text(decodeMessage(pluginData!.bytes!).find((p) => p.field === 1)?.bytes);
            } else if (v.field === 8) {
              // TensorProto: dtype 1, string_val 8.
              const tensor = decodeMessage(v.bytes!);
              value.dtype = Number(tensor.find((t) => t.field === 1)?.int ?? 0n);
              value.strings = tensor.filter((t) => t.field === 8).map((t) => text(t.bytes));
            }
          }
          return value;
        });
    }
  }
  return event;
}
