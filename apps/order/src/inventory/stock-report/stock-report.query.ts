import { Query } from '@nestjs/cqrs';

export interface StockReport {
  products: number;
  /** Units that can still be ordered, over every product. */
  totalStock: number;
  /** Units held by live orders. */
  totalReserved: number;
  /** Products with nothing left to order, in creation order. */
  soldOut: string[];
  /** Units customers are waiting for on back-order, by product. */
  backordered: Record<string, number>;
}

/** The warehouse's stock report. A local query: the route that asks it runs on the leader only. */
export class StockReportQuery extends Query<StockReport> {}
