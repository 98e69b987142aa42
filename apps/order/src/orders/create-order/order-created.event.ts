/** Raised when an order is taken (on every node, at apply); the notification processor announces it once per cluster. */
export class OrderCreatedEvent {
  constructor(
    readonly orderId: string,
    readonly productId: string,
    readonly quantity: number,
    readonly customerId: string | null,
  ) {}
}
