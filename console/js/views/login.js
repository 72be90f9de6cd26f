// Log in with email and password (POST /api/v1/auth/login); the token stays in
// sessionStorage for this tab only.

import { login } from "../api.js";
import { field, form, h, replace } from "../dom.js";
import { t } from "../i18n.js";

export async function render(ctx) {
  ctx.title(t("login.title"));
  const loginForm = form("login", [
    field(t("field.email"), "email", { type: "email", required: true, autocomplete: "username" }),
    field(t("field.password"), "password", { type: "password", required: true, autocomplete: "current-password" }),
  ], t("login.submit"), async (values) => {
    const { user } = await login(values.email || "", values.password || "");
    location.hash = user.role === "super_admin" ? "#/tenants" : "#/my";
  });
  replace(ctx.main, h("div", { class: "login-card" }, h("h1", {}, t("login.title")), h("p", {}, t("login.intro")), loginForm));
  loginForm.querySelector("input").focus();
}
