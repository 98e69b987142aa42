import { RaftClusterOptionsError, validateRaftClusterOptions } from '../src';

const SECRET = 'sup3r-s3cret-value-that-must-not-leak';

const base = {
  memberId: 'node1',
  members: ['node1=http://10.0.0.1:3000', 'node2=http://10.0.0.2:3000', 'node3=http://10.0.0.3:3000'],
  dataDir: './data/node1',
  secret: SECRET,
};

function problems(options: unknown): string[] {
  try {
    validateRaftClusterOptions(options);
  } catch (err) {
    expect(err).toBeInstanceOf(RaftClusterOptionsError);
    const e = err as RaftClusterOptionsError;
    expect(e.message).not.toContain(SECRET);
    for (const p of e.problems) expect(e.message).toContain(`RaftClusterModule: ${p}`);
    return e.problems;
  }
  throw new Error('expected validation to fail');
}

function problem(options: unknown): string {
  const all = problems(options);
  expect(all).toHaveLength(1);
  return all[0];
}

describe('validateRaftClusterOptions', () => {
  it('fills in the defaults', () => {
    const o = validateRaftClusterOptions(base);
    expect(o).toMatchObject({
      memberId: 'node1',
      electionTimeout: [150, 300],
      heartbeatInterval: 50,
      compactionThreshold: 10_000,
      dataDir: './data/node1',
      secret: SECRET,
      insecurePeers: false,
      peerPort: null,
      join: null,
      advertiseUrl: 'http://10.0.0.1:3000',
      adminToken: SECRET,
      adminGuard: null,
      protectReads: false,
      processMetrics: true,
      idempotencyHeaders: ['idempotency-key'],
      digestInterval: 256,
    });
    expect(validateRaftClusterOptions({ ...base, compactionThreshold: 100 }).digestInterval).toBe(100);
    expect(validateRaftClusterOptions({ ...base, insecurePeers: true, secret: undefined }).adminToken).toBeNull();
    expect(o.members).toEqual([
      { id: 'node1', url: 'http://10.0.0.1:3000' },
      { id: 'node2', url: 'http://10.0.0.2:3000' },
      { id: 'node3', url: 'http://10.0.0.3:3000' },
    ]);
    expect(o.initialMembers).toEqual({ node1: 'http://10.0.0.1:3000', node2: 'http://10.0.0.2:3000', node3: 'http://10.0.0.3:3000' });
    expect(o.requestTimeoutMs).toBeGreaterThan(0);
    expect(o.requestTimeoutMs).toBeLessThan(150);
    expect(o.shutdownTransferTimeoutMs).toBe(600);
  });

  it('accepts { id, url } objects, mixed with strings, and normalises URLs to their origin', () => {
    const o = validateRaftClusterOptions({
      ...base,
      members: [{ id: 'node1', url: 'http://10.0.0.1:3000/' }, 'node2=https://b.example:8443', { id: 'node3', url: 'HTTP://C.example' }],
    });
    expect(o.members.map((m) => m.url)).toEqual(['http://10.0.0.1:3000', 'https://b.example:8443', 'http://c.example']);
  });

  it('ignores options given as undefined (as from an env mapping)', () => {
    expect(() => validateRaftClusterOptions({ ...base, electionTimeout: undefined, heartbeatInterval: undefined, join: undefined })).not.toThrow();
  });

  it('keeps the request timeout below the election timeout', () => {
    expect(validateRaftClusterOptions({ ...base, electionTimeout: [150, 300], heartbeatInterval: 30 }).requestTimeoutMs).toBe(100);
    expect(validateRaftClusterOptions({ ...base, electionTimeout: [60, 120], heartbeatInterval: 20 }).requestTimeoutMs).toBe(40);
    expect(problem({ ...base, requestTimeoutMs: 150 })).toBe('option "requestTimeoutMs" must be below electionTimeout min (150 ms), got 150');
    expect(validateRaftClusterOptions({ ...base, requestTimeoutMs: 80 }).requestTimeoutMs).toBe(80);
  });

  it('rejects a non-object', () => {
    expect(() => validateRaftClusterOptions(null)).toThrow('RaftClusterModule: options must be an object, got null');
    expect(() => validateRaftClusterOptions('x')).toThrow('options must be an object, got string');
  });

  describe('electionTimeout and heartbeatInterval', () => {
    it('names the option and the rule', () => {
      expect(problem({ ...base, electionTimeout: [300, 100] })).toBe(
        'option "electionTimeout" must be [min, max] in ms with 0 < min <= max, got [300, 100]',
      );
      expect(problem({ ...base, electionTimeout: [0, 100] })).toContain('option "electionTimeout" must be [min, max]');
      expect(problem({ ...base, electionTimeout: [-5, 100] })).toContain('got [-5, 100]');
      expect(problem({ ...base, electionTimeout: 150 })).toContain('got 150');
      expect(problem({ ...base, electionTimeout: [150] })).toContain('option "electionTimeout"');
      expect(problem({ ...base, electionTimeout: [150, 300, 400] })).toContain('option "electionTimeout"');
      expect(problem({ ...base, electionTimeout: ['150', '300'] })).toContain('option "electionTimeout"');
      expect(problem({ ...base, electionTimeout: [NaN, 300] })).toContain('option "electionTimeout"');
    });

    it('accepts min == max', () => {
      expect(validateRaftClusterOptions({ ...base, electionTimeout: [200, 200] }).electionTimeout).toEqual([200, 200]);
    });

    it('wants the heartbeat below the minimum election timeout', () => {
      expect(problem({ ...base, heartbeatInterval: 150 })).toMatch(/^option "heartbeatInterval" must be below electionTimeout min \(150 ms\), got 150/);
      expect(problem({ ...base, electionTimeout: [100, 200], heartbeatInterval: 400 })).toContain('option "heartbeatInterval" must be below electionTimeout min (100 ms)');
      expect(problem({ ...base, heartbeatInterval: 0 })).toBe('option "heartbeatInterval" must be a positive number of ms, got 0');
      expect(problem({ ...base, heartbeatInterval: 'fast' })).toContain('got "fast"');
    });

    it('refuses a heartbeat the runtime cannot tell apart from the election timeout', () => {
      expect(problem({ ...base, heartbeatInterval: 149 })).toContain('too close to electionTimeout min');
      expect(() => validateRaftClusterOptions({ ...base, heartbeatInterval: 100 })).not.toThrow();
    });
  });

  describe('members and memberId', () => {
    it('wants memberId among the members unless join is set', () => {
      expect(problem({ ...base, memberId: 'node9' })).toBe('option "memberId" ("node9") must be one of "members" (node1, node2, node3) unless "join" is set');
      expect(() => validateRaftClusterOptions({ ...base, memberId: 'node9', join: 'http://10.0.0.1:3000', advertiseUrl: 'http://10.0.0.9:3000' })).not.toThrow();
    });

    it('checks the memberId format', () => {
      expect(problem({ ...base, memberId: '' })).toContain('option "memberId" must be 1-64 characters');
      expect(problem({ ...base, memberId: 'a b' })).toContain('got "a b"');
      expect(problem({ ...base, memberId: 'x'.repeat(65) })).toContain('option "memberId"');
      expect(problem({ ...base, memberId: 42 })).toContain('got 42');
    });

    it('requires members unless joining', () => {
      expect(problem({ ...base, members: undefined })).toContain('option "members" is required');
      expect(problem({ ...base, members: [] })).toContain('option "members" must list at least one member');
      expect(problem({ ...base, members: 'node1=http://a:1' })).toContain('option "members" must be an array');
    });

    it('rejects malformed entries, naming the entry', () => {
      expect(problem({ ...base, members: [...base.members, 'node4'] })).toBe(
        'option "members"[3] must be "id=url" (for example "node1=http://10.0.0.1:3000"), got "node4"',
      );
      expect(problem({ ...base, members: [...base.members, '=http://x:1'] })).toContain('option "members"[3] must be "id=url"');
      expect(problem({ ...base, members: [...base.members, 42] })).toContain('option "members"[3] must be an "id=url" string or an { id, url } object, got 42');
      expect(problem({ ...base, members: [...base.members, { id: 'node4' }] })).toContain('option "members"[3] (node4): the URL must be an http(s) URL');
      expect(problem({ ...base, members: [...base.members, { id: 'bad id', url: 'http://x:1' }] })).toContain('option "members"[3] has id "bad id"');
    });

    it('wants http(s) origins as member URLs', () => {
      expect(problem({ ...base, members: [...base.members, 'node4=ftp://10.0.0.4:21'] })).toContain('option "members"[3] (node4): the URL must be an http(s) URL, got "ftp://10.0.0.4:21"');
      expect(problem({ ...base, members: [...base.members, 'node4=10.0.0.4:3000'] })).toContain('the URL must be an http(s) URL');
      expect(problem({ ...base, members: [...base.members, 'node4=not a url'] })).toContain('the URL must be an http(s) URL such as');
      expect(problem({ ...base, members: [...base.members, 'node4=http://10.0.0.4:3000/api'] })).toContain('must be an origin only');
      expect(problem({ ...base, members: [...base.members, 'node4=http://10.0.0.4:3000?x=1'] })).toContain('must be an origin only');
      expect(problem({ ...base, members: [...base.members, 'node4=http://u:p@10.0.0.4:3000'] })).toContain('must not contain credentials');
    });

    it('wants unique ids and URLs', () => {
      expect(problem({ ...base, members: [...base.members, 'node2=http://10.0.0.4:3000'] })).toBe('option "members" lists the id "node2" more than once; ids must be unique');
      expect(problem({ ...base, members: [...base.members, 'node4=http://10.0.0.3:3000'] })).toContain('gives "node4" and "node3" the same URL');
    });
  });

  describe('join and advertiseUrl', () => {
    it('lets a joining node start with no members, given its URL', () => {
      const o = validateRaftClusterOptions({ memberId: 'node4', members: [], join: 'http://10.0.0.1:3000/', advertiseUrl: 'http://10.0.0.4:3000', dataDir: ':memory:', secret: SECRET });
      expect(o.join).toBe('http://10.0.0.1:3000');
      expect(o.advertiseUrl).toBe('http://10.0.0.4:3000');
      expect(o.initialMembers).toEqual({});
      expect(validateRaftClusterOptions({ memberId: 'node4', join: 'http://10.0.0.1:3000', advertiseUrl: 'http://10.0.0.4:3000', dataDir: 'd', secret: SECRET }).members).toEqual([]);
    });

    it('starts a joining node with no configuration even when members lists it', () => {
      const o = validateRaftClusterOptions({ ...base, join: 'http://10.0.0.2:3000' });
      expect(o.initialMembers).toEqual({});
      expect(o.advertiseUrl).toBe('http://10.0.0.1:3000');
    });

    it('needs advertiseUrl when joining without an own entry', () => {
      expect(problem({ memberId: 'node4', members: [], join: 'http://10.0.0.1:3000', dataDir: 'd', secret: SECRET })).toContain('option "advertiseUrl" is required when "join" is set');
    });

    it('checks join and advertiseUrl URLs', () => {
      expect(problem({ ...base, join: 'nope' })).toContain('option "join" must be an http(s) URL');
      expect(problem({ ...base, advertiseUrl: 'tcp://x:1' })).toContain('option "advertiseUrl" must be an http(s) URL');
      expect(problem({ ...base, advertiseUrl: 'http://10.0.0.99:3000' })).toContain('option "advertiseUrl" (http://10.0.0.99:3000) differs from this member');
      expect(validateRaftClusterOptions({ ...base, advertiseUrl: 'http://10.0.0.1:3000/' }).advertiseUrl).toBe('http://10.0.0.1:3000');
    });
  });

  describe('other options', () => {
    it('wants a positive integer compactionThreshold', () => {
      for (const v of [0, -1, 1.5, '100', NaN]) {
        expect(problem({ ...base, compactionThreshold: v })).toMatch(/^option "compactionThreshold" must be a positive integer/);
      }
      expect(validateRaftClusterOptions({ ...base, compactionThreshold: 1 }).compactionThreshold).toBe(1);
    });

    it('wants a dataDir', () => {
      expect(problem({ ...base, dataDir: undefined })).toContain('option "dataDir" must be a folder path (or ":memory:" for tests)');
      expect(problem({ ...base, dataDir: '  ' })).toContain('option "dataDir"');
      expect(validateRaftClusterOptions({ ...base, dataDir: ':memory:' }).dataDir).toBe(':memory:');
    });

    it('checks peerPort and peerHost', () => {
      expect(problem({ ...base, peerPort: 0 })).toBe('option "peerPort" must be an integer port 1-65535, got 0');
      expect(problem({ ...base, peerPort: 70000 })).toContain('option "peerPort"');
      expect(problem({ ...base, peerPort: '4000' })).toContain('got "4000"');
      expect(validateRaftClusterOptions({ ...base, peerPort: 4000 }).peerPort).toBe(4000);
      expect(problem({ ...base, peerHost: '127.0.0.1' })).toContain('option "peerHost" only makes sense with "peerPort"');
      expect(validateRaftClusterOptions({ ...base, peerPort: 4000, peerHost: '127.0.0.1' }).peerHost).toBe('127.0.0.1');
    });

    it('checks the timeouts and limits', () => {
      expect(problem({ ...base, forwardTimeoutMs: 0 })).toContain('option "forwardTimeoutMs"');
      expect(problem({ ...base, maxPeerBodyBytes: 10 })).toContain('option "maxPeerBodyBytes" must be an integer of at least 1024');
      expect(problem({ ...base, shutdownTransferTimeoutMs: -1 })).toContain('option "shutdownTransferTimeoutMs"');
      expect(validateRaftClusterOptions({ ...base, shutdownTransferTimeoutMs: 0 }).shutdownTransferTimeoutMs).toBe(0);
    });

    it('names unknown options (typos)', () => {
      expect(problem({ ...base, heartbeat: 50 })).toContain('unknown option "heartbeat"');
    });
  });

  describe('the secret', () => {
    it('is required unless insecurePeers is true', () => {
      const { secret: _s, ...noSecret } = base;
      expect(problem(noSecret)).toMatch(/^option "secret" is required .*set insecurePeers: true to run without one/);
      expect(problem({ ...noSecret, insecurePeers: false })).toContain('option "secret" is required');
      const o = validateRaftClusterOptions({ ...noSecret, insecurePeers: true });
      expect(o.secret).toBeNull();
      expect(o.insecurePeers).toBe(true);
      expect(problems({ ...noSecret, insecurePeers: 'yes' })[0]).toBe('option "insecurePeers" must be a boolean, got "yes"');
    });

    it('must be a non-empty string, and its value is never echoed', () => {
      expect(problem({ ...base, secret: '' })).toBe('option "secret" must be a non-empty string, got an empty string');
      expect(problem({ ...base, secret: 12345678 })).toBe('option "secret" must be a non-empty string, got a value of type number');
      expect(problem({ ...base, secret: 12345678 })).not.toContain('12345678');
    });

    it('never appears in any message, whatever else is wrong', () => {
      const all = problems({ ...base, electionTimeout: [1, 0], dataDir: '', compactionThreshold: 0, peerPort: -1, extra: SECRET.length });
      expect(all.length).toBe(5);
      for (const p of all) expect(p).not.toContain(SECRET);
    });
  });

  it('lists every problem at once, one per line', () => {
    const all = problems({ ...base, electionTimeout: [300, 100], compactionThreshold: 0, dataDir: '' });
    expect(all).toHaveLength(3);
    try {
      validateRaftClusterOptions({ ...base, electionTimeout: [300, 100], compactionThreshold: 0, dataDir: '' });
    } catch (e) {
      expect((e as Error).message.split('\n')).toHaveLength(3);
    }
  });
});
