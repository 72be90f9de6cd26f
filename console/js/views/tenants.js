// Every tenant with today's capacity (sent / limit over its active instances), and the
// form that creates one.

import { api } from "../api.js";
import { capacityBar, errorBox, field, form, h, pager, replace, section, showSecretOnce, table, toast, updateCapacityBar } from "../dom.js";
import { formatNumber, t } from "../i18n.js";

export const STRATEGIES = ["round_robin", "least_used", "most_remaining", "priority"];

export async function render(ctx) {
  ctx.title(t("tenants.title"));
  const list = h("div", { class: "tenant-list" });
  let page = 1;
  const bars = new Map();

  async function load() {
    const answer = await api("GET", `/api/v1/tenants?page=${page}`);
    bars.clear();
    const rows = answer.data.map((tenant) => {
      const bar = capacityBar(0, 0, t("capacity.of_tenant", { name: tenant.nombre }));
      const available = h("span", { class: "available" }, "…");
      bars.set(tenant.id, { bar, available, name: tenant.nombre });
      return [
        h("a", { href: `#/tenants/${tenant.id}` }, tenant.nombre),
        h("code", {}, tenant.slug),
        tenant.timezone,
        bar,
        available,
      ];
    });
    replace(list,
      table(t("tenants.title"), [t("field.nombre"), t("field.slug"), t("field.timezone"), t("capacity.today"), t("tenants.available")], rows, t("tenants.empty")),
      pager(answer.meta, (next) => {
        page = next;
        load().catch((error) => replace(list, errorBox(error)));
      }));
    await refreshCapacity();
  }

  async function refreshCapacity() {
    await Promise.all([...bars.entries()].map(async ([id, { bar, available, name }]) => {
      const statistics = (await api("GET", `/api/v1/tenants/${id}/statistics`)).data;
      updateCapacityBar(bar, statistics.sent_today, statistics.daily_limit, t("capacity.of_tenant", { name }));
      available.textContent = t("tenants.available_of", { available: formatNumber(statistics.available_instances_count), total: formatNumber(statistics.instances_count) });
    }));
  }

  const createForm = form("create-tenant", [
    field(t("field.nombre"), "nombre", { required: true, maxlength: 255 }),
    field(t("field.slug"), "slug", { hint: t("tenants.slug_hint"), pattern: "[a-z0-9-]+" }),
    field(t("field.tipo_cargo"), "tipo_cargo"),
    field(t("field.identificacion"), "identificacion"),
    field(t("field.timezone"), "timezone", { list: "timezones", hint: t("tenants.timezone_hint") }),
    field(t("field.rotation_strategy"), "rotation_strategy", { options: [["", t("tenants.strategy_default")], ...STRATEGIES.map((name) => [name, t(`strategy.${name}`)])] }),
    field(t("field.callback_url"), "callback_url", { type: "url", hint: t("tenants.callback_hint") }),
    h("datalist", { id: "timezones" }, timeZones().map((zone) => h("option", { value: zone }))),
  ], t("tenants.create"), async (values) => {
    const answer = await api("POST", "/api/v1/tenants", values);
    toast(t("tenants.created", { name: answer.data.nombre }));
    if (answer.data.callback_secret) {
      await showSecretOnce(t("tenants.callback_secret"), t("tenants.callback_secret_once"), answer.data.callback_secret);
    }
    location.hash = `#/tenants/${answer.data.id}`;
  });

  replace(ctx.main,
    h("h1", {}, t("tenants.title")), ctx.live,
    section(t("tenants.all"), list),
    section(t("tenants.new"), createForm));
  await load();
  ctx.every(refreshCapacity, 5000);
}

function timeZones() {
  try {
    return Intl.supportedValuesOf("timeZone");
  } catch {
    return ["UTC"];
  }
}
