import { Request, Response, Router } from 'express';
import { parseDidSetSpec, DidSet } from '../did-sets/did-set-service';
import type { Did } from '../dids/did-service';
import { parseDidCsv } from '../dids/did-csv';
import { DID_CAPABILITIES } from '../dids/did-validation';
import { DomainError } from '../errors';
import type { IncomingResource } from '../http/jsonapi';
import { didPicker, PICKER_PAGE_SIZE } from './did-picker';
import { html, Html, icons } from './html';
import { csrfField, describedBy, forPanel, errorSummary, fieldMessages, FormErrors, formErrorsFrom, noErrors, page, PageContext, pager, statusForPage, when } from './layout';
import { localsOf, PanelDeps, sendHtml } from './panel-context';

type Flash = (req: Request, res: Response, message: string) => void;

const text = (v: unknown): string => (typeof v === 'string' ? v : '');
const list = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : typeof v === 'string' && v !== '' ? [v] : []);
const digits = (v: unknown): string => text(v).replace(/[^\d]/g, '').slice(0, 15);

const SET_LABELS: Record<string, string> = { name: 'Name', dids: 'DIDs' };

export function didPages(r: Router, deps: PanelDeps, flash: Flash): void {
  // ---------------------------------------------------------------- the picker's filter

  r.get('/api/dids', async (req, res) => {
    const { items, total } = await deps.dids.list({ number: digits(req.query.number) || undefined, capability: 'sms_out' }, { number: 1, size: PICKER_PAGE_SIZE });
    res.json({ items: items.map((d) => ({ number: d.number, description: d.description })), total });
  });

  // ---------------------------------------------------------------- DIDs

  const renderDids = async (req: Request, res: Response, status: number, importState: { csv: string; errors: string[] }) => {
    const number = digits(req.query.number);
    const capability = (DID_CAPABILITIES as readonly string[]).includes(text(req.query.capability)) ? text(req.query.capability) : '';
    const pageNumber = Math.max(1, Math.min(100_000, Number(req.query.page) || 1));
    const size = 50;
    const { items, total } = await deps.dids.list({ number: number || undefined, capability: capability || undefined }, { number: pageNumber, size });
    const ctx = localsOf(res).ctx;
    sendHtml(res, status, page(ctx, { title: 'DIDs', section: 'dids', wide: true, body: didListView(ctx, items, total, number, capability, pageNumber, size, importState) }));
  };

  r.get('/dids', async (req, res) => renderDids(req, res, 200, { csv: '', errors: [] }));

  r.post('/dids/import', async (req, res) => {
    const csv = text(req.body.csv);
    try {
      const rows = parseDidCsv(csv);
      const result = await deps.dids.import(rows, localsOf(res).session.actor, { force: req.body.force === 'true' });
      flash(req, res, `Imported ${rows.length} row${rows.length === 1 ? '' : 's'}: ${result.created} created, ${result.updated} updated, ${result.unchanged} unchanged.`);
      res.redirect(303, '/panel/dids');
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      const errors = err.items.map((i) => (typeof i.meta?.row === 'number' ? `Row ${i.meta.row}: ${forPanel(i.detail)}` : forPanel(i.detail)));
      await renderDids(req, res, statusForPage(err), { csv, errors });
    }
  });

  // ---------------------------------------------------------------- source-DID sets

  r.get('/did-sets', async (_req, res) => {
    const { items } = await deps.didSets.list({}, { number: 1, size: 1000 });
    const ctx = localsOf(res).ctx;
    sendHtml(res, 200, page(ctx, { title: 'Source-DID sets', section: 'sets', body: setListView(ctx, items) }));
  });

  const renderSetForm = async (res: Response, status: number, form: { name: string; dids: string[]; version: string; force: boolean }, errors: FormErrors, set?: DidSet) => {
    const { items, total } = await deps.dids.list({ capability: 'sms_out' }, { number: 1, size: 1000 });
    const known = new Map(items.map((d) => [d.number, d]));
    const ctx = localsOf(res).ctx;
    sendHtml(
      res,
      status,
      page(ctx, {
        title: set ? `Edit set ${set.name}` : 'New source-DID set',
        section: 'sets',
        body: setFormView(ctx, { set, form, errors, available: items.slice(0, PICKER_PAGE_SIZE), availableTotal: total, known }),
      }),
    );
  };

  const setDocument = (form: { name: string; dids: string[] }): IncomingResource => ({
    attributes: { name: form.name },
    relationships: { dids: { data: form.dids.map((id) => ({ type: 'dids', id })) } },
  });
  const setFormFromBody = (body: Record<string, unknown>) => ({ name: text(body.name), dids: list(body.dids), version: text(body.version), force: body.force === 'true' });

  r.get('/did-sets/new', async (_req, res) => renderSetForm(res, 200, { name: '', dids: [], version: '', force: false }, noErrors()));

  r.post('/did-sets', async (req, res) => {
    const form = setFormFromBody(req.body);
    try {
      const set = await deps.didSets.create(parseDidSetSpec(setDocument(form)), localsOf(res).session.actor);
      flash(req, res, `Source-DID set “${set.name}” created with ${set.dids.length} DID${set.dids.length === 1 ? '' : 's'}.`);
      res.redirect(303, '/panel/did-sets');
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      await renderSetForm(res, statusForPage(err), form, formErrorsFrom(err, ['name', 'dids']));
    }
  });

  r.get('/did-sets/:id/edit', async (req, res) => {
    const set = await deps.didSets.get(req.params.id);
    await renderSetForm(res, 200, { name: set.name, dids: set.dids, version: String(set.version), force: false }, noErrors(), set);
  });

  r.post('/did-sets/:id/delete', async (req, res) => {
    const set = await deps.didSets.get(req.params.id);
    const ctx = localsOf(res).ctx;
    if (req.body.confirm !== 'yes') return sendHtml(res, 200, page(ctx, { title: 'Delete set', section: 'sets', body: setDeleteView(ctx, set) }));
    try {
      await deps.didSets.delete(set.id, localsOf(res).session.actor, undefined, req.body.force === 'true');
      flash(req, res, `Source-DID set “${set.name}” deleted.`);
      res.redirect(303, '/panel/did-sets');
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      sendHtml(res, statusForPage(err), page(ctx, { title: 'Delete set', section: 'sets', body: setDeleteView(ctx, set, err.items.map((i) => forPanel(i.detail))) }));
    }
  });

  r.post('/did-sets/:id', async (req, res) => {
    const set = await deps.didSets.get(req.params.id);
    const form = setFormFromBody(req.body);
    try {
      const ifMatch = /^\d+$/.test(form.version) ? Number(form.version) : undefined;
      const updated = await deps.didSets.update(set.id, setDocument(form), localsOf(res).session.actor, ifMatch, form.force);
      flash(req, res, `Source-DID set “${updated.name}” saved.`);
      res.redirect(303, '/panel/did-sets');
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      await renderSetForm(res, statusForPage(err), form, formErrorsFrom(err, ['name', 'dids']), set);
    }
  });
}

