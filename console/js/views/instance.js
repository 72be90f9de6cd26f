// One instance: its live status, today's counter, the QR code to pair it (redrawn when a
// new one arrives, until the number is paired), the lifecycle actions and its history.
// Tenant users see it read-only, without the QR or the actions.

import { api } from "../api.js";
import { historyChart } from "../chart.js";
import {
  capacityBar, confirmAction, errorBox, field, form, h, replace, section, statusBadge, toast,
  updateCapacityBar, updateStatusBadge,
} from "../dom.js";
import { formatDateTime, formatNumber, t } from "../i18n.js";
import { qrImage } from "../qr.js";

/** A QR code unchanged for this long is replaced by asking Evolution for a fresh one. */
const QR_STALE_MS = 60000;
/** How many fresh QR codes the page asks for by itself before it waits for a click. */
const QR_AUTO_REFRESHES = 5;
/** Every how many polls the page asks Evolution itself for the state (when no webhook tells). */
const LIVE_STATE_EVERY = 5;

export async function render(ctx) {
  const id = Number(ctx.params.instance);
  const tenantId = ctx.readOnly ? ctx.user.tenant_id : Number(ctx.params.tenant);
  const base = ctx.readOnly ? `/api/v1/tenant/whatsapp-instances/${id}` : `/api/v1/tenants/${tenantId}/whatsapp-instances/${id}`;
  const [shown, statistics] = await Promise.all([api("GET", base), api("GET", `${base}/statistics`)]);
  let instance = shown.data;
  ctx.title(instance.instance_name);

  const badge = statusBadge(instance.connection_status, instance.status_reason);
  const bar = capacityBar(instance.messages_sent_today, instance.daily_message_limit, t("capacity.of_instance", { name: instance.instance_name }));
  const facts = h("dl", { class: "facts" });
  const history = h("div", {});
  let historyKey = "";
  const drawHistory = (days) => {
    const key = JSON.stringify(days);
    if (key !== historyKey) {
      historyKey = key;
      replace(history, historyChart(days));
    }
  };
  drawHistory(statistics.data.history);
  const pairing = ctx.readOnly ? null : pairingPanel(ctx, base, () => instance);
  const actions = ctx.readOnly ? null : actionBar(ctx, base, tenantId, () => instance, (fresh) => show(fresh), pairing);

  const show = (fresh) => {
    instance = { ...instance, ...fresh };
    updateStatusBadge(badge, instance.connection_status, instance.status_reason);
    updateCapacityBar(bar, instance.messages_sent_today, instance.daily_message_limit, t("capacity.of_instance", { name: instance.instance_name }));
    replace(facts, factsOf(instance, ctx).map(([name, value]) => h("div", {}, h("dt", {}, name), h("dd", {}, value))));
    if (actions) actions.update(instance);
    if (pairing) pairing.update(instance);
  };

  const backLink = ctx.readOnly ? h("a", { href: "#/my" }, t("instance.back_my")) : h("a", { href: `#/tenants/${tenantId}` }, t("instance.back", { name: instance.tenant ? instance.tenant.nombre : tenantId }));
  replace(ctx.main,
    h("p", { class: "breadcrumb" }, backLink),
    h("h1", {}, instance.instance_name, " ", badge),
    ctx.live,
    actions ? actions.element : h("p", { class: "note" }, t("tenant.read_only")),
    pairing ? section(t("pairing.title"), pairing.element) : null,
    section(t("instance.facts"), facts),
    section(t("capacity.today"), bar),
    section(t("history.title"), history),
    ctx.readOnly ? null : section(t("edit.title"), editForm(base, () => instance, show)));
  show(instance);

  let polls = 0;
  ctx.every(async () => {
    polls += 1;
    const waiting = instance.connection_status !== "connected";
    if (!ctx.readOnly && waiting && instance.provisioned && polls % LIVE_STATE_EVERY === 0) {
      // Asks Evolution itself, for servers whose webhooks do not reach Relevo.
      show((await api("GET", `${base}/connection-state`)).data);
    } else {
      show((await api("GET", base)).data);
    }
    if (pairing && instance.connection_status !== "connected") await pairing.poll();
    if (polls % LIVE_STATE_EVERY === 0) drawHistory((await api("GET", `${base}/statistics`)).data.history);
  });
  if (pairing && instance.connection_status !== "connected") await pairing.poll();
}

