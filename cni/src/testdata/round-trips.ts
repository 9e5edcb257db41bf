/**
 * For tests: a datastore that counts the round trips a caller waits for one after another. A
 * call that starts while another is in flight shares its round trip (they were issued together).
 */
import type { Datastore } from '../../../lib/datastore/types.js';

export interface CountedDatastore {
  ds: Datastore;
  roundTrips(): number;
  calls(): number;
}

export function countingRoundTrips(inner: Datastore): CountedDatastore {
  let inFlight = 0;
  let roundTrips = 0;
  let calls = 0;
  const counted = <A extends unknown[], R>(f: (...a: A) => Promise<R>) => async (...a: A): Promise<R> => {
    if (inFlight === 0) roundTrips++;
    inFlight++;
    calls++;
    try {
      return await f(...a);
    } finally {
      inFlight--;
    }
  };
  const ds = {
    type: inner.type,
    get: counted(inner.get.bind(inner)),
    list: counted(inner.list.bind(inner)),
    watch: inner.watch.bind(inner),
    create: counted(inner.create.bind(inner)),
    update: counted(inner.update.bind(inner)),
    delete: counted(inner.delete.bind(inner)),
    close: async () => {},
  } as Datastore;
  return { ds, roundTrips: () => roundTrips, calls: () => calls };
}
