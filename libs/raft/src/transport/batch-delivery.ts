import { Message } from '../core/types';
import { CodecError, decodeMessages } from './codec';
import { Rejection } from './error-reply';
import { describeError, TransportLogger } from './logging';

/** Hands the received batches (a request body or a stream frame) to the node, once decoded and checked. */
export class BatchDelivery {
  constructor(
    private readonly onMessages: (msgs: Message[], from: string | undefined) => void,
    /** When set, messages addressed to another node are dropped. */
    private readonly selfId: string | undefined,
    private readonly logger?: TransportLogger,
  ) {}

  /** Null when delivered (an empty batch is not passed on), else why not. `via` names the carrier in log lines. */
  deliver(body: Buffer, from: string | undefined, via: 'request' | 'stream'): Rejection | null {
    const checked = this.check(body, from);
    if (!Array.isArray(checked)) return checked;
    try {
      if (checked.length > 0) this.onMessages(checked, from);
    } catch (e) {
      this.logger?.warn(`raft peer ${via}: onMessages threw: ${describeError(e)}`);
      return { status: 500, error: 'internal_error', message: 'the node failed to take the messages' };
    }
    return null;
  }

  /** Decodes and checks one batch; the messages to deliver, or why not. */
  private check(body: Buffer, from: string | undefined): Message[] | Rejection {
    let msgs: Message[];
    try {
      msgs = decodeMessages(body);
    } catch (e) {
      if (!(e instanceof CodecError)) throw e;
      return { status: 400, error: 'bad_request', message: `undecodable peer messages: ${e.message}` };
    }
    if (from !== undefined) {
      for (const m of msgs) {
        if (m.from !== from) return { status: 400, error: 'bad_request', message: `message from ${JSON.stringify(m.from)} in a request from ${JSON.stringify(from)}` };
      }
    }
    if (this.selfId !== undefined) {
      const mine = msgs.filter((m) => m.to === this.selfId);
      if (mine.length !== msgs.length) {
        this.logger?.debug?.(`raft peer request from ${from ?? '?'}: ${msgs.length - mine.length} message(s) for another node dropped`);
        msgs = mine;
      }
    }
    return msgs;
  }
}
