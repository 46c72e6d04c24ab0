import { registry } from "@web/core/registry";
import { nothingWiderThanThePhone } from "@account_collection/../tests/tours/utils/phone";

// A collection manager opens Agency Placements on a 390 px phone: the placements are
// cards that show the customer's whole name, the agency and the amounts, not a table
// cut at the screen's edge.
const CUSTOMER = "Distribuciones Hermanos Fernández de Castro SL";

registry.category("web_tour.tours").add("collection_placement_phone_tour", {
    steps: () => [
        {
            content: "The placement is a card with the customer's whole name",
            trigger: `.o_kanban_view .o_kanban_record:contains('${CUSTOMER}'):contains('Recobros Legales SL')`,
        },
        {
            content: "The card shows the amounts placed and collected",
            trigger: ".o_kanban_record:contains('Placed'):contains('1,200.00'):contains('Collected')",
        },
        nothingWiderThanThePhone(".o_kanban_record", "The placements"),
        {
            content: "Tapping the card opens the placement",
            trigger: `.o_kanban_record:contains('${CUSTOMER}')`,
            run: "click",
        },
        {
            content: "The placement's form",
            trigger: `.o_form_view .o_field_widget[name=partner_id]:contains('${CUSTOMER}')`,
        },
    ],
});
