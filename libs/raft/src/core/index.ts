export * from './types';
export * from './conf';
export * from './log';
export * from './progress';
export * from './raft';
export * from './sessions';
