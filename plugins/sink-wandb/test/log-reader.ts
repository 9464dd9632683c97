/**
 * An independent reader of W&B transaction logs (`.wandb`), written from the format's description
 * (LevelDB log format with W&B's 7-byte header, zlib CRC-32 of type byte + data) rather than from
 * the writer, with a generic protocol-buffer decoder and the field numbers of wandb_internal.proto.
 */

/** Bitwise zlib CRC-32 (reflected polynomial 0xEDB88320), no table. */
function crc32Bitwise(bytes: Uint8Array): number {
  let crc = ~0 >>> 0;
  for (const byte of bytes) {
    crc ^= byte;
    for (let i = 0; i < 8; i++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return ~crc >>> 0;
}

/** The records of a `.wandb` file, reassembled from their chunks; throws on a bad header, CRC or chunk order. */
export function readLog(file: Uint8Array): Uint8Array[] {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  if (new TextDecoder().decode(file.subarray(0, 4)) !== ':W&B' || view.getUint16(4, true) !== 0xbee1 || file[6] !== 0) throw new Error('bad header');
  const records: Uint8Array[] = [];
  let pending: Uint8Array[] | undefined;
  let at = 7;
  while (at < file.length) {
    const left = 32768 - (at % 32768);
    if (left < 7) {
      if (file.subarray(at, at + left).some((b) => b !== 0)) throw new Error(`non-zero padding at ${at}`);
      at += left;
      continue;
    }
    const checksum = view.getUint32(at, true);
    const length = view.getUint16(at + 4, true);
    const type = file[at + 6]!;
    if (7 + length > left) throw new Error(`chunk crosses a block at ${at}`);
    const data = file.subarray(at + 7, at + 7 + length);
    const withType = new Uint8Array(1 + length);
    withType[0] = type;
    withType.set(data, 1);
    if (crc32Bitwise(withType) !== checksum) throw new Error(`bad CRC at ${at}`);
    at += 7 + length;
    if (type === 1 && !pending) records.push(data);
    else if (type === 2 && !pending) pending = [data];
    else if (type === 3 && pending) pending.push(data);
    else if (type === 4 && pending) {
      pending.push(data);
      const whole = new Uint8Array(pending.reduce((n, p) => n + p.length, 0));
      let o = 0;
      for (const p of pending) {
        whole.set(p, o);
        o += p.length;
      }
      records.push(whole);
      pending = undefined;
    } else throw new Error(`chunk of type ${type} out of order at ${at}`);
  }
  if (pending) throw new Error('log ends inside a record');
  return records;
}

type Field = { field: number; int?: bigint; bytes?: Uint8Array };

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
    const wire = key & 7;
    if (wire === 0) fields.push({ field: key >>> 3, int: varint() });
    else if (wire === 2) {
      const n = Number(varint());
      fields.push({ field: key >>> 3, bytes: bytes.subarray(at, at + n) });
      at += n;
    } else throw new Error(`unexpected wire type ${wire}`);
  }
  return fields;
}

const text = (b: Uint8Array | undefined) => new TextDecoder().decode(b);
const str = (fields: Field[], n: number) => text(fields.find((f) => f.field === n)?.bytes);
/** ConfigItem / HistoryItem / SummaryItem: key 1, value_json 16. */
const itemsOf = (fields: Field[], n: number): [string, string][] =>
  fields.filter((f) => f.field === n).map((f) => [str(decodeMessage(f.bytes!), 1), str(decodeMessage(f.bytes!), 16)]);

export type DecodedRecord =
  | { num: number; type: 'header'; producer: string }
  | {
      num: number;
      type: 'run';
      runId: string;
      project: string;
      entity: string;
      displayName: string;
      tags: string[];
      config: [string, string][];
      startSeconds: number;
    }
  | { num: number; type: 'history'; step: number; items: [string, string][] }
  | { num: number; type: 'summary'; items: [string, string][] }
  | { num: number; type: 'exit'; exitCode: number }
  | { num: number; type: 'final' }
  | { num: number; type: 'other'; field: number };

/** A `Record`: num 1; history 2, summary 3, run 17, exit 18, final 20, header 21. */
export function decodeRecord(bytes: Uint8Array): DecodedRecord {
  const fields = decodeMessage(bytes);
  const num = Number(fields.find((f) => f.field === 1)?.int ?? 0n);
  const body = fields.find((f) => f.field !== 1)!;
  const inner = decodeMessage(body.bytes!);
  switch (body.field) {
    case 21:
      return { num, type: 'header', producer: str(decodeMessage(inner.find((f) => f.field === 1)!.bytes!), 1) };
    case 17: {
      const start = inner.find((f) => f.field === 17);
      return {
        num,
        type: 'run',
        runId: str(inner, 1),
        entity: str(inner, 2),
        project: str(inner, 3),
        displayName: str(inner, 8),
        tags: inner.filter((f) => f.field === 10).map((f) => text(f.bytes)),
        config: itemsOf(decodeMessage(inner.find((f) => f.field === 4)!.bytes!), 1),
        startSeconds: Number(decodeMessage(start!.bytes!).find((f) => f.field === 1)?.int ?? 0n),
      };
    }
    case 2: {
      const step = inner.find((f) => f.field === 2);
      return { num, type: 'history', step: Number((step && decodeMessage(step.bytes!).find((f) => f.field === 1)?.int) ?? 0n), items: itemsOf(inner, 1) };
    }
    case 3:
      return { num, type: 'summary', items: itemsOf(inner, 1) };
    case 18:
      return { num, type: 'exit', exitCode: Number(inner.find((f) => f.field === 1)?.int ?? 0n) };
    case 20:
      return { num, type: 'final' };
    default:
      return { num, type: 'other', field: body.field };
  }
}
