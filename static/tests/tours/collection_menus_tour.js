import { registry } from "@web/core/registry";

// Every menu of the Collections app opens, for a collector and for a manager, on a
// desktop and on a phone (390 px): the app's menus are clicked as a person would (the
// navbar on a desktop, the sidebar on a phone), the worklist is switched to each of
// its views, a customer's Collections tab and a reminder are opened. Any client error
// fails the tour.
const CUSTOMER = "Acme Customer";
const ROOT = "account_collection.account_collection_menu_root";

// [menu xml id, its parent section in the navbar (a dropdown) or null, what it shows]
const COLLECTOR_MENUS = [
    ["collection_dashboard_menu", null, ".o_collection_dashboard .o_collection_kpi"],
    [
        "res_partner_menu_collection_worklist",
        null,
        `.o_view_controller:contains('${CUSTOMER}')`,
    ],
    ["collection_promise_menu", null, `.o_view_controller:contains('${CUSTOMER}')`],
    ["collection_agreement_menu", null, ".o_last_breadcrumb_item:contains('Payment Agreements')"],
    ["collection_interaction_menu", null, `.o_view_controller:contains('${CUSTOMER}')`],
    ["collection_dispute_menu", null, `.o_view_controller:contains('${CUSTOMER}')`],
    [
        "collection_reply_menu_all",
        "collection_reply_menu",
        ".o_last_breadcrumb_item:contains('Customer Replies')",
    ],
    [
        "collection_reply_menu_unmatched",
        "collection_reply_menu",
        ".o_last_breadcrumb_item:contains('Unknown Senders')",
    ],
    [
        "collection_communication_menu_review",
        "collection_communication_menu",
        ".o_last_breadcrumb_item:contains('Reminders to Review')",
    ],
    [
        "collection_communication_menu_all",
        "collection_communication_menu",
        `.o_view_controller:contains('${CUSTOMER}')`,
    ],
    [
        "collection_communication_delivery_menu_failed",
        "collection_communication_menu",
        ".o_last_breadcrumb_item:contains('Failed Deliveries')",
    ],
    [
        "collection_communication_delivery_menu_letters",
        "collection_communication_menu",
        ".o_last_breadcrumb_item:contains('Letters to Print')",
    ],
    [
        "collection_aged_receivable_report_menu",
        "account_collection_menu_reporting",
        `.o_pivot_view .o_pivot td.o_pivot_cell_value:contains('1,800.00')`,
    ],
    [
        "collection_receivable_report_menu",
        "account_collection_menu_reporting",
        ".o_last_breadcrumb_item:contains('Receivables')",
    ],
    [
        "collection_promise_report_menu",
        "account_collection_menu_reporting",
        ".o_last_breadcrumb_item:contains('Promises')",
    ],
    [
        "collection_dispute_report_menu",
        "account_collection_menu_reporting",
        ".o_last_breadcrumb_item:contains('Disputes')",
    ],
    [
        "collection_collector_report_menu",
        "account_collection_menu_reporting",
        ".o_last_breadcrumb_item:contains('Collectors')",
    ],
    [
        "collection_cash_forecast_menu",
        "account_collection_menu_reporting",
        ".o_last_breadcrumb_item:contains('Cash-in Forecast')",
    ],
    [
        "collection_recovery_report_menu",
        "account_collection_menu_reporting",
        ".o_last_breadcrumb_item:contains('Recovery Curve')",
    ],
    [
        "collection_effectiveness_report_menu",
        "account_collection_menu_reporting",
        ".o_last_breadcrumb_item:contains('Reminder Effectiveness')",
    ],
];

const MANAGER_MENUS = [
    [
        "collection_policy_menu",
        "account_collection_menu_configuration",
        ".o_data_row:contains('Test reminder policy')",
    ],
    [
        "collection_stage_menu",
        "account_collection_menu_configuration",
        ".o_data_row:contains('Preventive')",
    ],
    [
        "collection_aging_bucket_menu",
        "account_collection_menu_configuration",
        ".o_data_row:contains('1-30 days')",
    ],
    [
        "collection_dispute_reason_menu",
        "account_collection_menu_configuration",
        ".o_data_row:contains('Goods not received')",
    ],
];

