// Seed 001 end to end through the TypeScript client that @hey-api/openapi-ts generated
// (scripts/check-clients.sh). Only the generated SDK talks to Relevo; every answer also goes
// through Conformance (conformance.ts), which fails the run on anything the document does not say.
//
// The scenario uses the SDK functions (named after the operationIds) and reads fields by name,
// never a generated type's name, so it survives the document's schemas being renamed.

import { isDeepStrictEqual } from 'node:util';

import { createClient, createConfig } from './gen/client/index.js';
import type { Client } from './gen/client/index.js';
import * as sdk from './gen/sdk.gen.js';
import { Conformance } from './conformance.js';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const BASE_URL = env('RELEVO_URL');
const ADMIN_EMAIL = env('RELEVO_ADMIN_EMAIL');
const ADMIN_PASSWORD = env('RELEVO_ADMIN_PASSWORD');
const conformance = new Conformance(env('RELEVO_OPENAPI'));

// Seed 001's example values (/work/shared/seeds/001_*.txt).
const PRINCIPAL = {
  phone_number: '+573001234567',
  instance_name: 'principal_campana',
  evolution_api_key: 'B6D9F2E8-A3C4-4D5E-9F8A-1B2C3D4E5F6A',
  evolution_api_url: 'https://evolution.midominio.com',
  daily_message_limit: 1000,
  is_active: true,
  notes: 'Instancia principal para campaña electoral',
};
const SECONDARY = {
  phone_number: '+573009876543',
  instance_name: 'secundaria_recordatorios',
  evolution_api_key: '0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0',
  evolution_api_url: null,
  daily_message_limit: 500,
  notes: 'Para recordatorios de reuniones y compromisos',
};
const UPDATE = {
  instance_name: 'principal_actualizada',
  daily_message_limit: 1500,
  notes: 'Límite aumentado por campaña intensiva',
};

class ScenarioFailure extends Error {}

function fail(message: string): never {
  throw new ScenarioFailure(message);
}

function expect(actual: unknown, wanted: unknown, what: string): void {
  if (!isDeepStrictEqual(actual, wanted)) {
    fail(`${what}: got ${JSON.stringify(actual)}, expected ${JSON.stringify(wanted)}`);
  }
}

/** Every field of `wanted` has that value in `data`. */
function expectFields(data: object, wanted: Record<string, unknown>, what: string): void {
  const actual = data as Record<string, unknown>;
  for (const [key, value] of Object.entries(wanted)) expect(actual[key], value, `${what}.${key}`);
}

function need<T>(value: T, what: string): NonNullable<T> {
  if (value === null || value === undefined) fail(`${what} is missing`);
  return value as NonNullable<T>;
}

function withoutKey(item: object, what: string): void {
  if ('evolution_api_key' in item) fail(`${what}: evolution_api_key is present`);
}

let calls = 0;

type Outcome = { data?: unknown; error?: unknown; response?: Response };

/** Awaits one SDK call; checks its status and the conformance of its answer. */
async function settle<R extends Outcome>(what: string, status: number, pending: Promise<R>): Promise<R> {
  calls += 1;
  const result = await pending;
  const problems = conformance.take();
  const got = result.response?.status;
  if (got !== status) {
    fail(`${what}: status ${got}, expected ${status}: ${JSON.stringify(result.error ?? result.data)?.slice(0, 600)}`);
  }
  if (problems.length > 0) fail(`${what}: the answer does not match the document:\n  ${problems.join('\n  ')}`);
  return result;
}

async function ok<R extends Outcome>(what: string, status: number, pending: Promise<R>): Promise<NonNullable<R['data']>> {
  return need((await settle(what, status, pending)).data as R['data'], `${what}: data`);
}

async function refused<R extends Outcome>(what: string, status: number, pending: Promise<R>): Promise<NonNullable<R['error']>> {
  return need((await settle(what, status, pending)).error as R['error'], `${what}: error body`);
}

function clientWith(token?: string): Client {
  const client = createClient(createConfig({ baseUrl: BASE_URL, ...(token ? { auth: token } : {}) }));
  client.interceptors.response.use(conformance.onResponse);
  return client;
}

