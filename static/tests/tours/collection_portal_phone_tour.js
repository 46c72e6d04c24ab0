import { registry } from "@web/core/registry";
import { nothingWiderThanThePhone } from "@account_collection/../tests/tours/utils/phone";

// A customer opens the statement of account on a 390 px phone: nothing runs off the
// screen, the aging is a list, each invoice a card with its amount, due date, days
// overdue and its actions; disputing an invoice is a tap away.
const AMOUNT = "1,000.00";

registry.category("web_tour.tours").add("collection_portal_phone_tour", {
    steps: () => [
        {
            content: "The statement opens",
            trigger: ".o_collection_statement .o_collection_partner:contains('Acme Customer')",
        },
        {
            content: "The aging is a list that ends with the total",
            trigger: ".o_collection_aging_list li:last-child:contains('Total'):contains('1,300.00')",
        },
        {
            content: "The invoice is a card: amount, days overdue, status",
            trigger: `.o_collection_invoice_card:contains('${AMOUNT}'):contains('30 days overdue') .badge:contains('Overdue')`,
        },
        nothingWiderThanThePhone(".o_collection_statement", "The statement"),
        {
            content: "Dispute the invoice from its card",
            trigger: `.o_collection_invoice_card:contains('${AMOUNT}') a.o_collection_dispute_link`,
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "The dispute form opens for that invoice",
            trigger: ".o_collection_dispute_form select[name='reason_id']",
        },
    ],
});
