import * as zlib from 'zlib';

type Crc32 = (data: Uint8Array, value?: number) => number;

let table: Uint32Array | null = null;

/** Table-driven CRC-32 (IEEE 802.3, as zlib), for Node versions without `zlib.crc32` (before 20.15). */
export function tableCrc32(data: Uint8Array, value = 0): number {
  if (table === null) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let crc = ~value;
  for (let i = 0; i < data.length; i++) crc = table[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return ~crc >>> 0;
}

const native = (zlib as unknown as { crc32?: Crc32 }).crc32;

/** `zlib.crc32` when this Node has it, else the table-driven version; `value` continues a running CRC. */
export const crc32: Crc32 = typeof native === 'function' ? (data, value = 0) => native(data, value) : tableCrc32;

export const hasNativeCrc32 = typeof native === 'function';
