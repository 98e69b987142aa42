import { EnvError, httpPlatform, raftEnv } from '../src';

const BASE = { NODE_ID: 'n1', PORT: '3001', MEMBERS: 'n1=http://127.0.0.1:3001,n2=http://127.0.0.1:3002', CLUSTER_SECRET: 'a-secret-of-some-length' };

describe('raftEnv (the sample apps\' environment)', () => {
  it('reads HTTP_PLATFORM: fastify by default, or express', () => {
    expect(raftEnv(BASE).platform).toBe('fastify');
    expect(raftEnv({ ...BASE, HTTP_PLATFORM: '' }).platform).toBe('fastify');
    expect(raftEnv({ ...BASE, HTTP_PLATFORM: 'express' }).platform).toBe('express');
    expect(raftEnv({ ...BASE, HTTP_PLATFORM: 'fastify' }).platform).toBe('fastify');
    // The same reading without the rest of the environment (the tests pick their platform with it).
    expect([httpPlatform({}), httpPlatform({ HTTP_PLATFORM: 'express' })]).toEqual(['fastify', 'express']);
    expect(() => httpPlatform({ HTTP_PLATFORM: 'koa' })).toThrow(EnvError);
  });

  it('refuses an unknown HTTP_PLATFORM, naming the variable and the choices', () => {
    expect(() => raftEnv({ ...BASE, HTTP_PLATFORM: 'koa' })).toThrow(EnvError);
    expect(() => raftEnv({ ...BASE, HTTP_PLATFORM: 'koa' })).toThrow('environment variable HTTP_PLATFORM must be express or fastify, got "koa"');
  });

  it('refuses to start without a secret unless INSECURE_PEERS=1, and a PORT that is not a number', () => {
    const { CLUSTER_SECRET: _s, ...noSecret } = BASE;
    expect(() => raftEnv(noSecret)).toThrow(/CLUSTER_SECRET is required/);
    expect(raftEnv({ ...noSecret, INSECURE_PEERS: '1' }).raft.insecurePeers).toBe(true);
    expect(() => raftEnv({ ...BASE, PORT: 'x' })).toThrow(/PORT must be a positive integer/);
  });
});
