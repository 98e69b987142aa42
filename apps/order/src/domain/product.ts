/**
 * A product as every node holds it. `stock` is what can still be ordered; `reserved` is what live
 * (not cancelled) orders hold, so `stock + reserved` is everything the shop has of it.
 */
export interface Product {
  id: string;
  name: string;
  stock: number;
  reserved: number;
}