// ==================================================================== views

function didListView(ctx: PageContext, items: Did[], total: number, number: string, capability: string, pageNumber: number, size: number, imp: { csv: string; errors: string[] }): Html {
  return html`<div class="page-head"><h1>DIDs</h1></div>
<div class="two-col two-col-wide">
<section>
  <form class="toolbar" method="get" action="/panel/dids" role="search">
    <label for="f-number">Number contains</label>
    <input type="search" id="f-number" name="number" value="${number}" inputmode="numeric" placeholder="Digits">
    <label for="f-capability">Capability</label>
    <select id="f-capability" name="capability">
      <option value="">any</option>
      ${DID_CAPABILITIES.map((c) => html`<option value="${c}"${c === capability ? html` selected` : ''}>${c}</option>`)}
    </select>
    <button type="submit" class="btn">Filter</button>
    <span class="muted count">${total} DID${total === 1 ? '' : 's'}</span>
  </form>
  ${items.length === 0
    ? html`<div class="empty card"><p>${number || capability ? 'No DID matches this filter.' : 'No DIDs yet: import your numbers from a CSV file.'}</p></div>`
    : html`<div class="table-wrap"><table class="data">
    <caption class="visually-hidden">DIDs</caption>
    <thead><tr><th scope="col">Number</th><th scope="col">Capabilities</th><th scope="col">Description</th><th scope="col">Updated</th></tr></thead>
    <tbody>${items.map(
      (d) => html`<tr><th scope="row" class="nowrap">+${d.number}</th><td>${d.capabilities.map((c) => html`<span class="badge${c === 'sms_out' ? ' badge-ok' : ''}">${c}</span> `)}</td><td>${d.description ?? html`<span class="muted">—</span>`}</td><td class="nowrap">${when(d.updated_at)}</td></tr>`,
    )}</tbody>
  </table></div>
  ${pager('/panel/dids', { number, capability }, pageNumber, total, size)}`}
</section>
<section class="card" aria-labelledby="import-title">
  <h2 id="import-title">Import CSV</h2>
  <p class="muted small">Columns <code>number,capabilities,description</code> (header optional); capabilities separated by <code>;</code>, empty means <code>sms_out</code>. All rows or none: every bad row is listed. Existing numbers are updated.</p>
  ${imp.errors.length ? html`<div class="error-summary" role="alert" tabindex="-1" id="error-summary"><h2>Nothing was imported</h2><ul>${imp.errors.slice(0, 50).map((e) => html`<li>${e}</li>`)}${imp.errors.length > 50 ? html`<li>… and ${imp.errors.length - 50} more</li>` : ''}</ul></div>` : ''}
  <form method="post" action="/panel/dids/import" class="form" novalidate>
    ${csrfField(ctx)}
    <div class="field">
      <label for="f-csv-file">CSV file</label>
      <input type="file" id="f-csv-file" accept=".csv,text/csv,text/plain" data-load-into="f-csv">
    </div>
    <div class="field">
      <label for="f-csv">…or paste the rows</label>
      <textarea id="f-csv" name="csv" rows="8" spellcheck="false" placeholder="number,capabilities,description&#10;12125551234,sms_out,NYC"${imp.errors.length ? html` aria-invalid="true" aria-describedby="error-summary"` : ''}>${imp.csv}</textarea>
    </div>
    <label class="check-label"><input type="checkbox" name="force" value="true"> Detach numbers that lose SMS OUT from trunks and sets (force)</label>
    <div class="form-actions"><button type="submit" class="btn btn-primary">Import</button></div>
  </form>
</section>
</div>`;
}

