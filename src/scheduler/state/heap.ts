// A binary min-heap with removal by item: the scheduler's queue of root tasks and
// a worker's queue of ready tasks, both ordered by task priority.

export class Heap<T> {
  readonly #items: T[] = [];
  readonly #index = new Map<T, number>();
  readonly #less: (a: T, b: T) => boolean;

  constructor(less: (a: T, b: T) => boolean) {
    this.#less = less;
  }

  get size(): number {
    return this.#items.length;
  }

  has(item: T): boolean {
    return this.#index.has(item);
  }

  peek(): T | undefined {
    return this.#items[0];
  }

  push(item: T): void {
    if (this.#index.has(item)) return;
    this.#items.push(item);
    this.#index.set(item, this.#items.length - 1);
    this.#up(this.#items.length - 1);
  }

  pop(): T | undefined {
    const top = this.#items[0];
    if (top !== undefined) this.remove(top);
    return top;
  }

  remove(item: T): boolean {
    const at = this.#index.get(item);
    if (at === undefined) return false;
    this.#index.delete(item);
    const last = this.#items.pop()!;
    if (at < this.#items.length) {
      this.#items[at] = last;
      this.#index.set(last, at);
      this.#down(at);
      this.#up(at);
    }
    return true;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    yield* this.#items;
  }

  #up(at: number): void {
    const items = this.#items;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (!this.#less(items[at]!, items[parent]!)) break;
      this.#swap(at, parent);
      at = parent;
    }
  }

  #down(at: number): void {
    const items = this.#items;
    for (;;) {
      const left = 2 * at + 1;
      const right = left + 1;
      let smallest = at;
      if (left < items.length && this.#less(items[left]!, items[smallest]!)) smallest = left;
      if (right < items.length && this.#less(items[right]!, items[smallest]!)) smallest = right;
      if (smallest === at) return;
      this.#swap(at, smallest);
      at = smallest;
    }
  }

  #swap(a: number, b: number): void {
    const items = this.#items;
    const x = items[a]!;
    const y = items[b]!;
    items[a] = y;
    items[b] = x;
    this.#index.set(y, a);
    this.#index.set(x, b);
  }
}
