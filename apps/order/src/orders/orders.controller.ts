import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { LiveQuery } from '@raft-cqrs/raft-cluster';
import type { Order } from '../domain/order';
import { idField, integerField, MAX_QUANTITY, optionalIdField, requireObjectBody } from '../http/input';
import { CancelOrderCommand } from './cancel-order/cancel-order.command';
import { CreateOrderCommand } from './create-order/create-order.command';
import { GetOrderQuery } from './get-order/get-order.query';
import { ListOrdersQuery } from './list-orders/list-orders.query';

@Controller('orders')
export class OrdersController {
  constructor(
    private readonly commandBus: CommandBus,
    private readonly queryBus: QueryBus,
  ) {}

  @Post()
  create(@Body() body: unknown): Promise<Order> {
    const input = requireObjectBody(body);
    const command = new CreateOrderCommand(
      idField(input.productId, 'productId'),
      integerField(input.quantity, 'quantity', 1, MAX_QUANTITY),
      optionalIdField(input.customerId, 'customerId'),
    );
    return this.commandBus.execute(command);
  }

  @Get()
  async list(@Query('productId') productId?: unknown, @Query('customerId') customerId?: unknown): Promise<{ orders: Order[]; count: number }> {
    const query = new ListOrdersQuery(optionalIdField(productId, 'productId'), optionalIdField(customerId, 'customerId'));
    const orders = await this.queryBus.execute(query);
    return { orders, count: orders.length };
  }

  /** JSON, or with `Accept: text/event-stream` a live query: the order now, then after each change of it. */
  @Get(':id')
  @LiveQuery()
  get(@Param('id') orderId: string): GetOrderQuery {
    return new GetOrderQuery(idField(orderId, 'id'));
  }

  @Post(':id/cancel')
  @HttpCode(200)
  cancel(@Param('id') orderId: string): Promise<Order> {
    return this.commandBus.execute(new CancelOrderCommand(idField(orderId, 'id')));
  }
}
