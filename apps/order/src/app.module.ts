import { Module, Provider, Type } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { CqrsModule } from '@nestjs/cqrs';
import { ClusterExceptionFilter, RaftClusterModule } from '@raft-cqrs/raft-cluster';
import type { RaftEnvOptions } from '@raft-cqrs/raft-cluster';
import { AnnouncementFeed } from './announcements/announcement-feed';
import { AnnouncementsController } from './announcements/announcements.controller';
import { ShopAnnouncementHandler } from './announcements/shop-announcement.handler';
import { OrderStore } from './domain/order.store';
import { BackorderSaga } from './inventory/backorders/backorder.saga';
import { BackorderStore } from './inventory/backorders/backorder.store';
import { BackordersController } from './inventory/backorders/backorders.controller';
import { FillBackordersHandler } from './inventory/backorders/fill-backorders/fill-backorders.handler';
import { ListBackordersHandler } from './inventory/backorders/list-backorders/list-backorders.handler';
import { PlaceBackorderHandler } from './inventory/backorders/place-backorder/place-backorder.handler';
import { CheckAvailabilityHandler } from './inventory/check-availability/check-availability.handler';
import { InventoryController } from './inventory/inventory.controller';
import { ReceiveStockHandler } from './inventory/receive-delivery/receive-stock.handler';
import { StockReportHandler } from './inventory/stock-report/stock-report.handler';
import { ProductStore } from './domain/product.store';
import { CancelOrderHandler } from './orders/cancel-order/cancel-order.handler';
import { CreateOrderHandler } from './orders/create-order/create-order.handler';
import { GetOrderHandler } from './orders/get-order/get-order.handler';
import { ListOrdersHandler } from './orders/list-orders/list-orders.handler';
import { NOTIFY_URL } from './notifications/notify-url';
import { OrderAnnouncer } from './notifications/order-announcer.processor';
import { OrdersController } from './orders/orders.controller';
import { GetProductHandler } from './products/get-product/get-product.handler';
import { ListProductsHandler } from './products/list-products/list-products.handler';
import { ProductsController } from './products/products.controller';
import { SetStockHandler } from './products/set-stock/set-stock.handler';

/** What the order app takes besides the cluster options. */
export interface OrderAppOptions {
  /** Where created orders are announced (NOTIFY_URL); null: not announced. */
  notifyUrl?: string | null;
}

/**
 * The order app's module for one node. A function of the options, not a constant, so tests can
 * build nodes with their own ports and folders. No RAFT_STATE_MACHINE is provided: the cluster module
 * then replicates the CQRS commands and snapshots the @ReplicatedState stores itself.
 */
export function orderAppModule(raft: RaftEnvOptions, app: OrderAppOptions = {}): Type<unknown> {
  // The announcer exists only with a URL: without one no events are journaled for it at all.
  const announcements: Provider[] = app.notifyUrl ? [{ provide: NOTIFY_URL, useValue: app.notifyUrl }, OrderAnnouncer] : [];
  @Module({
    imports: [CqrsModule.forRoot(), RaftClusterModule.forRoot(raft)],
    controllers: [ProductsController, OrdersController, InventoryController, BackordersController, AnnouncementsController],
    providers: [
      ProductStore,
      OrderStore,
      SetStockHandler,
      GetProductHandler,
      ListProductsHandler,
      CreateOrderHandler,
      CancelOrderHandler,
      GetOrderHandler,
      ListOrdersHandler,
      // The inventory section (src/inventory) and the announcements (src/announcements).
      BackorderStore,
      CheckAvailabilityHandler,
      ReceiveStockHandler,
      StockReportHandler,
      PlaceBackorderHandler,
      FillBackordersHandler,
      ListBackordersHandler,
      BackorderSaga,
      AnnouncementFeed,
      ShopAnnouncementHandler,
      ...announcements,
      // Every error, the app's and the cluster's, answers JSON { error, message } (503s with Retry-After).
      { provide: APP_FILTER, useClass: ClusterExceptionFilter },
    ],
  })
  class OrderAppModule {}
  return OrderAppModule;
}
