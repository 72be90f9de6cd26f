// One tenant: today's capacity as bars, the 30-day history chart, its instances with live
// status, and (super admins) provisioning, sender tokens and the webhook delivery log.
// Tenant users see their own tenant here, read-only.

import { api, listAll } from "../api.js";
import { historyChart } from "../chart.js";
import {
  capacityBar, confirmAction, errorBox, field, form, h, pager, replace, section, showSecretOnce,
  statusBadge, table, toast, updateCapacityBar, updateStatusBadge,
} from "../dom.js";
import { formatDateTime, formatNumber, t } from "../i18n.js";

export async function render(ctx) {
  const tenantId = ctx.readOnly ? ctx.user.tenant_id : Number(ctx.params.tenant);
  const base = `/api/v1/tenants/${tenantId}`;
  const [detail, statistics] = await Promise.all([api("GET", base), api("GET", `${base}/statistics`)]);
  const tenant = detail.data;
  ctx.title(tenant.nombre);

  const capacity = capacitySection(statistics.data);
  const history = h("div", {});
  let historyKey = "";
  const drawHistory = (days) => {
    const key = JSON.stringify(days);
    if (key === historyKey) return;
    historyKey = key;
    replace(history, historyChart(days));
  };
  drawHistory(statistics.data.history);
  const instances = instancesTable(ctx, tenantId);
  instances.update(tenant.whatsapp_instances);

  replace(ctx.main,
    h("h1", {}, tenant.nombre),
    tenantFacts(tenant),
    ctx.live,
    ctx.readOnly ? h("p", { class: "note" }, t("tenant.read_only")) : tenantActions(tenant),
    section(t("capacity.today"), capacity.element),
    section(t("history.title"), history),
    section(t("instances.title"), instances.element),
    ctx.readOnly ? null : section(t("provision.title"), await provisionForm(ctx, tenantId)),
    ctx.readOnly ? null : section(t("register.title"), registerForm(tenantId)),
    ctx.readOnly ? null : section(t("tokens.title"), await senderTokens(tenantId)),
    ctx.readOnly ? null : section(t("deliveries.title"), await deliveries(tenantId)));

  ctx.every(async () => {
    const [fresh, freshStatistics] = await Promise.all([api("GET", base), api("GET", `${base}/statistics`)]);
    instances.update(fresh.data.whatsapp_instances);
    capacity.update(freshStatistics.data, fresh.data.whatsapp_instances);
    drawHistory(freshStatistics.data.history);
  });
  capacity.update(statistics.data, tenant.whatsapp_instances);
}

function tenantFacts(tenant) {
  const facts = [
    [t("field.slug"), tenant.slug],
    [t("field.timezone"), tenant.timezone],
    [t("field.rotation_strategy"), t(`strategy.${tenant.rotation_strategy}`)],
    [t("field.tipo_cargo"), tenant.tipo_cargo],
    [t("field.identificacion"), tenant.identificacion],
    [t("field.callback_url"), tenant.callback_url],
  ].filter(([, value]) => value);
  const credits = tenant.messaging_credits && tenant.messaging_credits.whatsapp;
  if (credits) facts.push([t("tenant.whatsapp_credits"), t("tenant.credits_value", { available: formatNumber(credits.available), used: formatNumber(credits.used) })]);
  return h("dl", { class: "facts" }, facts.map(([name, value]) => h("div", {}, h("dt", {}, name), h("dd", {}, value))));
}

function tenantActions(tenant) {
  const result = h("div", { class: "action-result" });
  const sync = h("button", { type: "button", class: "secondary" }, t("tenant.sync"));
  sync.addEventListener("click", async () => {
    sync.disabled = true;
    replace(result);
    try {
      const report = (await api("POST", `/api/v1/tenants/${tenant.id}/whatsapp-instances/sync`)).data;
      toast(t("tenant.sync_done", { synced: report.synced, updated: report.updated, orphaned: report.orphaned }));
      if (report.errors.length) replace(result, h("ul", { class: "error" }, report.errors.map((failure) => h("li", {}, `${failure.instance_name || "—"}: ${failure.error}`))));
    } catch (error) {
      replace(result, errorBox(error));
    } finally {
      sync.disabled = false;
    }
  });
  const remove = h("button", { type: "button", class: "danger" }, t("tenant.delete"));
  remove.addEventListener("click", async () => {
    if (!(await confirmAction(t("tenant.delete_confirm", { name: tenant.nombre }), t("action.delete")))) return;
    replace(result);
    try {
      await api("DELETE", `/api/v1/tenants/${tenant.id}`);
      toast(t("tenant.deleted", { name: tenant.nombre }));
      location.hash = "#/tenants";
    } catch (error) {
      replace(result, errorBox(error));
    }
  });
  return h("div", { class: "toolbar" }, h("div", { class: "buttons" }, sync, remove), result);
}

