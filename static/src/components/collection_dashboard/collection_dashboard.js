import { Component, onWillStart, useState } from "@odoo/owl";
import { deserializeDate, formatDate } from "@web/core/l10n/dates";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { KeepLast } from "@web/core/utils/concurrency";
import { useService } from "@web/core/utils/hooks";
import { useSetupAction } from "@web/search/action_hook";
import { Layout } from "@web/search/layout";
import { formatFloat, formatMonetary } from "@web/views/fields/formatters";
import { standardActionServiceProps } from "@web/webclient/actions/action_service";

/**
 * The Collections dashboard, landing page of the Collections app: KPI cards with their
 * trend against the previous period, the customers to work, the aging of the open
 * receivables, the promises due this week and the customers who owe the most. Every
 * figure comes from `collection.dashboard.get_dashboard_data` with the action opening
 * the records behind it.
 */
export class CollectionDashboard extends Component {
    static template = "account_collection.CollectionDashboard";
    static components = { Layout };
    static props = { ...standardActionServiceProps };

    setup() {
        this.orm = useService("orm");
        this.actionService = useService("action");
        this.keepLast = new KeepLast();
        this.periods = [
            { key: "month", label: _t("This Month") },
            { key: "last_30_days", label: _t("Last 30 Days") },
            { key: "quarter", label: _t("This Quarter") },
            { key: "year", label: _t("This Year") },
        ];
        this.state = useState({
            // Back from a card's records, the dashboard keeps the period it had.
            // The last 30 days by default: a month of figures even on the 1st of a month.
            period: this.props.state?.period || "last_30_days",
            data: null,
        });
        useSetupAction({ getLocalState: () => ({ period: this.state.period }) });
        onWillStart(() => this.load());
    }

    async load() {
        this.state.data = await this.keepLast.add(
            this.orm.call("collection.dashboard", "get_dashboard_data", [this.state.period])
        );
    }

    async selectPeriod(period) {
        if (period !== this.state.period) {
            this.state.period = period;
            await this.load();
        }
    }

    open(action) {
        return this.actionService.doAction(action);
    }

    // Formatting ----------------------------------------------------------------

    get data() {
        return this.state.data;
    }

    get display() {
        return { controlPanel: {} };
    }

    monetary(value) {
        return formatMonetary(value || 0, { currencyId: this.data.currency_id });
    }

    date(value) {
        return formatDate(deserializeDate(value));
    }

    get periodRange() {
        return _t("%(from)s to %(to)s", {
            from: this.date(this.data.date_from),
            to: this.date(this.data.date_to),
        });
    }

    kpiValue(kpi, value) {
        if (value === null || value === undefined || value === false) {
            return "–";
        }
        switch (kpi.format) {
            case "monetary":
                return this.monetary(value);
            case "percent":
                return `${formatFloat(value, { digits: [16, 1] })}%`;
            case "days":
                return _t("%(days)s days", { days: formatFloat(value, { digits: [16, 1] }) });
            default:
                return formatFloat(value, { digits: [16, 0] });
        }
    }

    /** Whether the KPI moved the right way: green when better, red when worse. */
    trendClass(kpi) {
        if (!kpi.trend || kpi.trend === "flat") {
            return "text-muted";
        }
        const better = (kpi.trend === "up") === kpi.higher_is_better;
        return better ? "text-success" : "text-danger";
    }

    trendIcon(kpi) {
        return {
            up: "fa-arrow-up",
            down: "fa-arrow-down",
            flat: "fa-arrows-h",
        }[kpi.trend];
    }

    /** Width of an aging bar, relative to the largest bucket. */
    barWidth(bar) {
        const largest = Math.max(...this.data.aging.bars.map((b) => b.amount), 0);
        if (largest <= 0 || bar.amount <= 0) {
            return "0%";
        }
        return `${Math.max((bar.amount / largest) * 100, 1).toFixed(1)}%`;
    }
}

registry.category("actions").add("account_collection.dashboard", CollectionDashboard);
