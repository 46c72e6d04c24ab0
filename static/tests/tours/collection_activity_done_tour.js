import { registry } from "@web/core/registry";

// A collector marks the call planned on a customer done from its chatter: the Log dialog
// opens for the customer, the outcome is logged, and the activity is done with it.
const CUSTOMER = "Acme Customer";

registry.category("web_tour.tours").add("collection_activity_done_tour", {
    steps: () => [
        {
            content: "Mark the planned call done",
            trigger: ".o-mail-Activity:contains('Call about the overdue invoices') .o-mail-Activity-markDone",
            run: "click",
        },
        {
            content: "Done",
            trigger: ".o-mail-ActivityMarkAsDone button[aria-label='Done']",
            run: "click",
        },
        {
            content: "The Log dialog opens for the customer, for that activity",
            trigger: `.modal .o_field_widget[name='partner_id']:contains('${CUSTOMER}')`,
        },
        {
            content: "It says which activity it marks done",
            trigger: ".modal .o_field_widget[name='activity_id']:contains('Call about the overdue invoices')",
        },
        {
            content: "Choose the outcome",
            trigger: ".modal .o_field_widget[name='outcome'] input",
            run: "click",
        },
        {
            content: "Nobody answered",
            trigger: ".o_select_menu_menu .o_select_menu_item:contains('No Answer')",
            run: "click",
        },
        {
            content: "Log it",
            trigger: ".modal button[name='action_confirm']",
            run: "click",
        },
        {
            content: "The activity is done, with the outcome as its feedback",
            trigger: ".o-mail-Message:contains('No Answer')",
        },
        {
            content: "No planned activity is left",
            trigger: ".o-mail-Chatter:not(:has(.o-mail-Activity))",
        },
    ],
});
