import { isRaftGroupName } from '@raft-cqrs/raft-cluster/groups';
import { BadFieldException } from '../http/bad-field.exception';

/** A conversation group's name from the path: 1-64 characters of `[A-Za-z0-9._-]` (not `.` or `..`), or a 400. */
export function groupName(raw: unknown): string {
  if (!isRaftGroupName(raw)) {
    throw new BadFieldException('group', 'the group name must be 1-64 characters of letters, digits, ".", "_" or "-" (not "." or "..")');
  }
  return raw;
}
