import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_utils";

// A customer answered a WhatsApp reminder "les pago el 15": the collector opens the
// reply and turns it into a promise to pay in one click.
const CUSTOMER = "Acme Customer";

registry.category("web_tour.tours").add("collection_reply_tour", {
    url: "/odoo",
    steps: () => [
        ...stepUtils.goToAppSteps(
            "account_collection.account_collection_menu_root",
            "Open the Collections app"
        ),
        {
            content: "Open the replies",
            trigger: ".o_main_navbar [data-menu-xmlid='account_collection.collection_reply_menu']",
            run: "click",
        },
        {
            content: "The customers' replies",
            trigger: "[data-menu-xmlid='account_collection.collection_reply_menu_all']",
            run: "click",
        },
        {
            content: "The WhatsApp reply waits to be read, read as a promise",
            trigger: `.o_list_view .o_data_row:contains('${CUSTOMER}'):contains('les pago el 15'):contains('Promise to Pay')`,
        },
        {
            content: "Open it",
            trigger: ".o_list_view .o_data_row td[name='text']:contains('les pago el 15')",
            run: "click",
        },
        {
            content: "The suggestion: a promise, with the day the customer named",
            trigger: ".o_form_view .o_field_widget[name='promise_date']",
        },
        {
            content: "Apply it in one click",
            trigger: ".o_form_view button[name='action_apply']",
            run: "click",
        },
        {
            content: "The promise is recorded",
            trigger: ".o_notification:contains('Promise to pay recorded')",
        },
        {
            content: "The reply is done",
            trigger: ".o_form_view .o_statusbar_status button.o_arrow_button_current:contains('Done')",
        },
    ],
});
