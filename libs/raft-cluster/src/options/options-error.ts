/** Thrown for invalid module options: one line per problem, each prefixed with `RaftClusterModule: `. */
export class RaftClusterOptionsError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.map((p) => `RaftClusterModule: ${p}`).join('\n'));
    this.name = 'RaftClusterOptionsError';
  }
}
