// Draws a WhatsApp QR code as an image from the instance's raw `qr_code.code` text, with
// the vendored qrcode-generator; Evolution's `base64` PNG is the fallback when there is
// no raw code.

import qrcode from "../vendor/qrcode.mjs";
import { h } from "./dom.js";
import { t } from "./i18n.js";

/** An <img> of the QR code, or null when `qr` holds none. */
export function qrImage(qr, instanceName) {
  const alt = t("qr.alt", { name: instanceName });
  if (qr && qr.code) {
    const code = qrcode(0, "M");
    code.addData(qr.code);
    code.make();
    return h("img", { class: "qr", src: code.createDataURL(6, 24), alt, width: 264, height: 264, dataset: { source: "code" } });
  }
  if (qr && qr.base64 && qr.base64.startsWith("data:image/")) {
    return h("img", { class: "qr", src: qr.base64, alt, width: 264, height: 264, dataset: { source: "base64" } });
  }
  return null;
}
