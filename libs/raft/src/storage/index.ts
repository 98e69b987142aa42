export * from './types';
export { FileStorage, FileStorageOptions, DEFAULT_SEGMENT_BYTES } from './file-storage';
export { MemoryStorage, MemoryStorageOptions } from './memory-storage';
export { FsLayer, nodeFs } from './fs-layer';
export { crc32, tableCrc32, hasNativeCrc32 } from './crc32';