function factsOf(instance, ctx) {
  const facts = [
    [t("field.phone_number"), instance.phone_number || "—"],
    [t("instance.profile_name"), instance.profile_name],
    [t("instance.owner_jid"), instance.owner_jid],
    [t("instances.active"), instance.is_active ? t("yes") : t("no")],
    [t("instances.can_send"), instance.can_send_messages ? t("yes") : t("no")],
    [t("field.daily_message_limit"), formatNumber(instance.daily_message_limit)],
    [t("instance.remaining"), formatNumber(instance.remaining_quota)],
    [t("field.priority"), formatNumber(instance.priority)],
    [t("instance.connected_at"), instance.connected_at && formatDateTime(instance.connected_at)],
    [t("instance.last_checked_at"), instance.last_checked_at && formatDateTime(instance.last_checked_at)],
    [t("instance.last_used_at"), instance.last_used_at && formatDateTime(instance.last_used_at)],
    [t("field.evolution_api_url"), instance.evolution_api_url || (ctx.readOnly ? null : t("provision.default_server"))],
    [t("instance.provisioned"), instance.provisioned ? t("yes") : t("no")],
    [t("field.notes"), instance.notes],
  ];
  return facts.filter(([, value]) => value !== null && value !== undefined && value !== "");
}

/** The QR code (or pairing code) to scan, redrawn as new ones arrive, until paired. */
function pairingPanel(ctx, base, current) {
  const element = h("div", { class: "pairing", "aria-live": "polite" });
  let shownCode = null;
  let codeSince = Date.now();
  let autoRefreshes = 0;
  let lastQr = null;
  let state = null;

  const draw = (qr) => {
    lastQr = qr;
    const instance = current();
    if (instance.connection_status === "connected") {
      if (state === "paired") return;
      state = "paired";
      replace(element, h("p", { class: "paired", role: "status" }, "✓ ", t("pairing.paired", { name: [instance.profile_name, instance.phone_number].filter(Boolean).join(" · ") || instance.instance_name })));
      return;
    }
    const code = qr ? `${qr.code || ""}|${qr.base64 || ""}|${qr.pairing_code || ""}` : "";
    if (state === "waiting" && code === shownCode) return;
    state = "waiting";
    if (code !== shownCode) {
      shownCode = code;
      codeSince = Date.now();
    }
    const image = qrImage(qr, instance.instance_name);
    replace(element,
      image ? h("div", { class: "qr-frame" }, image) : h("p", { class: "no-qr" }, t("pairing.no_qr")),
      qr && qr.pairing_code ? h("p", { class: "pairing-code" }, t("pairing.code"), " ", h("strong", {}, qr.pairing_code)) : null,
      h("ol", { class: "steps" }, h("li", {}, t("pairing.step1")), h("li", {}, t("pairing.step2")), h("li", {}, t("pairing.step3"))),
      h("p", { class: "hint" }, autoRefreshes >= QR_AUTO_REFRESHES ? t("pairing.expired") : t("pairing.refreshes")));
  };

  return {
    element,
    update(instance) {
      if (instance.connection_status === "connected") draw(null);
      else if (state === "paired") {
        state = null;
        draw(lastQr);
      }
    },
    show(qr) {
      autoRefreshes = 0;
      draw(qr);
    },
    async poll() {
      const qr = (await api("GET", `${base}/qr`)).data.qr_code;
      draw(qr);
      const stale = Date.now() - codeSince > QR_STALE_MS;
      if (stale && state === "waiting" && autoRefreshes < QR_AUTO_REFRESHES && current().provisioned) {
        autoRefreshes += 1;
        codeSince = Date.now();
        draw((await api("POST", `${base}/connect`, {})).data.qr_code);
      }
    },
  };
}

