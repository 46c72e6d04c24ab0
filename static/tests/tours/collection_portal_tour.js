import { registry } from "@web/core/registry";

// A customer opens the link of a reminder: the statement of account. The customer
// disputes the invoice of 300.00 (goods not received) and promises to pay the one of
// 1,000.00 a week from today.
const DISPUTED = "300.00";
const PROMISED = "1,000.00";

function invoiceRow(amount) {
    return `tr.o_collection_invoice:has(td.o_collection_invoice_residual:contains('${amount}'))`;
}

registry.category("web_tour.tours").add("collection_portal_tour", {
    steps: () => [
        {
            content: "The reminder's link opens the customer's statement of account",
            trigger: ".o_collection_statement .o_collection_partner:contains('Acme Customer')",
        },
        {
            content: "Both invoices are overdue",
            trigger: `${invoiceRow(PROMISED)} .badge:contains('Overdue')`,
        },
        {
            content: "Dispute the invoice of 300.00",
            trigger: `${invoiceRow(DISPUTED)} a.o_collection_dispute_link`,
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "The dispute form is ready for that invoice: choose the reason",
            trigger: ".o_collection_dispute_form select[name='reason_id']",
            run: "selectByLabel Goods not received",
        },
        {
            content: "Say what is wrong",
            trigger: ".o_collection_dispute_form textarea[name='message']",
            run: "edit The goods of this invoice never arrived.",
        },
        {
            content: "Send the dispute",
            trigger: ".o_collection_dispute_form button[type='submit']",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "The dispute is recorded",
            trigger: ".o_collection_done:contains('Your dispute is recorded')",
        },
        {
            content: "The invoice shows in dispute",
            trigger: `${invoiceRow(DISPUTED)} .badge:contains('In dispute')`,
        },
        {
            content: "Promise to pay 1,000.00",
            trigger: ".o_collection_promise_form input[name='amount']",
            run: "edit 1000",
        },
        {
            content: "A week from today",
            trigger: ".o_collection_promise_form input[name='date']",
            run() {
                // The field starts at today (its minimum): a week later.
                const [year, month, day] = this.anchor.min.split("-").map(Number);
                const date = new Date(Date.UTC(year, month - 1, day + 7));
                this.anchor.value = date.toISOString().slice(0, 10);
                this.anchor.dispatchEvent(new Event("change", { bubbles: true }));
            },
        },
        {
            content: "For the invoice of 1,000.00",
            trigger: `.o_collection_promise_form .form-check:has(label:contains('${PROMISED}')) input`,
            run: "check",
        },
        {
            content: "Send the promise",
            trigger: ".o_collection_promise_form button[type='submit']",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "The promise is recorded",
            trigger: ".o_collection_done:contains('your promise to pay is recorded')",
        },
        {
            content: "The statement lists the promise",
            trigger: `.o_collection_promises tr:contains('${PROMISED}')`,
        },
        {
            content: "The invoice shows promised",
            trigger: `${invoiceRow(PROMISED)} .badge:contains('Promised')`,
        },
    ],
});
