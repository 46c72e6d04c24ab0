from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from odoo.addons.account_collection.tests.common import TODAY, CollectionCommon, day, on_day


class SaleCreditHoldCommon(CollectionCommon):
    """Held Industries owes 1,250.00, 20 days overdue; both companies block the sales
    orders of customers on credit hold."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.collection_sale_credit_hold_block = True
        cls.customer = cls.env["res.partner"].create({"name": "Held Industries"})
        cls.overdue = cls.invoice(cls.customer, 1250.0, day(-20))
        cls.company_2 = cls.setup_other_company(name="Second Company")["company"]
        cls.company_2.collection_sale_credit_hold_block = True
        cls.salesperson = cls.make_user(
            "salesperson", "sales_team.group_sale_salesman_all_leads", name="Sam Seller"
        )
        cls.salesperson.company_ids = [Command.link(cls.company_2.id)]
        cls.sales_manager = cls.make_user(
            "sales_manager", "sales_team.group_sale_manager", name="Sally Manager"
        )

    def hold(self):
        """A collection manager puts the customer on credit hold in the first company."""
        self.customer.with_company(self.company).with_user(
            self.collection_manager
        ).action_collection_credit_hold()
        self.assertTrue(self.customer.with_company(self.company).collection_credit_hold)

    def order(self, user, company=None):
        company = company or self.company
        return (
            self.env["sale.order"]
            .with_user(user)
            .with_company(company)
            .create(
                {
                    "partner_id": self.customer.id,
                    "company_id": company.id,
                    "order_line": [
                        Command.create(
                            {
                                "product_id": self.product_a.id,
                                "product_uom_qty": 1,
                                "price_unit": 100.0,
                                "tax_ids": [],
                            }
                        )
                    ],
                }
            )
        )

    def interactions(self):
        return self.env["collection.interaction"].search(
            [("partner_id", "=", self.customer.id), ("channel", "=", "note")], order="id"
        )


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestSaleCreditHold(SaleCreditHoldCommon):
    """With the company's setting on, a salesperson cannot confirm a sales order of a
    customer on credit hold in the order's company; a sales manager can, logged on the
    customer."""

    def test_held_customer_is_not_confirmed(self):
        self.hold()
        order = self.order(self.salesperson)
        with self.assertRaisesRegex(
            UserError, r"Held Industries is on credit hold with \$\s?1,250\.00 overdue"
        ):
            order.action_confirm()
        self.assertEqual(order.state, "draft")

    def test_sales_manager_confirms_and_it_is_logged(self):
        self.hold()
        order = self.order(self.sales_manager)
        order.action_confirm()
        self.assertEqual(order.state, "sale")
        logged = self.interactions()[-1]
        self.assertEqual(logged.user_id, self.sales_manager)
        self.assertEqual(logged.overdue_amount, 1250.0)
        self.assertIn(f"Sales order {order.name} confirmed by Sally Manager", logged.note)
        self.assertIn(
            f"Sales order {order.name} confirmed by Sally Manager",
            self.customer.message_ids[0].body,
        )

    def test_released_customer_is_confirmed(self):
        self.hold()
        self.pay(self.overdue)
        self.assertFalse(self.customer.with_company(self.company).collection_credit_hold)
        order = self.order(self.salesperson)
        order.action_confirm()
        self.assertEqual(order.state, "sale")

    def test_setting_off_does_not_block(self):
        self.hold()
        self.company.collection_sale_credit_hold_block = False
        order = self.order(self.salesperson)
        order.action_confirm()
        self.assertEqual(order.state, "sale")
        # Nothing to log: nobody went past a block.
        self.assertNotIn("confirmed by", " ".join(self.interactions().mapped("note")))

    def test_hold_in_one_company_does_not_block_another(self):
        self.hold()
        order = self.order(self.salesperson, self.company_2)
        order.action_confirm()
        self.assertEqual(order.state, "sale")
        with self.assertRaisesRegex(UserError, "Held Industries is on credit hold"):
            self.order(self.salesperson).action_confirm()


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestSaleCollectorReadsOrders(SaleCreditHoldCommon):
    """With Sales installed, the invoice form shows the sales order lines each invoice
    line comes from: a collector opens their customers' invoices and reads those orders,
    not the orders of another collector's customers, and changes none."""

    def test_collector_reads_the_orders_of_their_portfolio_only(self):
        self.company.collection_portfolio_restricted = True
        self.customer.with_company(self.company).collection_user_id = self.collector
        other = self.env["res.partner"].create({"name": "Other Portfolio SA"})
        mine = self.order(self.sales_manager)
        theirs = self.order(self.sales_manager)
        theirs.partner_id = other
        Order = self.env["sale.order"].with_user(self.collector).with_company(self.company)
        self.assertEqual(Order.search([("id", "in", (mine | theirs).ids)]), mine)
        self.assertEqual(mine.with_user(self.collector).order_line.price_unit, 100.0)
        with self.assertRaises(AccessError):
            theirs.with_user(self.collector).check_access("read")
        with self.assertRaises(AccessError):
            mine.with_user(self.collector).write({"note": "changed"})