function xmlid(name) {
    return `account_collection.${name}`;
}

/** Open the Collections app from the home menu. */
function openApp() {
    return [
        {
            isActive: ["desktop"],
            content: "Open the apps menu",
            trigger: ".o_navbar_apps_menu button:enabled",
            run: "click",
        },
        {
            isActive: ["desktop"],
            content: "Open the Collections app",
            trigger: `.o_app[data-menu-xmlid='${ROOT}']`,
            run: "click",
        },
        {
            isActive: ["mobile"],
            content: "Open the menu of the apps",
            trigger: ".o_main_navbar .o_menu_toggle",
            run: "click",
        },
        {
            isActive: ["mobile"],
            content: "Show all the apps",
            trigger: ".o_app_menu_sidebar .o_sidebar_topbar a.btn-primary",
            run: "click",
        },
        {
            isActive: ["mobile"],
            content: "Open the Collections app",
            trigger: `.o_app_menu_sidebar .o_app[data-menu-xmlid='${ROOT}']`,
            run: "click",
        },
        {
            content: "The Collections app opens on its dashboard",
            trigger: ".o_collection_dashboard .o_collection_kpi",
        },
    ];
}

/** Click the menu ``name`` (under the navbar dropdown ``parent``, if any). */
function openMenu(name, parent) {
    const steps = [];
    if (parent) {
        steps.push({
            isActive: ["desktop"],
            content: `Open the ${parent} section`,
            trigger: `.o_main_navbar .o_menu_sections button[data-menu-xmlid='${xmlid(parent)}']`,
            run: "click",
        });
        steps.push({
            isActive: ["desktop"],
            content: `Open the menu ${name}`,
            trigger: `.o-dropdown--menu .dropdown-item[data-menu-xmlid='${xmlid(name)}']`,
            run: "click",
        });
    } else {
        steps.push({
            isActive: ["desktop"],
            content: `Open the menu ${name}`,
            trigger: `.o_main_navbar .o_menu_sections [data-menu-xmlid='${xmlid(name)}']`,
            run: "click",
        });
    }
    steps.push(
        {
            isActive: ["mobile"],
            content: "Open the app's menu",
            trigger: ".o_main_navbar .o_menu_toggle",
            run: "click",
        },
        {
            isActive: ["mobile"],
            content: `Open the menu ${name}`,
            trigger: `.o_app_menu_sidebar li[data-menu-xmlid='${xmlid(name)}']`,
            run: "click",
        }
    );
    return steps;
}

function menuSteps(menus) {
    return menus.flatMap(([name, parent, shows]) => [
        ...openMenu(name, parent),
        {
            content: `The menu ${name} opens on its records`,
            // The title is in the navbar on a phone, outside the action.
            trigger: shows.startsWith(".o_last_breadcrumb_item")
                ? shows
                : `.o_action_manager ${shows}`,
        },
    ]);
}

/** Switch the current multi-record view to ``type`` (list, kanban, pivot, graph). */
function switchView(type, icon) {
    return [
        {
            isActive: ["desktop"],
            content: `Switch to the ${type} view`,
            trigger: `.o_control_panel button.o_switch_view.o_${type}`,
            run: "click",
        },
        {
            isActive: ["mobile"],
            content: "Open the view switcher",
            trigger: ".o_control_panel .o_cp_switch_buttons > button",
            run: "click",
        },
        {
            isActive: ["mobile"],
            content: `Switch to the ${type} view`,
            trigger: `.o-dropdown--menu .dropdown-item:has(i.${icon})`,
            run: "click",
        },
    ];
}

