import { Logger, LoggerService } from '@nestjs/common';

const MIN_REDACTED_SECRET_LENGTH = 6;

/** What the prefix shows: the node's current term and role (null before the node has started). */
export type LogStateSource = () => { term: number; role: string } | null;

/**
 * The one logger of a cluster node: every line is prefixed with member id, term and role
 * (`[node1 t=3 leader] ...`) and goes to Nest's logger (context `RaftCluster`), so the app's logger
 * configuration applies. It is handed to the RaftNode, the storage and the transport. Any occurrence
 * of the cluster secret in a message is replaced by `[redacted]` (defence in depth: no component is
 * supposed to log it in the first place).
 */
export class RaftClusterLogger {
  private state: LogStateSource = () => null;

  constructor(
    readonly memberId: string,
    private readonly secret: string | null,
    private readonly sink: LoggerService = new Logger('RaftCluster'),
    private readonly component = '',
  ) {}

  /** Where term and role come from (set once the node exists). */
  bindState(source: LogStateSource): void {
    this.state = source;
  }

  /** A logger for one component (`transport`, `storage`, ...) sharing the prefix. */
  child(component: string): RaftClusterLogger {
    const c = new RaftClusterLogger(this.memberId, this.secret, this.sink, component);
    c.state = () => this.state();
    return c;
  }

  info(message: string): void {
    this.sink.log(this.format(message));
  }

  warn(message: string): void {
    this.sink.warn(this.format(message));
  }

  error(message: string): void {
    this.sink.error(this.format(message));
  }

  debug(message: string): void {
    this.sink.debug?.(this.format(message));
  }

  private format(message: string): string {
    let s: { term: number; role: string } | null = null;
    try {
      s = this.state();
    } catch {
      s = null;
    }
    const prefix = s === null ? `[${this.memberId} starting]` : `[${this.memberId} t=${s.term} ${s.role}]`;
    const text = this.component === '' ? message : `${this.component}: ${message}`;
    return `${prefix} ${this.redact(text)}`;
  }

  private redact(text: string): string {
    // A secret of a few characters occurs inside ordinary words ("is", "leader"): masking it would garble
    // every line while hiding nothing (such a secret is refused as weak at start-up anyway, with a warning).
    if (this.secret === null || this.secret.length < MIN_REDACTED_SECRET_LENGTH || !text.includes(this.secret)) return text;
    return text.split(this.secret).join('[redacted]');
  }
}
