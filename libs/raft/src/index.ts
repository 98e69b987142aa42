export * from './core';
export * from './runtime';
