import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_utils";

// An administrator adds a level to the default dunning policy from Settings, then
// previews the reminders due today and runs them: the customer whose invoice just
// reached the new level is listed with it, and gets its reminder.
const CUSTOMER = "Acme Customer";
const LEVEL = "Firm reminder";
const TEMPLATE = "Collections: overdue reminder";

function openCollectionsSettings(content) {
    return [
        {
            content,
            trigger: ".settings_tab .tab[data-key='account_collection']",
            run: "click",
        },
        {
            content: "The Reminders block of the Collections settings is shown",
            trigger: ".o_setting_box#collection_policy:contains('Default Dunning Policy')",
        },
    ];
}

registry.category("web_tour.tours").add("collection_dunning_tour", {
    url: "/odoo",
    steps: () => [
        stepUtils.showAppsMenuItem(),
        {
            content: "Open the Settings",
            trigger: ".o_app[data-menu-xmlid='base.menu_administration']",
            run: "click",
        },
        ...openCollectionsSettings("Go to the Collections settings"),
        {
            content: "The default policy of the company is the shipped one",
            trigger: "#collection_policy .o_field_widget[name='collection_policy_id'] input:value('Standard reminders')",
        },
        {
            content: "Open the policies and their levels",
            trigger: "#collection_policy button[name='action_collection_open_policies']",
            run: "click",
        },
        {
            content: "Open the default policy",
            trigger: ".o_list_view .o_data_row td[name='name']:contains('Standard reminders')",
            run: "click",
        },
        {
            content: "The policy lists its levels",
            trigger: ".o_field_widget[name='level_ids'] .o_data_row td[name='name']:contains('Second reminder')",
        },
        {
            content: "Add a level",
            trigger: ".o_field_widget[name='level_ids'] .o_field_x2many_list_row_add a",
            run: "click",
        },
        {
            content: "Name the level",
            trigger: ".modal .o_field_widget[name='name'] input",
            run: `edit ${LEVEL}`,
        },
        {
            content: "Ten days after the due date",
            trigger: ".modal .o_field_widget[name='delay'] input",
            run: "edit 10",
        },
        {
            content: "The level sends an email",
            trigger: ".modal .o_field_widget[name='send_email'] input",
            run: "click",
        },
        {
            content: "Choose the email template",
            trigger: ".modal .o_field_widget[name='mail_template_id'] input",
            run: "edit overdue reminder",
        },
        {
            content: "Take the shipped overdue reminder",
            trigger: `.modal .o_field_widget[name='mail_template_id'] .o-autocomplete--dropdown-item a:contains('${TEMPLATE}')`,
            run: "click",
        },
        {
            content: "The template is chosen",
            trigger: `.modal .o_field_widget[name='mail_template_id'] input:value('${TEMPLATE}')`,
        },
        {
            content: "Save the level",
            trigger: ".modal .modal-footer .o_form_button_save",
            run: "click",
        },
        {
            content: "The new level is added to the policy",
            trigger: `.o_field_widget[name='level_ids'] .o_data_row:has(td[name='name']:contains('${LEVEL}')) td[name='delay']:contains('10')`,
        },
        {
            content: "Save the policy",
            trigger: ".o_form_view .o_form_button_save",
            run: "click",
        },
        {
            content: "Saved, the levels are in order of days: the new one comes after the call",
            trigger: `.o_form_view .o_form_saved .o_field_widget[name='level_ids'] .o_data_row:has(td[name='name']:contains('Call')) + .o_data_row td[name='name']:contains('${LEVEL}')`,
        },
        {
            content: "Back to the Settings",
            trigger: ".o_breadcrumb .breadcrumb-item a:contains('Settings')",
            run: "click",
        },
        ...openCollectionsSettings("Back in the Collections settings"),
        {
            content: "Preview the reminders due today",
            trigger: "#collection_policy button[name='action_collection_run_now']",
            run: "click",
        },
        {
            content: "The preview lists the customer at the new level, by email",
            trigger: `.modal .o_field_widget[name='line_ids'] .o_data_row:has(td[name='partner_id']:contains('${CUSTOMER}')):has(td[name='level_id']:contains('${LEVEL} (+10 days)')) td[name='channels']:contains('Email')`,
        },
        {
            content: "Run the reminders now",
            trigger: ".modal .modal-footer button[name='action_run']",
            run: "click",
        },
        {
            content: "The preview closes",
            trigger: "body:not(:has(.modal))",
        },
        {
            content: "The list of today's reminders shows the customer's reminder at the new level",
            trigger: `.o_list_view .o_data_row:has(td[name='partner_id']:contains('${CUSTOMER}')) td[name='level_id']:contains('${LEVEL}')`,
        },
    ],
});
