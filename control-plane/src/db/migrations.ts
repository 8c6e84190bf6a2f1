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
  {
    name: '0008_trunk_rate_limit',
    async up(knex) {
      await knex.schema.alterTable('sms_trunks', (t) => {
        t.integer('rate_limit_per_second').nullable();
      });
    },
    async down(knex) {
      await knex.schema.alterTable('sms_trunks', (t) => {
        t.dropColumn('rate_limit_per_second');
      });
    },
  },
  {
    name: '0009_callback_secrets',
    async up(knex) {
      await knex.schema.createTable('trunk_callback_secrets', (t) => {
        t.string('trunk_id', 36).primary().references('id').inTable('sms_trunks').onDelete('CASCADE');
        t.string('secret_sealed', 255).notNullable();
        t.string('previous_secret_sealed', 255).nullable();
        t.string('previous_valid_until', 30).nullable();
        t.string('rotated_at', 30).notNullable();
      });
    },
    async down(knex) {
      await knex.schema.dropTable('trunk_callback_secrets');
    },
  },
  {
    name: '0010_messages',
    async up(knex) {
      await knex.schema.createTable('messages', (t) => {
        t.string('id', 36).primary();
        // No foreign key to sms_trunks: the message log outlives a deleted trunk.
        t.string('trunk_id', 36).notNullable();
        t.string('source', 15).notNullable();
        t.string('destination', 15).notNullable();
        t.text('content').notNullable();
        t.string('encoding', 8).notNullable();
        t.integer('segments').notNullable();
        t.string('status', 24).notNullable();
        t.string('processing_status', 24).nullable();
        t.integer('code_id').nullable();
        t.string('final_status', 24).nullable();
        t.integer('parts_delivered').notNullable().defaultTo(0);
        t.integer('parts_failed').notNullable().defaultTo(0);
        t.string('connector', 64).nullable();
        t.integer('submit_attempts').notNullable().defaultTo(0);
        t.string('next_attempt_at', 30).notNullable();
        t.string('lease_owner', 64).nullable();
        t.string('lease_until', 30).nullable();
        t.integer('event_seq').notNullable().defaultTo(0);
        t.string('created_at', 30).notNullable();
        t.string('updated_at', 30).notNullable();
        t.string('submitted_at', 30).nullable();
        t.string('final_at', 30).nullable();
        t.index(['status', 'next_attempt_at']);
        t.index(['trunk_id', 'created_at']);
        t.index(['created_at']);
      });
      await knex.schema.createTable('message_parts', (t) => {
        t.string('message_id', 36).notNullable().references('id').inTable('messages').onDelete('CASCADE');
        t.integer('seq').notNullable();
        t.string('connector', 64).notNullable();
        t.string('carrier_message_id', 128).notNullable();
        t.string('status', 24).nullable();
        t.string('updated_at', 30).notNullable();
        t.primary(['message_id', 'seq']);
        t.unique(['connector', 'carrier_message_id']);
      });
      await knex.schema.createTable('message_events', (t) => {
        t.bigIncrements('id').primary();
        t.string('message_id', 36).notNullable().references('id').inTable('messages').onDelete('CASCADE');
        t.string('type', 32).notNullable();
        t.string('status', 32).nullable();
        t.text('detail').nullable();
        t.string('occurred_at', 30).notNullable();
        t.index(['message_id']);
      });
      // Receipts whose carrier id is not mapped yet (a deliver_sm can overtake submit_sm_resp handling).
      await knex.schema.createTable('pending_receipts', (t) => {
        t.string('connector', 64).notNullable();
        t.string('carrier_message_id', 128).notNullable();
        t.string('status', 24).notNullable();
        t.text('raw').nullable();
        t.string('received_at', 30).notNullable();
        t.primary(['connector', 'carrier_message_id', 'status']);
      });
    },
    async down(knex) {
      await knex.schema.dropTable('pending_receipts');
      await knex.schema.dropTable('message_events');
      await knex.schema.dropTable('message_parts');
      await knex.schema.dropTable('messages');
    },
  },
  {
    name: '0011_callbacks',
    async up(knex) {
      await knex.schema.createTable('callbacks', (t) => {
        t.string('id', 36).primary();
        t.string('message_id', 36).notNullable();
        t.string('trunk_id', 36).notNullable();
        t.string('kind', 16).notNullable();
        t.integer('seq').notNullable();
        t.string('url', 2048).notNullable();
        t.text('body').notNullable();
        t.string('occurred_at', 30).notNullable();
        t.string('state', 16).notNullable();
        t.integer('attempts').notNullable().defaultTo(0);
        t.string('next_attempt_at', 30).notNullable();
        t.string('first_attempt_at', 30).nullable();
        t.string('give_up_at', 30).notNullable();
        t.string('lease_owner', 64).nullable();
        t.string('lease_until', 30).nullable();
        t.integer('last_status_code').nullable();
        t.string('last_error', 255).nullable();
        t.string('delivered_at', 30).nullable();
        t.index(['state', 'next_attempt_at']);
        t.index(['message_id']);
        t.index(['trunk_id', 'state']);
      });
      await knex.schema.createTable('callback_attempts', (t) => {
        t.bigIncrements('id').primary();
        t.string('callback_id', 36).notNullable().references('id').inTable('callbacks').onDelete('CASCADE');
        t.string('attempted_at', 30).notNullable();
        t.integer('duration_ms').notNullable();
        t.integer('status_code').nullable();
        t.string('error', 255).nullable();
        t.string('outcome', 16).notNullable();
        t.index(['callback_id']);
      });
    },
    async down(knex) {
      await knex.schema.dropTable('callback_attempts');
      await knex.schema.dropTable('callbacks');
    },
  },
  {
    name: '0012_idempotency_keys',
    async up(knex) {
      await knex.schema.createTable('idempotency_keys', (t) => {
        t.string('trunk_id', 36).notNullable();
        t.string('key', 255).notNullable();
        t.string('request_hash', 64).notNullable();
        t.integer('response_status').notNullable();
        t.text('response_body').notNullable();
        t.string('created_at', 30).notNullable();
        t.primary(['trunk_id', 'key']);
        t.index(['created_at']);
      });
    },
    async down(knex) {
      await knex.schema.dropTable('idempotency_keys');
    },
  },
  {
    name: '0013_managed_by_code',
    async up(knex) {
      for (const table of ['sms_trunks', 'did_sets']) {
        await knex.schema.alterTable(table, (t) => {
          t.string('managed_by', 200).nullable();
          t.string('managed_spec_hash', 128).nullable();
        });
      }
    },
    async down(knex) {
      for (const table of ['sms_trunks', 'did_sets']) {
        await knex.schema.alterTable(table, (t) => {
          t.dropColumn('managed_by');
          t.dropColumn('managed_spec_hash');
        });
      }
    },
  },
  {
    name: '0014_panel_sessions',
    async up(knex) {
      // Web panel sign-ins. id_hash is the SHA-256 of the cookie value; the id itself is never stored.
      await knex.schema.createTable('panel_sessions', (t) => {
        t.string('id_hash', 64).primary();
        t.string('actor_id', 100).notNullable();
        t.string('actor_name', 200).notNullable();
        t.string('created_at', 30).notNullable();
        t.string('last_seen_at', 30).notNullable();
        t.string('expires_at', 30).notNullable();
        t.index(['expires_at']);
      });
    },
    async down(knex) {
      await knex.schema.dropTable('panel_sessions');
    },
  },
  {
    name: '0015_callbacks_without_trunk_state_index',
    async up(knex) {
      // No query reads callbacks by trunk and state (the claim and the metrics read by state, the
      // message log by message), while every callback's insert and its move to delivered wrote
      // this index: two B-tree writes and a delete per callback, two callbacks per message.
      await knex.schema.alterTable('callbacks', (t) => t.dropIndex(['trunk_id', 'state']));
    },
    async down(knex) {
      await knex.schema.alterTable('callbacks', (t) => t.index(['trunk_id', 'state']));
    },
  },
  {
    name: '0016_pending_receipt_copies',
    async up(knex) {
      // An SMSC may send a receipt twice before its submit_sm_resp is handled: the parked row counts
      // the copies, so the message's history still shows the second as a duplicate once applied.
      await knex.schema.alterTable('pending_receipts', (t) => t.integer('copies').notNullable().defaultTo(1));
    },
    async down(knex) {
      await knex.schema.alterTable('pending_receipts', (t) => t.dropColumn('copies'));
    },
  },
];

export const migrationSource: Knex.MigrationSource<Migration> = {
  getMigrations: async () => migrations,
  getMigrationName: (m) => m.name,
  getMigration: async (m) => m,
};