async function scenario(): Promise<void> {
  const anonymous = clientWith();

  // 1. Login and me.
  const login = (await ok('login', 200, sdk.login({ client: anonymous, body: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD } }))).data;
  expect([login.token_type, login.user.email, login.user.role], ['Bearer', ADMIN_EMAIL, 'super_admin'], 'login');
  if (!login.access_token || login.expires_in <= 0) fail('login: no usable token');
  const admin = clientWith(login.access_token);
  const wrong = await refused('login (wrong password)', 401, sdk.login({ client: anonymous, body: { email: ADMIN_EMAIL, password: `${ADMIN_PASSWORD}x` } }));
  if (!wrong.message) fail('login with a wrong password: no message');

  const me = (await ok('me', 200, sdk.me({ client: admin }))).data;
  expect([me.id, me.email, me.role], [login.user.id, ADMIN_EMAIL, 'super_admin'], 'me');

  // 2. Tenant (seed 001 section 8).
  const tenant = (await ok('create_tenant', 201, sdk.createTenant({
    client: admin,
    body: { nombre: 'Juan Pérez - Alcaldía', slug: 'candidato-alcaldia', tipo_cargo: 'Alcalde', identificacion: '1234567890' },
  }))).data;
  expectFields(tenant, { slug: 'candidato-alcaldia', nombre: 'Juan Pérez - Alcaldía', tipo_cargo: 'Alcalde' }, 'create_tenant');
  const tenantKey = String(tenant.id);

  // 3. Create two instances (seed 001 section 1).
  const created = await ok('create_instance', 201, sdk.createInstance({ client: admin, path: { tenant: tenantKey }, body: PRINCIPAL }));
  expect(created.message, 'WhatsApp instance created successfully', 'create_instance.message');
  const principal = created.data;
  expectFields(principal, { ...PRINCIPAL, tenant_id: tenant.id, messages_sent_today: 0, remaining_quota: 1000, can_send_messages: true }, 'create_instance.data');
  const principalTenant = need(principal.tenant, 'create_instance.data.tenant');
  expect([principalTenant.id, principalTenant.slug, principalTenant.nombre], [tenant.id, 'candidato-alcaldia', 'Juan Pérez - Alcaldía'], 'create_instance.data.tenant');
  const today = principal.last_reset_date;

  const secondary = (await ok('create_instance (2)', 201, sdk.createInstance({ client: admin, path: { tenant: 'candidato-alcaldia' }, body: SECONDARY }))).data;
  expectFields(secondary, { ...SECONDARY, is_active: true, remaining_quota: 500 }, 'create_instance(2).data');

  const duplicate = await refused('create_instance (duplicate)', 422, sdk.createInstance({ client: admin, path: { tenant: tenantKey }, body: PRINCIPAL }));
  if (!('errors' in duplicate)) throw new Error('create_instance (duplicate): a 422 without `errors`');
  expect(duplicate.errors.phone_number, ['Este número de teléfono ya está registrado para este tenant'], 'duplicate phone errors');

  // 4. List with filters (seed 001 section 2): no evolution_api_key in lists.
  const listed = await ok('list_instances', 200, sdk.listInstances({ client: admin, path: { tenant: tenantKey }, query: { is_active: true, per_page: 10 } }));
  expect(listed.data.map((i) => i.id), [principal.id, secondary.id], 'list_instances ids');
  expect(listed.meta, { total: 2, current_page: 1, last_page: 1, per_page: 10 }, 'list_instances.meta');
  listed.data.forEach((item) => withoutKey(item, `list_instances ${item.id}`));
  expect(listed.data[1]?.evolution_api_url, null, 'list_instances[1].evolution_api_url');
  expect(listed.data[0]?.notes, PRINCIPAL.notes, 'list_instances[0].notes');

  // 5. Show: the key and the tenant.
  const shown = (await ok('show_instance', 200, sdk.showInstance({ client: admin, path: { tenant: tenantKey, id: principal.id } }))).data;
  expect(shown.evolution_api_key, PRINCIPAL.evolution_api_key, 'show_instance.evolution_api_key');
  const shownTenant = need(shown.tenant, 'show_instance.tenant');
  expect([shownTenant.id, shownTenant.slug], [tenant.id, 'candidato-alcaldia'], 'show_instance.tenant');

  // 6. Update (seed 001 section 4).
  const updated = await ok('update_instance', 200, sdk.updateInstance({ client: admin, path: { tenant: tenantKey, id: principal.id }, body: UPDATE }));
  expect(updated.message, 'WhatsApp instance updated successfully', 'update_instance.message');
  expectFields(updated.data, { ...UPDATE, phone_number: PRINCIPAL.phone_number, remaining_quota: 1500, is_active: true }, 'update_instance.data');

  // 7. Toggle twice (seed 001 section 5).
  const off = await ok('toggle_active', 200, sdk.toggleActive({ client: admin, path: { tenant: tenantKey, id: principal.id } }));
  expect([off.message, off.data.is_active, off.data.can_send_messages], ['WhatsApp instance deactivated', false, false], 'toggle_active');
  const inactive = await ok('list_instances (inactive)', 200, sdk.listInstances({ client: admin, path: { tenant: tenantKey }, query: { is_active: false } }));
  expect(inactive.data.map((i) => i.id), [principal.id], 'list_instances(is_active=false) ids');
  const on = await ok('toggle_active (2)', 200, sdk.toggleActive({ client: admin, path: { tenant: tenantKey, id: principal.id } }));
  expect([on.message, on.data.is_active, on.data.can_send_messages], ['WhatsApp instance activated', true, true], 'toggle_active(2)');

  // 8. Reset the counter, statistics (seed 001 section 6), tenant statistics.
  const reset = await ok('reset_counter', 200, sdk.resetCounter({ client: admin, path: { tenant: tenantKey, id: principal.id } }));
  expect([reset.message, reset.data.messages_sent_today, reset.data.remaining_quota], ['WhatsApp instance counter reset successfully', 0, 1500], 'reset_counter');

  const stats = (await ok('instance_statistics', 200, sdk.instanceStatistics({ client: admin, path: { tenant: tenantKey, id: principal.id } }))).data;
  expectFields(stats, {
    instance_id: principal.id, phone_number: PRINCIPAL.phone_number, is_active: true, daily_limit: 1500,
    sent_today: 0, remaining_today: 1500, usage_percentage: 0, can_send: true,
  }, 'instance_statistics');

  const tenantStats = (await ok('tenant_statistics', 200, sdk.tenantStatistics({ client: admin, path: { tenant: tenantKey } }))).data;
  expectFields(tenantStats, {
    tenant_id: tenant.id, instances_count: 2, active_instances_count: 2, available_instances_count: 2,
    daily_limit: 2000, sent_today: 0, remaining_today: 2000,
  }, 'tenant_statistics');
  expect(tenantStats.instances.map((s) => s.instance_id).sort(), [principal.id, secondary.id].sort(), 'tenant_statistics.instances');

  // 9. Every tenant's instances, with filters; the tenant with its instances.
  const everything = await ok('list_all_instances', 200, sdk.listAllInstances({ client: admin, query: { per_page: 50 } }));
  expect(everything.meta.total, 2, 'list_all_instances.meta.total');
  const searched = await ok('list_all_instances (search)', 200, sdk.listAllInstances({ client: admin, query: { tenant_id: tenant.id, search: 'principal' } }));
  expect(searched.data.map((i) => i.id), [principal.id], 'list_all_instances(search) ids');
  [...everything.data, ...searched.data].forEach((item) => withoutKey(item, `list_all_instances ${item.id}`));

  const shownTenantFull = (await ok('show_tenant', 200, sdk.showTenant({ client: admin, path: { tenant: 'candidato-alcaldia' } }))).data;
  expect([shownTenantFull.whatsapp_instances_count, shownTenantFull.active_whatsapp_instances_count], [2, 2], 'show_tenant counts');
  shownTenantFull.whatsapp_instances.forEach((item) => withoutKey(item, `show_tenant instance ${item.id}`));

  // 10. A tenant user reads its own tenant's instances, without keys, and nothing else.
  const userPassword = 'Rel3vo-tenant-user-9pQ!z';
  const user = (await ok('create_user', 201, sdk.createUser({
    client: admin,
    body: { email: 'ana@example.com', password: userPassword, role: 'tenant_user', tenant_id: tenant.id },
  }))).data;
  expect([user.email, user.role, user.tenant_id], ['ana@example.com', 'tenant_user', tenant.id], 'create_user');
  const userLogin = (await ok('login (tenant user)', 200, sdk.login({ client: anonymous, body: { email: 'ana@example.com', password: userPassword } }))).data;
  expect([userLogin.user.role, userLogin.user.tenant_id], ['tenant_user', tenant.id], 'tenant user login');
  const tenantUser = clientWith(userLogin.access_token);
  const own = await ok('list_own_instances', 200, sdk.listOwnInstances({ client: tenantUser, query: { is_active: true, per_page: 1 } }));
  expect([own.meta.total, own.meta.per_page, own.meta.last_page, own.data.length], [2, 1, 2, 1], 'list_own_instances.meta');
  own.data.forEach((item) => withoutKey(item, `list_own_instances ${item.id}`));
  const ownShown = (await ok('show_own_instance', 200, sdk.showOwnInstance({ client: tenantUser, path: { id: secondary.id } }))).data;
  expect([ownShown.id, ownShown.instance_name], [secondary.id, SECONDARY.instance_name], 'show_own_instance');
  withoutKey(ownShown, 'show_own_instance');
  const ownStats = (await ok('own_instance_statistics', 200, sdk.ownInstanceStatistics({ client: tenantUser, path: { id: secondary.id } }))).data;
  expect([ownStats.instance_id, ownStats.daily_limit, ownStats.remaining_today], [secondary.id, 500, 500], 'own_instance_statistics');
  const forbidden = await refused('show_instance (tenant user)', 403, sdk.showInstance({ client: tenantUser, path: { tenant: tenantKey, id: principal.id } }));
  expect(forbidden.message, 'This action is unauthorized.', 'show_instance as tenant user');

  // 11. A sender token, a claim (replayed once) and a release.
  const token = (await ok('create_sender_token', 201, sdk.createSenderToken({
    client: admin, path: { tenant: tenantKey }, body: { name: 'campaign-worker', expires_in_days: 90 },
  }))).data;
  expect(token.name, 'campaign-worker', 'create_sender_token.name');
  if (!token.token.startsWith('rlv_snd_')) fail(`create_sender_token: unexpected token ${token.token.slice(0, 12)}…`);
  const tokens = await ok('list_sender_tokens', 200, sdk.listSenderTokens({ client: admin, path: { tenant: tenantKey } }));
  expect(tokens.data.map((t) => t.id), [token.id], 'list_sender_tokens ids');
  if (tokens.data[0] && 'token' in tokens.data[0]) fail('list_sender_tokens shows the token');
  const sender = clientWith(token.token);

  const claimBody = { count: 1, recipient: '+573009876543', idempotency_key: 'campaign-42-msg-1001', strategy: 'most_remaining' } as const;
  const claim = (await ok('claim_own_instance', 200, sdk.claimOwnInstance({ client: sender, body: claimBody }))).data;
  expectFields(claim, {
    requested: 1, granted: 1, released: 0, replayed: false, messages_sent_today: 1, remaining_quota: 1499,
    strategy: 'most_remaining', usage_date: today,
  }, 'claim_own_instance');
  expectFields(claim.instance, {
    id: principal.id, instance_name: UPDATE.instance_name, phone_number: PRINCIPAL.phone_number,
    evolution_api_url: PRINCIPAL.evolution_api_url, evolution_api_key: PRINCIPAL.evolution_api_key,
  }, 'claim_own_instance.instance');
  const replay = (await ok('claim_own_instance (replay)', 200, sdk.claimOwnInstance({ client: sender, body: claimBody }))).data;
  expect([replay.claim_id, replay.replayed, replay.granted], [claim.claim_id, true, 1], 'claim replay');

  const afterClaim = (await ok('instance_statistics (after claim)', 200, sdk.instanceStatistics({ client: admin, path: { tenant: tenantKey, id: principal.id } }))).data;
  expect([afterClaim.sent_today, afterClaim.remaining_today], [1, 1499], 'statistics after the claim');

  const release = (await ok('release_own_claim', 200, sdk.releaseOwnClaim({ client: sender, path: { claim_id: claim.claim_id }, body: { count: 1 } }))).data;
  expectFields(release, {
    claim_id: claim.claim_id, granted: 1, released: 1, given_back: 1, counted_before_reset: false,
    instance_id: principal.id, messages_sent_today: 0, remaining_quota: 1500,
  }, 'release_own_claim');
  const again = (await ok('release_own_claim (again)', 200, sdk.releaseOwnClaim({ client: sender, path: { claim_id: claim.claim_id }, body: { count: 1 } }))).data;
  expect([again.given_back, again.released, again.remaining_quota], [0, 1, 1500], 'second release');

  // A reset between a claim and its release: the release gives nothing back twice.
  const claim3 = (await ok('claim_own_instance (3)', 200, sdk.claimOwnInstance({
    client: sender, body: { count: 3, idempotency_key: 'campaign-42-msg-1002', strategy: 'most_remaining' },
  }))).data;
  expect([claim3.instance.id, claim3.granted, claim3.messages_sent_today, claim3.remaining_quota], [principal.id, 3, 3, 1497], 'claim of 3');
  const reset3 = (await ok('reset_counter (after the claim)', 200, sdk.resetCounter({ client: admin, path: { tenant: tenantKey, id: principal.id } }))).data;
  expect([reset3.messages_sent_today, reset3.remaining_quota], [0, 1500], 'reset_counter after the claim');
  const late = (await ok('release_own_claim (after a reset)', 200, sdk.releaseOwnClaim({ client: sender, path: { claim_id: claim3.claim_id }, body: {} }))).data;
  expectFields(late, { granted: 3, released: 3, given_back: 0, counted_before_reset: true, messages_sent_today: 0, remaining_quota: 1500 }, 'release after a reset');

  const history = (await ok('instance_statistics (history)', 200, sdk.instanceStatistics({ client: admin, path: { tenant: tenantKey, id: principal.id } }))).data.history;
  expect(need(history, 'statistics history').filter((h) => h.date === today).map((h) => [h.sent, h.released]), [[0, 4]], 'statistics history today');

  const revoked = await ok('delete_sender_token', 200, sdk.deleteSenderToken({ client: admin, path: { tenant: tenantKey, id: token.id } }));
  expect(revoked.message, 'Sender token revoked', 'delete_sender_token.message');
  await refused('claim_own_instance (revoked)', 401, sdk.claimOwnInstance({ client: sender, body: {} }));

  // 12. Delete (seed 001 section 7): the instance, then the tenant (409 while it has one).
  const deleted = await ok('delete_instance', 200, sdk.deleteInstance({ client: admin, path: { tenant: tenantKey, id: principal.id } }));
  expect(deleted.message, 'WhatsApp instance deleted successfully', 'delete_instance.message');
  const gone = await refused('show_instance (deleted)', 404, sdk.showInstance({ client: admin, path: { tenant: tenantKey, id: principal.id } }));
  expect(gone.error_key, 'whatsapp.instance_not_found', 'show_instance after delete');
  const busy = await refused('delete_tenant (with an instance)', 409, sdk.deleteTenant({ client: admin, path: { tenant: tenantKey } }));
  expect(busy.error_key, 'tenant.has_instances', 'delete_tenant with an instance');
  await ok('delete_user', 200, sdk.deleteUser({ client: admin, path: { id: user.id } }));
  const bye = await ok('delete_tenant', 200, sdk.deleteTenant({ client: admin, path: { tenant: tenantKey }, query: { force: true } }));
  expect(bye.message, 'Tenant deleted successfully', 'delete_tenant.message');
  const missing = await refused('show_tenant (deleted)', 404, sdk.showTenant({ client: admin, path: { tenant: tenantKey } }));
  expect(missing.error_key, 'tenant.not_found', 'show_tenant after delete');
}

function reportOptional(): void {
  const always = conformance.alwaysPresent();
  if (always.length === 0) return;
  const byLabel = new Map<string, string[]>();
  for (const key of always) {
    const dot = key.lastIndexOf('.');
    const label = key.slice(0, dot);
    byLabel.set(label, [...(byLabel.get(label) ?? []), key.slice(dot + 1)]);
  }
  console.log(`typescript: ${always.length} optional field(s) in ${byLabel.size} schema(s) were present in every answer seen (candidates for \`required\`):`);
  for (const [label, fields] of byLabel) console.log(`  ${label}: ${fields.join(', ')}`);
}

try {
  await scenario();
  reportOptional();
  console.log(`typescript: seed 001 scenario passed (${calls} calls, ${conformance.responses} answers checked against the document)`);
} catch (error) {
  const message = error instanceof ScenarioFailure ? error.message : String((error as Error)?.stack ?? error);
  console.error(`typescript: FAILED after ${calls} call(s): ${message}`);
  process.exitCode = 1;
}
