import { BadRequestException, Body, Controller, Get, Param, Post } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { AddCommand } from './add.command';
import type { Counter } from './counter.store';
import { GetCounterQuery } from './get-counter.query';

@Controller('counters')
export class CountersController {
  constructor(
    private readonly commandBus: CommandBus,
    private readonly queryBus: QueryBus,
  ) {}

  @Post(':name/add')
  add(@Param('name') name: string, @Body() body: { by?: unknown }): Promise<Counter> {
    if (!Number.isSafeInteger(body?.by)) throw new BadRequestException({ error: 'bad_request', message: 'field "by": an integer' });
    return this.commandBus.execute(new AddCommand(name, body.by as number));
  }

  // ?consistency=linearizable (or X-Consistency) waits for a ReadIndex barrier before the local read.
  @Get(':name')
  get(@Param('name') name: string): Promise<Counter> {
    return this.queryBus.execute(new GetCounterQuery(name));
  }
}
