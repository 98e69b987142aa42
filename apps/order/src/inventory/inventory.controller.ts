import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { LeaderOnly, RaftClusterService } from '@raft-cqrs/raft-cluster';
import { idField } from '../http/input';
import { Availability, CheckAvailabilityQuery } from './check-availability/check-availability.query';
import { deliveryLines, quantityParam } from './inventory.input';
import { ReceiveStockCommand, StockReceipt } from './receive-delivery/receive-stock.command';
import { StockReport, StockReportQuery } from './stock-report/stock-report.query';

@Controller('inventory')
export class InventoryController {
  constructor(
    private readonly queryBus: QueryBus,
    private readonly cluster: RaftClusterService,
  ) {}

  /** `@Consistency('linearizable')` on the query class: any node answers, none answers stale. */
  @Get(':productId/availability')
  availability(@Param('productId') productId: string, @Query('quantity') quantity?: unknown): Promise<Availability> {
    return this.queryBus.execute(new CheckAvailabilityQuery(idField(productId, 'productId'), quantityParam(quantity, 1)));
  }

  /**
   * A supplier's delivery, every line in one log entry with `executeAll`: all lines are recorded or,
   * if one is refused (an unknown product), none is, on every node. One ReceiveStockCommand per line
   * through commandBus.execute would leave half a delivery recorded when a later line fails.
   */
  @Post('deliveries')
  @HttpCode(200)
  async receiveDelivery(@Body() body: unknown): Promise<{ index: number; lines: StockReceipt[] }> {
    const commands = deliveryLines(body).map((line) => new ReceiveStockCommand(line.productId, line.quantity));
    const lines = (await this.cluster.executeAll(commands)) as StockReceipt[];
    return { index: lines[0].index, lines };
  }

  /**
   * The warehouse's stock report, from the leader only (`@LeaderOnly()`: a follower forwards the request
   * and relays the leader's answer). The leader answers a write only after applying it, so its figures
   * include every acknowledged sale and delivery, and reports asked in a row of different nodes never
   * go backwards, as they could if each node answered from its own, possibly lagging, copy.
   */
  @Get('report')
  @LeaderOnly()
  async report(): Promise<StockReport & { servedBy: string; lastApplied: number }> {
    const report = await this.queryBus.execute(new StockReportQuery());
    return { servedBy: this.cluster.memberId, lastApplied: this.cluster.status().lastApplied, ...report };
  }
}
