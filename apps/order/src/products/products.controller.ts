import { Body, Controller, Get, Param, Put } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { LiveQuery } from '@raft-cqrs/raft-cluster';
import type { Product } from '../domain/product';
import { idField, integerField, MAX_STOCK, optionalNameField, requireObjectBody } from '../http/input';
import { GetProductQuery } from './get-product/get-product.query';
import { ListProductsQuery } from './list-products/list-products.query';
import { SetStockCommand } from './set-stock/set-stock.command';

@Controller('products')
export class ProductsController {
  constructor(
    private readonly commandBus: CommandBus,
    private readonly queryBus: QueryBus,
  ) {}

  @Get()
  async list(): Promise<{ products: Product[]; count: number }> {
    const products = await this.queryBus.execute(new ListProductsQuery());
    return { products, count: products.length };
  }

  /** JSON, or with `Accept: text/event-stream` a live query: the product now, then after each change of it. */
  @Get(':id')
  @LiveQuery()
  get(@Param('id') productId: string): GetProductQuery {
    return new GetProductQuery(idField(productId, 'id'));
  }

  @Put(':id')
  setStock(@Param('id') productId: string, @Body() body: unknown): Promise<Product> {
    const checkedId = idField(productId, 'id');
    const input = requireObjectBody(body);
    const command = new SetStockCommand(checkedId, integerField(input.stock, 'stock', 0, MAX_STOCK), optionalNameField(input.name, 'name'));
    return this.commandBus.execute(command);
  }
}
