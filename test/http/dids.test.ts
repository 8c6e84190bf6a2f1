import { expect } from 'chai';
import { doc, rel, startTestPlatform, TestPlatform } from '../support/platform';

describe('DIDs API', () => {
  let t: TestPlatform;
  beforeEach(async () => {
    t = await startTestPlatform();
  });
  afterEach(async () => {
    await t.stop();
  });

  const create = (number: string, capabilities = ['sms_out'], description?: string) =>
    t.api('POST', '/v1/dids', doc('dids', { number, capabilities, ...(description ? { description } : {}) }));

  it('creates a DID whose id is its number and reads it back', async () => {
    const res = await create('12125551234', ['sms_out', 'voice_in'], 'NYC main');
    expect(res.status).to.equal(201);
    expect(res.headers.get('content-type')).to.match(/application\/vnd\.api\+json/);
    expect(res.body.data).to.include({ type: 'dids', id: '12125551234' });
    expect(res.body.data.attributes.capabilities).to.deep.equal(['sms_out', 'voice_in']);
    const got = await t.api('GET', '/v1/dids/12125551234');
    expect(got.body.data.attributes.description).to.equal('NYC main');
  });

  const badNumbers: Array<[unknown, RegExp]> = [
    ['+12125551234', /drop the leading "\+"/],
    ['1 212 555 1234', /remove spaces/],
    ['1212-555-1234', /remove spaces/],
    ['12125551234x', /7 to 15 digits/],
    ['012125551234', /7 to 15 digits/],
    ['123456', /7 to 15 digits/],
    ['1234567890123456', /7 to 15 digits/],
    [12125551234, /must be a string/],
    ['', /7 to 15 digits/],
  ];
  for (const [number, detail] of badNumbers) {
    it(`fails when the number is ${JSON.stringify(number)}`, async () => {
      const res = await t.api('POST', '/v1/dids', doc('dids', { number }));
      expect(res.status).to.equal(400);
      expect(res.body.errors[0]).to.include({ status: '400', code: 'DID_NUMBER_INVALID' });
      expect(res.body.errors[0].source.pointer).to.equal('/data/attributes/number');
      expect(res.body.errors[0].detail).to.match(detail);
      expect((await t.api('GET', '/v1/dids')).body.meta.total).to.equal(0);
    });
  }

  it('fails when a capability is unknown, pointing at the element', async () => {
    const res = await t.api('POST', '/v1/dids', doc('dids', { number: '12125551234', capabilities: ['sms_out', 'mms'] }));
    expect(res.status).to.equal(400);
    expect(res.body.errors[0].source.pointer).to.equal('/data/attributes/capabilities/1');
  });

  it('fails with 409 when the number exists already', async () => {
    await create('12125551234');
    const res = await create('12125551234');
    expect(res.status).to.equal(409);
    expect(res.body.errors[0].code).to.equal('DID_EXISTS');
  });

  it('filters by number substring and capability and paginates with links and a total', async () => {
    for (let i = 0; i < 12; i++) await create(`1212555${String(1000 + i)}`, i % 2 ? ['sms_out'] : ['voice_in']);
    await create('4930123456', ['sms_out']);
    const page = await t.api('GET', '/v1/dids?filter[number]=1212555&page[size]=5&page[number]=2');
    expect(page.body.meta.total).to.equal(12);
    expect(page.body.data.map((d: any) => d.id)).to.deep.equal(['12125551005', '12125551006', '12125551007', '12125551008', '12125551009']);
    expect(page.body.links.next).to.contain('page%5Bnumber%5D=3');
    expect(page.body.links.prev).to.contain('page%5Bnumber%5D=1');
    expect(page.body.links.last).to.contain('page%5Bnumber%5D=3');
    const sms = await t.api('GET', '/v1/dids?filter[capability]=sms_out&filter[number]=%2B4930');
    expect(sms.body.data.map((d: any) => d.id)).to.deep.equal(['4930123456']);
    const bad = await t.api('GET', '/v1/dids?page[size]=0');
    expect(bad.status).to.equal(400);
    expect(bad.body.errors[0].source.parameter).to.equal('page[size]');
  });

  it('updates capabilities and description', async () => {
    await create('12125551234');
    const res = await t.api('PATCH', '/v1/dids/12125551234', doc('dids', { capabilities: ['sms_out', 'sms_in'], description: 'updated' }));
    expect(res.status).to.equal(200);
    expect(res.body.data.attributes).to.include({ description: 'updated' });
    expect(res.body.data.attributes.capabilities).to.deep.equal(['sms_in', 'sms_out']);
  });

  it('fails with 409 listing the users when a DID used by a set and a trunk is deleted, and detaches it with force', async () => {
    await create('12125551234');
    await create('12125551235');
    const set = await t.api('POST', '/v1/did_sets', doc('did_sets', { name: 'nyc' }, { dids: rel('dids', ['12125551234', '12125551235']) }));
    const trunk = await t.api(
      'POST',
      '/v1/sms_trunks',
      doc('sms_trunks', { name: 'Direct', allow_any_did_as_source: false }, { outgoing_dids: rel('dids', ['12125551234', '12125551235']) }),
    );
    const refused = await t.api('DELETE', '/v1/dids/12125551234');
    expect(refused.status).to.equal(409);
    expect(refused.body.errors[0].code).to.equal('DID_IN_USE');
    expect(refused.body.errors[0].meta.used_by.map((u: any) => u.name).sort()).to.deep.equal(['Direct', 'nyc']);
    expect((await t.api('GET', '/v1/dids/12125551234')).status).to.equal(200);

    const forced = await t.api('DELETE', '/v1/dids/12125551234?force=true');
    expect(forced.status).to.equal(204);
    expect((await t.api('GET', '/v1/dids/12125551234')).status).to.equal(404);
    const setAfter = await t.api('GET', `/v1/did_sets/${set.body.data.id}`);
    expect(setAfter.body.data.relationships.dids.data.map((d: any) => d.id)).to.deep.equal(['12125551235']);
    expect(setAfter.body.data.attributes.version).to.equal(2);
    const trunkAfter = await t.api('GET', `/v1/sms_trunks/${trunk.body.data.id}`);
    expect(trunkAfter.body.data.relationships.outgoing_dids.data.map((d: any) => d.id)).to.deep.equal(['12125551235']);
    expect(trunkAfter.body.data.attributes.version).to.equal(2);
  });

  it('fails with 409 when sms_out is removed from a DID a set uses', async () => {
    await create('12125551234');
    await t.api('POST', '/v1/did_sets', doc('did_sets', { name: 'nyc' }, { dids: rel('dids', ['12125551234']) }));
    const res = await t.api('PATCH', '/v1/dids/12125551234', doc('dids', { capabilities: ['voice_in'] }));
    expect(res.status).to.equal(409);
    expect((await t.api('GET', '/v1/dids/12125551234')).body.data.attributes.capabilities).to.deep.equal(['sms_out']);
  });

  describe('import', () => {
    it('imports a CSV with a header and reports created, updated and unchanged rows', async () => {
      await create('12125550001', ['sms_out'], 'old');
      const csv = 'number,capabilities,description\n12125550001,sms_out,new\n12125550002,sms_out;sms_in,\n12125550003,,Berlin\n';
      const res = await t.api('POST', '/v1/dids/import', csv, { 'content-type': 'text/csv' });
      expect(res.status).to.equal(200);
      expect(res.body.meta).to.deep.equal({ rows: 3, created: 2, updated: 1, unchanged: 0 });
      expect((await t.api('GET', '/v1/dids/12125550002')).body.data.attributes.capabilities).to.deep.equal(['sms_in', 'sms_out']);
      const again = await t.api('POST', '/v1/dids/import', csv, { 'content-type': 'text/csv' });
      expect(again.body.meta).to.deep.equal({ rows: 3, created: 0, updated: 0, unchanged: 3 });
    });

    it('imports a JSON:API array', async () => {
      const body = { data: [{ type: 'dids', attributes: { number: '4930123456' } }, { type: 'dids', id: '4930123457', attributes: { capabilities: ['sms_out'] } }] };
      const res = await t.api('POST', '/v1/dids/import', body);
      expect(res.status).to.equal(200);
      expect(res.body.meta.created).to.equal(2);
    });

    it('fails with every bad row reported and imports nothing', async () => {
      const csv = 'number,capabilities\n12125550001,sms_out\n+12125550002,sms_out\n12125550003,fax\n12125550001,sms_out\nabc\n';
      const res = await t.api('POST', '/v1/dids/import', csv, { 'content-type': 'text/csv' });
      expect(res.status).to.equal(400);
      const rows = res.body.errors.map((e: any) => [e.meta.row, e.code, e.source.pointer]);
      expect(rows).to.deep.equal([
        [2, 'DID_NUMBER_INVALID', '/data/1/attributes/number'],
        [3, 'DID_CAPABILITY_UNKNOWN', '/data/2/attributes/capabilities/0'],
        [4, 'DID_DUPLICATE_ROW', '/data/3/attributes/number'],
        [5, 'DID_NUMBER_INVALID', '/data/4/attributes/number'],
      ]);
      expect((await t.api('GET', '/v1/dids')).body.meta.total).to.equal(0);
    });

    it('imports ten thousand rows in one transaction', async () => {
      const lines = ['number'];
      for (let i = 0; i < 10_000; i++) lines.push(`4930${String(1_000_000 + i)}`);
      const res = await t.api('POST', '/v1/dids/import', lines.join('\n'), { 'content-type': 'text/csv' });
      expect(res.status).to.equal(200);
      expect(res.body.meta.created).to.equal(10_000);
      expect((await t.api('GET', '/v1/dids?page[size]=1')).body.meta.total).to.equal(10_000);
    });
  });
});
