import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_utils";

// A collector restricted to their portfolio opens the Collections app: it lands on the
// dashboard, which shows their own customers only; a card opens the records behind it,
// and the breadcrumb brings the dashboard back.
const CUSTOMER = "Acme Customer";
const OTHER_PORTFOLIO = "Zenith Other Portfolio";

registry.category("web_tour.tours").add("collection_dashboard_tour", {
    url: "/odoo",
    steps: () => [
        ...stepUtils.goToAppSteps(
            "account_collection.account_collection_menu_root",
            "Open the Collections app"
        ),
        {
            content: "The app opens on the dashboard, with the figures of the collector's portfolio",
            trigger: ".o_collection_dashboard .o_collection_dashboard_scope:contains('Your portfolio')",
        },
        {
            content: "The KPI cards are shown",
            trigger: ".o_collection_dashboard .o_collection_kpi[data-key='dso'] .o_collection_kpi_value",
        },
        {
            content: "One customer of the portfolio is more than 90 days overdue",
            trigger: ".o_collection_customer_card[data-key='over_90_days'] .o_collection_card_count:contains('1')",
        },
        {
            content: "The aging bars add up to what the portfolio owes",
            trigger: ".o_collection_aging_total:contains('1,500.00')",
        },
        {
            content: "The customer is first among the top overdue customers",
            trigger: `.o_collection_top_overdue:first-child td:contains('${CUSTOMER}')`,
        },
        {
            content: "Another collector's customer is not shown",
            trigger: `.o_collection_top_overdue_card:not(:contains('${OTHER_PORTFOLIO}'))`,
        },
        {
            content: "The promise falling due this week is listed",
            trigger: `.o_collection_promise:contains('${CUSTOMER}'):contains('500.00')`,
        },
        {
            content: "Look at this year's KPIs",
            trigger: ".o_collection_dashboard_periods button[data-period='year']",
            run: "click",
        },
        {
            content: "The KPI cards now cover this year",
            trigger: ".o_collection_dashboard_periods button[data-period='year'].active",
        },
        {
            content: "Open the customers more than 90 days overdue",
            trigger: ".o_collection_customer_card[data-key='over_90_days']",
            run: "click",
        },
        {
            content: "The worklist opens with its Over 90 Days filter on",
            trigger: ".o_searchview .o_facet_value:contains('Over 90 Days')",
        },
        {
            content: "It lists the customer, and only it",
            trigger: `.o_list_view:has(.o_data_row:only-child) .o_data_row td[name='display_name']:contains('${CUSTOMER}')`,
        },
        {
            content: "Back to the dashboard",
            trigger: ".o_breadcrumb .breadcrumb-item a:contains('Collections Dashboard')",
            run: "click",
        },
        {
            content: "The dashboard comes back with the period it had",
            trigger: ".o_collection_dashboard_periods button[data-period='year'].active",
        },
        {
            content: "Open the promises due this week",
            trigger: ".o_collection_promises_card .card-header",
            run: "click",
        },
        {
            content: "The promises list shows the customer's open promise",
            trigger: `.o_list_view .o_data_row:only-child td[name='partner_id']:contains('${CUSTOMER}')`,
        },
        {
            content: "Filtered on the open promises",
            trigger: ".o_searchview .o_facet_value:contains('Open')",
        },
        {
            content: "Back to the dashboard",
            trigger: ".o_breadcrumb .breadcrumb-item a:contains('Collections Dashboard')",
            run: "click",
        },
        {
            content: "Open the oldest aging bar",
            trigger: ".o_collection_aging_bar:contains('91-120 days')",
            run: "click",
        },
        {
            content: "The aged receivables of that bucket are listed: the customer's invoice",
            trigger: `.o_searchview .o_facet_value:contains('91-120 days')`,
        },
        {
            content: "Only the customer's item, for the bar's amount",
            trigger: `.o_list_view:has(.o_data_row:only-child) .o_data_row td[name='partner_id']:contains('${CUSTOMER}')`,
        },
        {
            content: "Back to the dashboard",
            trigger: ".o_breadcrumb .breadcrumb-item a:contains('Collections Dashboard')",
            run: "click",
        },
        {
            content: "Open the Recovered KPI",
            trigger: ".o_collection_kpi[data-key='recovered']",
            run: "click",
        },
        {
            content: "The receivables analysis of the period opens",
            trigger: ".o_pivot_view .o_pivot",
        },
    ],
});
