import { MEMBER_ID_PATTERN, normaliseMemberUrl } from '@raft-cqrs/raft-cluster';
import { BadFieldException } from '../http/bad-field.exception';

export interface JoinInput {
  id: string;
  url: string;
}

export function memberId(field: string, v: unknown): string {
  if (typeof v !== 'string' || !MEMBER_ID_PATTERN.test(v)) {
    throw new BadFieldException(field, `field "${field}" must be a member id: 1-64 characters of letters, digits, ".", "_" or "-"`);
  }
  return v;
}

/**
 * `{ "ID", "RaftAddr" }` (the seed service's names; `id` / `url` are accepted too). RaftAddr is the
 * joining node's HTTP URL, where its peers reach it.
 */
export function parseJoin(body: unknown): JoinInput {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new BadFieldException('body', 'the body must be a JSON object { "ID", "RaftAddr" }');
  }
  const b = body as Record<string, unknown>;
  const idField = b.ID !== undefined ? 'ID' : b.id !== undefined ? 'id' : 'ID';
  const urlField = b.RaftAddr !== undefined ? 'RaftAddr' : b.url !== undefined ? 'url' : 'RaftAddr';
  const id = memberId(idField, b[idField]);
  const u = normaliseMemberUrl(b[urlField]);
  if ('problem' in u) throw new BadFieldException(urlField, `field "${urlField}" ${u.problem}`);
  return { id, url: u.url };
}
