import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_utils";

// A collector's call: open the worklist, log a call where the customer promises to
// pay, then find the call and the promise on the customer. Dates follow the
// browser's today (the user's date format, en_US), nothing is frozen.
const CUSTOMER = "Acme Customer";
const SMALLER_DEBTOR = "Abbott Small Debtor";

registry.category("web_tour.tours").add("collection_worklist_tour", {
    url: "/odoo",
    steps: () => {
        const today = luxon.DateTime.now();
        const promiseDate = today.plus({ days: 7 }).toFormat("MM/dd/yyyy");
        const nextActionDate = today.plus({ days: 3 }).toFormat("MM/dd/yyyy");
        return [
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
                content: "The worklist is the list of customers, the one to work first on top",
                trigger: `.o_list_view .o_data_row:first-child td[name='display_name']:contains('${CUSTOMER}')`,
            },
            {
                content: "The customer with a smaller, younger debt comes after, though its name sorts first",
                trigger: `.o_list_view .o_data_row:nth-child(2) td[name='display_name']:contains('${SMALLER_DEBTOR}')`,
            },
            {
                content: "Log an interaction from the customer's row",
                trigger: `.o_data_row:contains('${CUSTOMER}') button[name='action_collection_log_interaction']`,
                run: "click",
            },
            {
                content: "The log form opens for that customer",
                trigger: `.modal .o_field_widget[name='partner_id']:contains('${CUSTOMER}')`,
            },
            {
                content: "Choose the channel",
                trigger: ".modal .o_field_widget[name='channel'] input",
                run: "click",
            },
            {
                content: "It was a call",
                trigger: ".o_select_menu_menu .o_select_menu_item:contains('Call')",
                run: "click",
            },
            {
                content: "Choose the outcome",
                trigger: ".modal .o_field_widget[name='outcome'] input",
                run: "click",
            },
            {
                content: "The customer promised to pay",
                trigger: ".o_select_menu_menu .o_select_menu_item:contains('Promise to Pay')",
                run: "click",
            },
            {
                content: "The promise box is ticked by the outcome",
                trigger: ".modal .o_field_widget[name='promise'] input:checked",
            },
            {
                content: "The promised amount starts at the overdue amount",
                trigger: ".modal .o_field_widget[name='promise_amount'] input:value(1,500.00)",
            },
            {
                content: "The customer promised part of it",
                trigger: ".modal .o_field_widget[name='promise_amount'] input",
                run: "edit 1000",
            },
            {
                content: "Promised date",
                trigger: ".modal .o_field_widget[name='promise_date'] input",
                run: `edit ${promiseDate}`,
            },
            {
                content: "Close the date picker",
                trigger: ".modal .o_field_widget[name='promise_date'] input",
                run: "click",
            },
            {
                content: "Next action date",
                trigger: ".modal .o_field_widget[name='next_action_date'] input",
                run: `edit ${nextActionDate}`,
            },
            {
                content: "Close the date picker",
                trigger: ".modal .o_field_widget[name='next_action_date'] input",
                run: "click",
            },
            {
                content: "The new status says the customer is paying",
                trigger: ".modal .o_field_widget[name='status_after'] input:value('Paying')",
            },
            {
                content: "Log it",
                trigger: ".modal .modal-footer button[name='action_confirm']",
                run: "click",
            },
            {
                content: "The log form closes",
                trigger: "body:not(:has(.modal))",
            },
            {
                content: "Open the customer",
                trigger: `.o_data_row td[name='display_name']:contains('${CUSTOMER}')`,
                run: "click",
            },
            {
                content: "The chatter shows the call with the promise",
                trigger: `.o-mail-Chatter .o-mail-Message:contains('Promise to pay'):contains('1,000.00'):contains('${promiseDate}') b:contains('Call')`,
            },
            {
                content: "Open the Collections tab",
                trigger: ".o_notebook .nav-link:contains('Collections')",
                run: "click",
            },
            {
                content: "The promise is listed, open",
                trigger: ".o_field_widget[name='collection_promise_ids'] .o_data_row:contains('1,000.00'):contains('Open')",
            },
            {
                content: "The call is in the interactions",
                trigger: ".o_field_widget[name='collection_interaction_ids'] .o_data_row:contains('Call'):contains('Promise to Pay')",
            },
            {
                content: "The customer is now paying",
                trigger: ".o_field_widget[name='collection_status']:contains('Paying')",
            },
        ];
    },
});