function setListView(ctx: PageContext, sets: DidSet[]): Html {
  return html`<div class="page-head">
  <h1>Source-DID sets</h1>
  <a class="btn btn-primary" href="/panel/did-sets/new">+ New set</a>
</div>
<p class="muted">A set is a named group of DIDs with SMS OUT that several trunks can allow as senders (Source Address Settings).</p>
${sets.length === 0
  ? html`<div class="empty card"><p>No sets yet.</p></div>`
  : html`<div class="table-wrap"><table class="data">
  <caption class="visually-hidden">Source-DID sets</caption>
  <thead><tr><th scope="col">Name</th><th scope="col">DIDs</th><th scope="col">Updated</th><th scope="col">Actions</th></tr></thead>
  <tbody>${sets.map(
    (s) => html`<tr>
    <th scope="row"><a href="/panel/did-sets/${s.id}/edit">${s.name}</a> ${s.managed_by ? html`<span class="badge badge-code" title="Managed by ${s.managed_by}">${icons.code} managed by code</span>` : ''}</th>
    <td>${s.dids.length} <span class="muted small">${s.dids.slice(0, 4).map((d) => `+${d}`).join(', ')}${s.dids.length > 4 ? ', …' : ''}</span></td>
    <td class="nowrap">${when(s.updated_at)}</td>
    <td class="actions"><a class="icon-btn" href="/panel/did-sets/${s.id}/edit" aria-label="Edit ${s.name}" title="Edit">${icons.edit}</a>
      <form method="post" action="/panel/did-sets/${s.id}/delete" class="inline-form">${csrfField(ctx)}<button type="submit" class="icon-btn danger" aria-label="Delete ${s.name}" title="Delete">${icons.trash}</button></form></td>
  </tr>`,
  )}</tbody>
</table></div>`}`;
}

