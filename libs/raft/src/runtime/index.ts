export * from './raft-node';
