import { expect } from 'chai';
import { limitHeapGrowth } from '../../control-plane/src/main';

/*
 * `npm start` fixes how far V8 lets the old generation grow between full collections (its RSS
 * under sustained load is measured by `npm run bench`, see docs/PERFORMANCE.md), unless node's
 * command line sets the factor itself.
 */
describe('limitHeapGrowth (npm start)', () => {
  it('sets the factor unless node was started with one', () => {
    expect(limitHeapGrowth(['--heap-growing-percent=50'])).to.equal(false);
    expect(limitHeapGrowth(['--heap_growing_percent=50'])).to.equal(false);
    expect(limitHeapGrowth(['--max-old-space-size=512'])).to.equal(true);
    expect(limitHeapGrowth([])).to.equal(true);
  });
});