/** The total bar and one bar per instance; `update` moves them. */
function capacitySection(statistics) {
  const total = capacityBar(statistics.sent_today, statistics.daily_limit, t("capacity.total"));
  const summary = h("p", { class: "capacity-summary" });
  const perInstance = h("ul", { class: "capacity-list" });
  const bars = new Map();
  const element = h("div", {}, h("div", { class: "capacity-total" }, h("span", { class: "bar-label" }, t("capacity.total")), total), summary, perInstance);
  return {
    element,
    update(fresh, instances) {
      updateCapacityBar(total, fresh.sent_today, fresh.daily_limit, t("capacity.total"));
      summary.textContent = t("capacity.summary", {
        remaining: formatNumber(fresh.remaining_today),
        available: formatNumber(fresh.available_instances_count),
        total: formatNumber(fresh.instances_count),
        percentage: formatNumber(fresh.usage_percentage),
      });
      const ids = instances.map((instance) => instance.id).join(",");
      if (perInstance.dataset.ids !== ids) {
        perInstance.dataset.ids = ids;
        bars.clear();
        replace(perInstance, instances.map((instance) => {
          const label = h("span", { class: "bar-label" }, instance.instance_name);
          const bar = capacityBar(0, 0, "");
          bars.set(instance.id, bar);
          return h("li", { dataset: { instanceId: instance.id } }, label, bar);
        }));
        if (!instances.length) replace(perInstance, h("li", { class: "empty" }, t("instances.empty")));
      }
      for (const instance of instances) {
        const bar = bars.get(instance.id);
        if (bar) updateCapacityBar(bar, instance.messages_sent_today, instance.daily_message_limit, t("capacity.of_instance", { name: instance.instance_name }));
      }
    },
  };
}

/** The tenant's instances; rows are kept and changed in place so focus is never lost. */
export function instancesTable(ctx, tenantId) {
  const element = h("div", { class: "instances" });
  const rows = new Map();
  const link = (instance) => (ctx.readOnly ? `#/my/instances/${instance.id}` : `#/tenants/${tenantId ?? instance.tenant_id}/instances/${instance.id}`);
  const headers = [t("field.instance_name"), t("field.phone_number"), t("instances.status"), t("capacity.today"), t("instances.active"), t("instances.can_send")];
  return {
    element,
    update(instances) {
      const ids = instances.map((instance) => instance.id).join(",");
      if (element.dataset.ids !== ids) {
        element.dataset.ids = ids;
        rows.clear();
        const built = instances.map((instance) => {
          const cells = {
            badge: statusBadge(instance.connection_status, instance.status_reason),
            bar: capacityBar(0, 0, ""),
            phone: h("td", {}),
            active: h("td", {}),
            canSend: h("td", {}),
          };
          rows.set(instance.id, cells);
          return h("tr", { dataset: { instanceId: instance.id } },
            h("th", { scope: "row" }, h("a", { href: link(instance) }, instance.instance_name)),
            cells.phone, h("td", {}, cells.badge), h("td", {}, cells.bar), cells.active, cells.canSend);
        });
        replace(element, table(t("instances.title"), headers, built, t("instances.empty")));
      }
      for (const instance of instances) {
        const cells = rows.get(instance.id);
        updateStatusBadge(cells.badge, instance.connection_status, instance.status_reason);
        updateCapacityBar(cells.bar, instance.messages_sent_today, instance.daily_message_limit, t("capacity.of_instance", { name: instance.instance_name }));
        cells.phone.textContent = instance.phone_number || "—";
        cells.active.textContent = instance.is_active ? t("yes") : t("no");
        cells.canSend.textContent = instance.can_send_messages ? t("yes") : t("no");
      }
    },
  };
}

async function provisionForm(ctx, tenantId) {
  const servers = await listAll("/api/v1/evolution-servers").catch(() => []);
  return form("provision", [
    h("p", { class: "hint" }, t("provision.intro")),
    field(t("field.instance_name"), "instance_name", { hint: t("provision.name_hint"), maxlength: 50 }),
    field(t("field.phone_number"), "phone_number", { type: "tel", hint: t("provision.phone_hint"), autocomplete: "off" }),
    field(t("field.daily_message_limit"), "daily_message_limit", { type: "number", min: 1, max: 100000, hint: t("provision.limit_hint") }),
    field(t("field.evolution_server_id"), "evolution_server_id", {
      options: [["", t("provision.default_server")], ...servers.map((server) => [server.id, `${server.name}${server.is_default ? ` (${t("servers.default")})` : ""}`])],
    }),
    field(t("field.notes"), "notes", { type: "textarea", maxlength: 1000 }),
  ], t("provision.submit"), async (values) => {
    if (values.evolution_server_id) values.evolution_server_id = Number(values.evolution_server_id);
    const answer = await api("POST", `/api/v1/tenants/${tenantId}/whatsapp-instances/provision`, values);
    toast(t("provision.done"));
    if (!ctx.disposed) location.hash = `#/tenants/${tenantId}/instances/${answer.data.id}`;
  });
}

