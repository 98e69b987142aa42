import { NotFoundException } from '@nestjs/common';
import { IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { Counter, CounterStore } from './counter.store';

export class GetCounterQuery extends Query<Counter> {
  constructor(readonly name: string) {
    super();
  }
}

@QueryHandler(GetCounterQuery)
export class GetCounterHandler implements IQueryHandler<GetCounterQuery> {
  constructor(private readonly counters: CounterStore) {}

  async execute(query: GetCounterQuery): Promise<Counter> {
    const counter = this.counters.get(query.name);
    if (counter === undefined) throw new NotFoundException({ error: 'not_found', message: `no counter ${query.name}` });
    return counter;
  }
}
