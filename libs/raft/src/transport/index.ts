export * from './auth';
export * from './codec';
export * from './http-transport';