/** Connect, logout, restart, toggle, reset and delete. */
function actionBar(ctx, base, tenantId, current, show, pairing) {
  const result = h("div", { class: "action-result" });
  const run = async (button, call) => {
    button.disabled = true;
    replace(result);
    try {
      await call();
    } catch (error) {
      replace(result, errorBox(error));
    } finally {
      button.disabled = false;
    }
  };
  const button = (label, className, onclick) => {
    const element = h("button", { type: "button", class: className }, label);
    element.addEventListener("click", () => onclick(element));
    return element;
  };
  const withQr = (answer, done) => {
    show(answer.data);
    toast(done);
    if (answer.data.qr_code) pairing.show(answer.data.qr_code);
  };
  const connect = button(t("action.connect"), "", (self) => run(self, async () => withQr(await api("POST", `${base}/connect`, {}), t("instance.connect_done"))));
  const logout = button(t("action.logout"), "secondary", async (self) => {
    if (!(await confirmAction(t("instance.logout_confirm", { name: current().instance_name }), t("action.logout")))) return;
    await run(self, async () => {
      show((await api("POST", `${base}/logout`)).data);
      toast(t("instance.logout_done"));
    });
  });
  const restart = button(t("action.restart"), "secondary", (self) => run(self, async () => withQr(await api("POST", `${base}/restart`), t("instance.restart_done"))));
  const toggle = button("", "secondary", (self) => run(self, async () => {
    const answer = await api("POST", `${base}/toggle-active`);
    show(answer.data);
    toast(answer.data.is_active ? t("instance.activated") : t("instance.deactivated"));
  }));
  const reset = button(t("action.reset"), "secondary", async (self) => {
    if (!(await confirmAction(t("instance.reset_confirm", { name: current().instance_name }), t("action.reset")))) return;
    await run(self, async () => {
      show((await api("POST", `${base}/reset-counter`)).data);
      toast(t("instance.reset_done"));
    });
  });
  const remove = button(t("action.delete"), "danger", async (self) => {
    if (!(await confirmAction(t("instance.delete_confirm", { name: current().instance_name }), t("action.delete")))) return;
    await run(self, async () => {
      try {
        await api("DELETE", base);
        toast(t("instance.deleted", { name: current().instance_name }));
        location.hash = `#/tenants/${tenantId}`;
      } catch (error) {
        if (error.status < 502 || error.status > 504) throw error;
        // Evolution could not delete it: offer to delete it from Relevo only.
        const force = button(t("instance.delete_force"), "danger", async (forceButton) => {
          if (!(await confirmAction(t("instance.delete_force_confirm", { name: current().instance_name }), t("action.delete")))) return;
          await run(forceButton, async () => {
            await api("DELETE", `${base}?force=true`);
            toast(t("instance.deleted", { name: current().instance_name }));
            location.hash = `#/tenants/${tenantId}`;
          });
        });
        replace(result, errorBox(error), force);
      }
    });
  });
  const pairingCode = form("pairing-code", [
    field(t("field.phone_number"), "phone_number", { type: "tel", required: true, hint: t("pairing.phone_hint") }),
  ], t("pairing.ask_code"), async (values) => withQr(await api("POST", `${base}/connect`, values), t("instance.code_done")));
  const element = h("div", { class: "toolbar" },
    h("div", { class: "buttons" }, connect, logout, restart, toggle, reset, remove),
    h("details", { class: "pairing-code-form" }, h("summary", {}, t("pairing.with_code")), pairingCode),
    result);
  return {
    element,
    update(instance) {
      toggle.textContent = instance.is_active ? t("action.deactivate") : t("action.activate");
    },
  };
}

function editForm(base, current, show) {
  const instance = current();
  return form("edit-instance", [
    field(t("field.daily_message_limit"), "daily_message_limit", { type: "number", min: 1, max: 100000, value: instance.daily_message_limit }),
    field(t("field.priority"), "priority", { type: "number", value: instance.priority, hint: t("edit.priority_hint") }),
    field(t("field.notes"), "notes", { type: "textarea", value: instance.notes, maxlength: 1000 }),
  ], t("action.save"), async (values) => {
    const body = { ...values, notes: values.notes ?? null };
    const answer = await api("PUT", base, body);
    show(answer.data);
    toast(t("edit.saved"));
  });
}
