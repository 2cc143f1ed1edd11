import { afterEach } from "vitest";

import { ImageStore, type ImageStoreOptions } from "../../src/runtime/images/store.js";

/**
 * Image stores for one test file: call at the top level, then `await openStore(root)` in tests. Every
 * store opened during a test is closed after it, pass or fail, releasing its store root's lock. A test
 * that reopens a root must `close()` the first store before (the second open would wait for it).
 */
export function useImageStores(): (root: string, opts?: ImageStoreOptions) => Promise<ImageStore> {
  const opened: ImageStore[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((store) => store.close()));
  });
  return async (root, opts) => {
    const store = await ImageStore.open(root, opts);
    opened.push(store);
    return store;
  };
}
