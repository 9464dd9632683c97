import { Rng } from '../util/rng.js';

/**
 * A seeded, epoch-wise shuffled stream of dataset indices. Position `cursor` alone determines
 * what comes next, so resuming needs only the cursor.
 */
export class DataOrder {
  private epoch = -1;
  private order: number[] = [];

  constructor(
    private readonly size: number,
    private readonly seed: number,
  ) {
    if (size <= 0) throw new Error('the training dataset is empty');
  }

  /** Dataset index at stream position `cursor`. */
  at(cursor: number): number {
    const epoch = Math.floor(cursor / this.size);
    if (epoch !== this.epoch) {
      this.epoch = epoch;
      this.order = new Rng(`${this.seed}:epoch:${epoch}`).shuffle(Array.from({ length: this.size }, (_, i) => i));
    }
    return this.order[cursor % this.size]!;
  }

  take(cursor: number, count: number): number[] {
    return Array.from({ length: count }, (_, i) => this.at(cursor + i));
  }
}
