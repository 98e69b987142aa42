import { ConfChange, ConfState, Entry, EntryType, RaftError } from './types';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A configuration entry carries the change and the whole resulting configuration. */
export interface ConfEntryPayload {
  change: ConfChange;
  conf: ConfState;
}

export function encodeConfEntry(payload: ConfEntryPayload): Uint8Array {
  return encoder.encode(JSON.stringify(payload));
}

export function decodeConfEntry(entry: Entry): ConfEntryPayload {
  if (entry.type !== EntryType.ConfChange) throw new Error(`entry ${entry.index} is not a configuration change`);
  return JSON.parse(decoder.decode(entry.data)) as ConfEntryPayload;
}

export function isMember(conf: ConfState, id: string): boolean {
  return conf.voters.includes(id) || conf.learners.includes(id);
}

/** The configuration that results from `change`; throws when the change is not allowed. */
export function applyConfChange(conf: ConfState, change: ConfChange): ConfState {
  const voters = conf.voters.slice();
  const learners = conf.learners.slice();
  const addresses = { ...conf.addresses };
  switch (change.type) {
    case 'addLearner':
      if (isMember(conf, change.id)) throw new RaftError('bad_conf_change', `${change.id} is already a member`);
      learners.push(change.id);
      if (change.address !== undefined) addresses[change.id] = change.address;
      break;
    case 'promote': {
      const i = learners.indexOf(change.id);
      if (i < 0) throw new RaftError('bad_conf_change', `${change.id} is not a learner`);
      learners.splice(i, 1);
      voters.push(change.id);
      break;
    }
    case 'remove': {
      const v = voters.indexOf(change.id);
      const l = learners.indexOf(change.id);
      if (v < 0 && l < 0) throw new RaftError('bad_conf_change', `${change.id} is not a member`);
      if (v >= 0 && voters.length === 1) throw new RaftError('bad_conf_change', 'cannot remove the last voter');
      if (v >= 0) voters.splice(v, 1);
      if (l >= 0) learners.splice(l, 1);
      delete addresses[change.id];
      break;
    }
    default:
      throw new RaftError('bad_conf_change', `unknown change ${(change as { type: string }).type}`);
  }
  return { voters, learners, addresses };
}
