// The 30-day send history as a chart (the vendored uPlot) and, for screen readers and
// anyone who wants the figures, the same days as a table.

import { h, table } from "./dom.js";
import { formatDate, formatNumber, t } from "./i18n.js";

/** A chart of `history` ([{date, sent, released}], oldest first) that follows its width. */
export function historyChart(history) {
  const uPlot = globalThis.uPlot;
  const plot = h("div", { class: "chart", role: "img", "aria-label": chartLabel(history) });
  const days = history.map((day) => {
    const [year, month, date] = day.date.split("-").map(Number);
    return Date.UTC(year, month - 1, date) / 1000;
  });
  const data = [days, history.map((day) => day.sent), history.map((day) => day.released)];
  const details = h("details", { class: "chart-table" },
    h("summary", {}, t("history.as_table")),
    table(t("history.title"), [t("history.date"), t("history.sent"), t("history.released")],
      history.slice().reverse().map((day) => [formatDate(day.date), formatNumber(day.sent), formatNumber(day.released)]), t("history.empty")));
  const wrapper = h("div", { class: "history" }, plot, details);
  if (!uPlot) return wrapper;
  let chart = null;
  const draw = () => {
    const width = Math.max(plot.clientWidth, 260);
    if (chart) {
      chart.setSize({ width, height: 220 });
      return;
    }
    chart = new uPlot({
      width,
      height: 220,
      tzDate: (seconds) => uPlot.tzDate(new Date(seconds * 1000), "UTC"),
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      // Half a day either side, so the first and last days' bars are whole.
      scales: { x: { time: true, range: (_, min, max) => [min - 43200, max + 43200] }, y: { range: (_, min, max) => [0, Math.max(max, 1)] } },
      axes: [{}, { values: (_, ticks) => ticks.map((tick) => formatNumber(tick)) }],
      series: [
        { label: t("history.date"), value: (_, seconds) => (seconds == null ? "" : formatDate(new Date(seconds * 1000).toISOString().slice(0, 10))) },
        { label: t("history.sent"), stroke: "#1f6f54", fill: "rgba(31,111,84,0.35)", paths: uPlot.paths.bars({ size: [0.7, 40] }), points: { show: false } },
        { label: t("history.released"), stroke: "#b4541b", width: 2 },
      ],
    }, data, plot);
  };
  const observer = new ResizeObserver(() => {
    if (plot.isConnected) draw();
    else if (chart) observer.disconnect();
  });
  observer.observe(plot);
  return wrapper;
}

function chartLabel(history) {
  const sent = history.reduce((sum, day) => sum + day.sent, 0);
  const released = history.reduce((sum, day) => sum + day.released, 0);
  return t("history.summary", { days: history.length, sent: formatNumber(sent), released: formatNumber(released) });
}
