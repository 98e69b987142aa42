import { IQueryHandler, QueryHandler } from '@nestjs/cqrs';
import { ProductStore } from '../../domain/product.store';
import { BackorderStore } from '../backorders/backorder.store';
import { StockReport, StockReportQuery } from './stock-report.query';

@QueryHandler(StockReportQuery)
export class StockReportHandler implements IQueryHandler<StockReportQuery> {
  constructor(
    private readonly products: ProductStore,
    private readonly backorders: BackorderStore,
  ) {}

  async execute(): Promise<StockReport> {
    const report: StockReport = { products: 0, totalStock: 0, totalReserved: 0, soldOut: [], backordered: {} };
    for (const p of this.products.values()) {
      report.products++;
      report.totalStock += p.stock;
      report.totalReserved += p.reserved;
      if (p.stock === 0) report.soldOut.push(p.id);
    }
    for (const b of this.backorders.values()) {
      if (b.status === 'Waiting') report.backordered[b.productId] = (report.backordered[b.productId] ?? 0) + b.quantity;
    }
    return report;
  }
}
