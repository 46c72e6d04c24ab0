import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_utils";

// A collector switches the worklist to each of its views: the list, the cards per
// stage, the pivot and the graph, whose measure is the overdue amount. A view that
// fails to open fails the tour (a client error).
const CUSTOMER = "Acme Customer";

registry.category("web_tour.tours").add("collection_worklist_views_tour", {
    url: "/odoo",
    steps: () => [
        ...stepUtils.goToAppSteps(
            "account_collection.account_collection_menu_root",
            "Open the Collections app"
        ),
        {
            content: "Open the worklist",
            trigger:
                ".o_main_navbar [data-menu-xmlid='account_collection.res_partner_menu_collection_worklist']",
            run: "click",
        },
        {
            content: "The worklist opens on the list",
            trigger: `.o_list_view .o_data_row td[name='display_name']:contains('${CUSTOMER}')`,
        },
        {
            content: "Switch to the cards",
            trigger: "button.o_switch_view.o_kanban",
            run: "click",
        },
        {
            content: "The customers without a stage are shown, not folded away, with a Log button",
            trigger: `.o_kanban_view .o_kanban_group .o_kanban_record:contains('${CUSTOMER}') button.o_collection_kanban_log`,
        },
        {
            content: "Switch to the pivot",
            trigger: "button.o_switch_view.o_pivot",
            run: "click",
        },
        {
            content: "The pivot sums the overdue amounts of the worklist",
            trigger: ".o_pivot_view .o_pivot td.o_pivot_cell_value:contains('1,700.00')",
        },
        {
            content: "Switch to the graph",
            trigger: "button.o_switch_view.o_graph",
            run: "click",
        },
        {
            content: "The graph draws the overdue amounts",
            trigger: ".o_graph_view .o_graph_renderer canvas",
        },
        {
            content: "Back to the list",
            trigger: "button.o_switch_view.o_list",
            run: "click",
        },
        {
            content: "The list is back",
            trigger: `.o_list_view .o_data_row td[name='display_name']:contains('${CUSTOMER}')`,
        },
    ],
});
