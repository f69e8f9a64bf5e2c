/**
 * A zstd "encoder" that stores: one single-segment frame of Raw blocks (RFC 8878 §3.1.1). The
 * output is a valid zstd stream any decoder (fzstd, zstd -d, containerd) reads, so zstd layers can
 * be tested without a zstd compressor; it just does not shrink.
 */

/** RFC 8878 §3.1.1.2.4: a block is at most 128 KiB. */
const MAX_BLOCK = 128 * 1024;
const MAGIC = 0xfd2fb528;

/** Returns `data` wrapped in a zstd frame of Raw blocks, with the content size in the header. */
export function encodeZstdStored(data: Uint8Array): Uint8Array {
  const blocks = Math.max(1, Math.ceil(data.byteLength / MAX_BLOCK));
  // magic (4) + frame header descriptor (1) + 8-byte Frame_Content_Size + 3-byte header per block
  const out = Buffer.alloc(4 + 1 + 8 + blocks * 3 + data.byteLength);
  out.writeUInt32LE(MAGIC, 0);
  // FCS_Field_Size=3 (8 bytes), Single_Segment=1, no checksum, no dictionary: the window is the content
  out[4] = 0b1110_0000;
  out.writeBigUInt64LE(BigInt(data.byteLength), 5);
  let at = 13;
  for (let i = 0; i < blocks; i++) {
    const chunk = data.subarray(i * MAX_BLOCK, (i + 1) * MAX_BLOCK);
    const last = i === blocks - 1 ? 1 : 0;
    // Block_Header: Last_Block (bit 0), Block_Type 0 = Raw (bits 1-2), Block_Size (bits 3-23)
    out.writeUIntLE(last | (chunk.byteLength << 3), at, 3);
    at += 3;
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return new Uint8Array(out);
}
