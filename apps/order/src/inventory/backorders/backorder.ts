export type BackorderStatus = 'Waiting' | 'Filled';

/**
 * A customer's order for a product that was out of stock: it waits for a delivery, then becomes an
 * ordinary order (`orderId`) automatically, first come first served.
 */
export interface Backorder {
  backorderId: string;
  status: BackorderStatus;
  productId: string;
  quantity: number;
  customerId: string | null;
  /** ISO time at which the leader proposed the back-order. */
  createdAt: string;
  /** The order it became; null while waiting. */
  orderId: string | null;
  /** Raft log index of the entry that filled it; null while waiting. */
  filledIndex: number | null;
}
