import { Knex } from 'knex';

/**
 * Migrations live in code (not in a folder knex scans) so the same list runs from TypeScript
 * sources in tests and from compiled JavaScript in production. Merged migrations are never edited:
 * add a new entry at the end.
 */
interface Migration {
  name: string;
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

const migrations: Migration[] = [
  {
    name: '0001_dids',
    async up(knex) {
      await knex.schema.createTable('dids', (t) => {
        t.string('number', 15).primary();
        t.string('description', 255).nullable();
        t.string('created_at', 30).notNullable();
        t.string('updated_at', 30).notNullable();
      });
      await knex.schema.createTable('did_capabilities', (t) => {
        t.string('did_number', 15).notNullable().references('number').inTable('dids').onDelete('CASCADE');
        t.string('capability', 32).notNullable();
        t.primary(['did_number', 'capability']);
        t.index(['capability']);
      });
    },
    async down(knex) {
      await knex.schema.dropTable('did_capabilities');
      await knex.schema.dropTable('dids');
    },
  },
  {
    name: '0002_did_sets',
    async up(knex) {
      await knex.schema.createTable('did_sets', (t) => {
        t.string('id', 36).primary();
        t.string('name', 100).notNullable().unique();
        t.integer('version').notNullable();
        t.string('created_at', 30).notNullable();
        t.string('updated_at', 30).notNullable();
      });
      await knex.schema.createTable('did_set_members', (t) => {
        t.string('set_id', 36).notNullable().references('id').inTable('did_sets').onDelete('CASCADE');
        t.string('did_number', 15).notNullable().references('number').inTable('dids');
        t.integer('position').notNullable();
        t.primary(['set_id', 'did_number']);
        t.index(['did_number']);
      });
    },
    async down(knex) {
      await knex.schema.dropTable('did_set_members');
      await knex.schema.dropTable('did_sets');
    },
  },
  {
    name: '0003_sms_trunks',
    async up(knex) {
      await knex.schema.createTable('sms_trunks', (t) => {
        t.string('id', 36).primary();
        t.string('name', 100).notNullable().unique();
        t.string('callback_url', 2048).nullable();
        t.text('allowed_ips').notNullable(); // JSON array of canonical CIDRs
        t.boolean('allow_any_did_as_source').notNullable();
        t.boolean('dlr_events').notNullable();
        t.boolean('blocked').notNullable();
        t.string('external_reference_id', 100).nullable().unique();
        t.integer('version').notNullable();
        t.string('created_at', 30).notNullable();
        t.string('updated_at', 30).notNullable();
      });
      await knex.schema.createTable('trunk_outgoing_dids', (t) => {
        t.string('trunk_id', 36).notNullable().references('id').inTable('sms_trunks').onDelete('CASCADE');
        t.string('did_number', 15).notNullable().references('number').inTable('dids');
        t.integer('position').notNullable();
        t.primary(['trunk_id', 'did_number']);
        t.index(['did_number']);
      });
      await knex.schema.createTable('trunk_outgoing_did_sets', (t) => {
        t.string('trunk_id', 36).notNullable().references('id').inTable('sms_trunks').onDelete('CASCADE');
        t.string('set_id', 36).notNullable().references('id').inTable('did_sets');
        t.integer('position').notNullable();
        t.primary(['trunk_id', 'set_id']);
        t.index(['set_id']);
      });
    },
    async down(knex) {
      await knex.schema.dropTable('trunk_outgoing_did_sets');
      await knex.schema.dropTable('trunk_outgoing_dids');
      await knex.schema.dropTable('sms_trunks');
    },
  },
  {
    name: '0004_trunk_credentials',
    async up(knex) {
      await knex.schema.createTable('trunk_credentials', (t) => {
        t.string('trunk_id', 36).primary().references('id').inTable('sms_trunks').onDelete('CASCADE');
        t.string('username', 64).notNullable().unique();
        t.string('password_sealed', 255).notNullable();
        t.string('previous_password_sealed', 255).nullable();
        t.string('previous_valid_until', 30).nullable();
        t.string('rotated_at', 30).notNullable();
      });
    },
    async down(knex) {
      await knex.schema.dropTable('trunk_credentials');
    },
  },
  {
    name: '0005_admin_tokens',
    async up(knex) {
      await knex.schema.createTable('admin_tokens', (t) => {
        t.string('id', 36).primary();
        t.string('name', 100).notNullable();
        t.string('token_hash', 64).notNullable().unique();
        t.string('created_at', 30).notNullable();
        t.string('revoked_at', 30).nullable();
      });
    },
    async down(knex) {
      await knex.schema.dropTable('admin_tokens');
    },
  },
  {
    name: '0006_share_links',
    async up(knex) {
      await knex.schema.createTable('share_links', (t) => {
        t.string('id', 36).primary();
        t.string('trunk_id', 36).notNullable().references('id').inTable('sms_trunks').onDelete('CASCADE');
        t.string('token_hash', 64).notNullable().unique();
        t.string('recipient', 255).nullable();
        t.string('created_by', 100).notNullable();
        t.string('created_at', 30).notNullable();
        t.string('expires_at', 30).notNullable();
        t.string('used_at', 30).nullable();
        t.string('revoked_at', 30).nullable();
        t.index(['trunk_id']);
      });
    },
    async down(knex) {
      await knex.schema.dropTable('share_links');
    },
  },
  {
    name: '0007_audit_events',
    async up(knex) {
      await knex.schema.createTable('audit_events', (t) => {
        t.bigIncrements('id').primary();
        t.string('occurred_at', 30).notNullable();
        t.string('actor', 140).notNullable();
        t.string('action', 64).notNullable();
        t.string('resource_type', 32).notNullable();
        t.string('resource_id', 64).nullable();
        t.text('before').nullable();
        t.text('after').nullable();
        t.index(['occurred_at']);
        t.index(['resource_type', 'resource_id']);
      });
    },
    async down(knex) {
      await knex.schema.dropTable('audit_events');
    },
  },
];

export const migrationSource: Knex.MigrationSource<Migration> = {
  getMigrations: async () => migrations,
  getMigrationName: (m) => m.name,
  getMigration: async (m) => m,
};
