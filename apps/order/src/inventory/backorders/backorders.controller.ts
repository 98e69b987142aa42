import { Body, Controller, Get, Post, Query } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { idField, integerField, MAX_QUANTITY, optionalIdField, requireObjectBody } from '../../http/input';
import type { Backorder } from './backorder';
import { ListBackordersQuery } from './list-backorders/list-backorders.query';
import { PlaceBackorderCommand } from './place-backorder/place-backorder.command';

@Controller('inventory/backorders')
export class BackordersController {
  constructor(
    private readonly commandBus: CommandBus,
    private readonly queryBus: QueryBus,
  ) {}

  @Post()
  place(@Body() body: unknown): Promise<Backorder> {
    const input = requireObjectBody(body);
    const command = new PlaceBackorderCommand(
      idField(input.productId, 'productId'),
      integerField(input.quantity, 'quantity', 1, MAX_QUANTITY),
      optionalIdField(input.customerId, 'customerId'),
    );
    return this.commandBus.execute(command);
  }

  @Get()
  async list(@Query('productId') productId?: unknown, @Query('customerId') customerId?: unknown): Promise<{ backorders: Backorder[]; count: number }> {
    const backorders = await this.queryBus.execute(new ListBackordersQuery(optionalIdField(productId, 'productId'), optionalIdField(customerId, 'customerId')));
    return { backorders, count: backorders.length };
  }
}
