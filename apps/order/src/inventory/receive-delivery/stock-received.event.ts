/**
 * Raised by ReceiveStockHandler while its entry is applied, so it fires on every node's EventBus, once,
 * in log order (no decorator needed: apply runs everywhere). The back-order saga reacts to it.
 */
export class StockReceivedEvent {
  constructor(
    readonly productId: string,
    readonly quantity: number,
    readonly stock: number,
    readonly index: number,
  ) {}
}