function registerForm(tenantId) {
  const registration = form("register", [
    field(t("field.phone_number"), "phone_number", { type: "tel", required: true }),
    field(t("field.instance_name"), "instance_name", { required: true, maxlength: 50 }),
    field(t("field.evolution_api_key"), "evolution_api_key", { required: true, autocomplete: "off" }),
    field(t("field.evolution_api_url"), "evolution_api_url", { type: "url", hint: t("register.url_hint") }),
    field(t("field.daily_message_limit"), "daily_message_limit", { type: "number", min: 1, max: 100000, required: true }),
    field(t("field.notes"), "notes", { type: "textarea", maxlength: 1000 }),
  ], t("register.submit"), async (values, element) => {
    await api("POST", `/api/v1/tenants/${tenantId}/whatsapp-instances`, values);
    toast(t("register.done"));
    element.reset();
  });
  return h("details", {}, h("summary", {}, t("register.summary")), registration);
}

async function senderTokens(tenantId) {
  const path = `/api/v1/tenants/${tenantId}/sender-tokens`;
  const list = h("div", { class: "tokens" });
  let page = 1;
  const load = async () => {
    const answer = await api("GET", `${path}?page=${page}`);
    const rows = answer.data.map((token) => {
      const revoke = h("button", { type: "button", class: "danger small" }, t("tokens.revoke"));
      revoke.addEventListener("click", async () => {
        if (!(await confirmAction(t("tokens.revoke_confirm", { name: token.name }), t("tokens.revoke")))) return;
        try {
          await api("DELETE", `${path}/${token.id}`);
          toast(t("tokens.revoked", { name: token.name }));
          await load();
        } catch (error) {
          replace(list, errorBox(error));
        }
      });
      return [token.name, formatDateTime(token.created_at), token.expires_at ? formatDateTime(token.expires_at) : t("tokens.never"), revoke];
    });
    replace(list,
      table(t("tokens.title"), [t("field.name"), t("tokens.created"), t("tokens.expires"), t("actions")], rows, t("tokens.empty")),
      pager(answer.meta, (next) => {
        page = next;
        load().catch((error) => replace(list, errorBox(error)));
      }));
  };
  await load();
  const issue = form("issue-token", [
    field(t("field.name"), "name", { required: true, maxlength: 100, hint: t("tokens.name_hint") }),
    field(t("field.expires_in_days"), "expires_in_days", { type: "number", min: 1, hint: t("tokens.expiry_hint") }),
  ], t("tokens.issue"), async (values, element) => {
    const answer = await api("POST", path, values);
    element.reset();
    await showSecretOnce(t("tokens.token_title", { name: answer.data.name }), t("tokens.shown_once"), answer.data.token);
    page = 1;
    await load();
  });
  return h("div", {}, list, issue);
}

async function deliveries(tenantId) {
  const path = `/api/v1/tenants/${tenantId}/webhook-deliveries`;
  const list = h("div", { class: "deliveries" });
  let page = 1;
  const status = field(t("deliveries.status"), "status", {
    options: [["", t("deliveries.any")], ...["pending", "delivered", "failed"].map((name) => [name, t(`delivery.${name}`)])],
  });
  const refresh = h("button", { type: "button", class: "secondary" }, t("action.refresh"));
  const load = async () => {
    const filter = status.querySelector("select").value;
    const answer = await api("GET", `${path}?page=${page}${filter ? `&status=${filter}` : ""}`);
    const rows = answer.data.map((delivery) => {
      const replay = h("button", { type: "button", class: "small" }, t("deliveries.replay"));
      replay.addEventListener("click", async () => {
        replay.disabled = true;
        try {
          await api("POST", `${path}/${delivery.id}/replay`);
          toast(t("deliveries.replayed"));
          await load();
        } catch (error) {
          replace(list, errorBox(error));
        }
      });
      const cells = [
        formatDateTime(delivery.created_at),
        t(`event.${delivery.type}`, {}, delivery.type),
        h("span", { class: `delivery delivery-${delivery.status}`, dataset: { status: delivery.status } }, t(`delivery.${delivery.status}`)),
        `${delivery.attempts} / ${delivery.max_attempts}`,
        delivery.last_status_code ?? "—",
        delivery.last_error || "—",
        delivery.next_attempt_at ? formatDateTime(delivery.next_attempt_at) : "—",
        replay,
      ];
      return h("tr", { dataset: { eventId: delivery.id } }, cells.map((cell) => h("td", {}, cell)));
    });
    replace(list,
      table(t("deliveries.title"), [t("deliveries.created"), t("deliveries.type"), t("deliveries.status"), t("deliveries.attempts"), t("deliveries.last_status"), t("deliveries.last_error"), t("deliveries.next_attempt"), t("actions")], rows, t("deliveries.empty")),
      pager(answer.meta, (next) => {
        page = next;
        load().catch((error) => replace(list, errorBox(error)));
      }));
  };
  const reload = () => {
    page = 1;
    load().catch((error) => replace(list, errorBox(error)));
  };
  status.querySelector("select").addEventListener("change", reload);
  refresh.addEventListener("click", reload);
  await load();
  return h("div", { class: "delivery-log" }, h("div", { class: "filters" }, status, refresh), list);
}