function setFormView(
  ctx: PageContext,
  o: { set?: DidSet; form: { name: string; dids: string[]; version: string; force: boolean }; errors: FormErrors; available: Did[]; availableTotal: number; known: Map<string, Did> },
): Html {
  const { set, form, errors } = o;
  return html`<div class="page-head"><h1>${set ? html`Edit set “${set.name}”` : 'New source-DID set'}</h1></div>
${set?.managed_by ? html`<div class="callout callout-code" role="note"><h2>${icons.code} Managed by code</h2><p>This set is declared in <strong>${set.managed_by}</strong>; change it there and deploy. Saving here needs <em>force</em>; <code>trunkctl drift</code> then reports the difference and <code>trunkctl drift --fix</code> puts back what the stack declares.</p></div>` : ''}
${errorSummary(errors, SET_LABELS)}
<form method="post" action="${set ? `/panel/did-sets/${set.id}` : '/panel/did-sets'}" class="card form" novalidate data-trunk-form>
  ${csrfField(ctx)}
  ${set ? html`<input type="hidden" name="version" value="${form.version}">` : ''}
  <div class="field">
    <label for="f-name">Name</label>
    <input type="text" id="f-name" name="name" value="${form.name}" maxlength="100" required${describedBy(errors, 'name')}>
    ${fieldMessages(errors, 'name')}
  </div>
  ${didPicker({ field: 'dids', legend: 'DIDs in this set', selected: form.dids.map((n) => ({ number: n, description: o.known.get(n)?.description })), available: o.available, availableTotal: o.availableTotal, errors })}
  ${set?.managed_by ? html`<div class="field"><label class="check-label"><input type="checkbox" name="force" value="true"${form.force ? html` checked` : ''}> Save anyway (force)</label></div>` : ''}
  <div class="form-actions"><button type="submit" class="btn btn-primary">${set ? 'Save' : 'Create set'}</button> <a href="/panel/did-sets">Cancel</a></div>
</form>`;
}

function setDeleteView(ctx: PageContext, set: DidSet, problems: string[] = []): Html {
  return html`<section class="card">
  <h1>Delete the set “${set.name}”?</h1>
  ${problems.length ? html`<div class="error-summary" role="alert"><ul>${problems.map((p) => html`<li>${p}</li>`)}</ul></div>` : ''}
  <p>The ${set.dids.length} DID${set.dids.length === 1 ? '' : 's'} in it stay; only the group goes. A set that a trunk still uses cannot be deleted.</p>
  <form method="post" action="/panel/did-sets/${set.id}/delete">
    ${csrfField(ctx)}
    <input type="hidden" name="confirm" value="yes">
    ${set.managed_by ? html`<label class="check-label"><input type="checkbox" name="force" value="true"> Delete anyway although ${set.managed_by} manages it (force)</label>` : ''}
    <div class="form-actions"><button type="submit" class="btn btn-danger">Delete set</button> <a href="/panel/did-sets">Cancel</a></div>
  </form>
</section>`;
}