function worklistSteps() {
    return [
        ...openMenu("res_partner_menu_collection_worklist", null),
        {
            isActive: ["desktop"],
            content: "On a desktop the worklist opens on the list",
            trigger: `.o_list_view .o_data_row td[name='display_name']:contains('${CUSTOMER}')`,
        },
        {
            isActive: ["mobile"],
            content: "On a phone it opens on the cards: customer, overdue, days late and Log",
            trigger: `.o_kanban_view .o_kanban_record:contains('${CUSTOMER}'):contains('1,500.00'):contains('45 days') button.o_collection_kanban_log`,
        },
        {
            isActive: ["mobile"],
            content: "The first column of cards is a stage, not customers without one",
            trigger: ".o_kanban_view .o_kanban_group:first-child .o_column_title:contains('Preventive')",
        },
        ...switchView("kanban", "oi-view-kanban"),
        {
            content: "The cards show the customer with its Log button",
            trigger: `.o_kanban_view .o_kanban_record:contains('${CUSTOMER}') button.o_collection_kanban_log`,
        },
        {
            content: "Its column counts its customers",
            trigger: `.o_kanban_group:has(.o_kanban_record:contains('${CUSTOMER}')) .o_collection_column_count:contains('(1)')`,
        },
        {
            content: "And totals what they owe overdue",
            trigger: `.o_kanban_group:has(.o_kanban_record:contains('${CUSTOMER}')) .o_kanban_counter:contains('1,500')`,
        },
        ...switchView("pivot", "oi-view-pivot"),
        {
            content: "The pivot sums the overdue amounts",
            trigger: ".o_pivot_view .o_pivot td.o_pivot_cell_value:contains('1,500.00')",
        },
        ...switchView("graph", "fa-area-chart"),
        {
            content: "The graph draws the overdue amounts",
            trigger: ".o_graph_view .o_graph_renderer canvas",
        },
        ...switchView("list", "oi-view-list"),
        {
            content: "Open the customer",
            trigger: `.o_list_view .o_data_row td[name='display_name']:contains('${CUSTOMER}')`,
            run: "click",
        },
        {
            content: "Open the customer's Collections tab",
            trigger: ".o_form_view .o_notebook .nav-link:contains('Collections')",
            run: "click",
        },
        {
            content: "The tab lists the customer's overdue invoice",
            trigger: ".o_field_widget[name='collection_open_move_ids'] .o_data_row:contains('1,500.00')",
        },
        {
            content: "And the reminder sent",
            trigger: ".o_field_widget[name='collection_communication_ids'] .o_data_row",
        },
        ...openMenu("collection_communication_menu_all", "collection_communication_menu"),
        {
            content: "Open the customer's reminder",
            trigger: `.o_list_view .o_data_row td[name='partner_id']:contains('${CUSTOMER}')`,
            run: "click",
        },
        {
            content: "The reminder says why it waits, and carries the statement link",
            trigger: ".o_form_view .o_field_widget[name='waiting_reason']:contains('To review')",
        },
        {
            content: "The statement link is shown",
            trigger: ".o_form_view .o_field_widget[name='portal_url'] a[href*='/my/collection']",
        },
    ];
}

registry.category("web_tour.tours").add("collection_menus_collector_tour", {
    url: "/odoo",
    steps: () => [...openApp(), ...menuSteps(COLLECTOR_MENUS), ...worklistSteps()],
});

registry.category("web_tour.tours").add("collection_menus_manager_tour", {
    url: "/odoo",
    steps: () => [
        ...openApp(),
        ...menuSteps(COLLECTOR_MENUS),
        ...menuSteps(MANAGER_MENUS),
        ...openMenu("collection_dunning_run_menu", "collection_communication_menu"),
        {
            content: "Run Reminders opens its preview",
            trigger: ".modal .o_form_view .o_field_widget[name='count']",
        },
        {
            content: "Close the preview",
            trigger: ".modal .modal-footer button.btn-secondary",
            run: "click",
        },
        {
            content: "The preview closes",
            trigger: "body:not(:has(.modal))",
        },
        ...worklistSteps(),
    ],
});
