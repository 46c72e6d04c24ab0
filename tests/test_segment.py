from odoo import Command
from odoo.exceptions import ValidationError
from odoo.tests import tagged

from .common import TODAY, DunningCadenceCommon, day, on_day


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionSegment(DunningCadenceCommon):
    """Segments put each customer, by the first rule it matches, on a dunning policy and
    with a collector; a customer's own policy still comes first."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.collector_2 = cls.make_user(
            "collector_2", "account_collection.group_collection_user", name="Cody Collector"
        )
        cls.gentle = cls.env["collection.policy"].create(
            {
                "name": "Gentle",
                "mode": "review",
                "company_id": cls.company.id,
                "level_ids": [
                    Command.create(
                        {
                            "name": "Gentle nudge",
                            "delay": 10,
                            "send_email": True,
                            "mail_template_id": cls.template_overdue.id,
                        }
                    )
                ],
            }
        )
        cls.france = cls.env.ref("base.fr")
        Segment = cls.env["collection.segment"]
        cls.segment_spain = Segment.create(
            {
                "name": "Spain",
                "sequence": 1,
                "domain": "[('country_id.code', '=', 'ES')]",
                "policy_id": cls.gentle.id,
            }
        )
        cls.segment_rest = Segment.create(
            {
                "name": "Everybody else",
                "sequence": 2,
                "domain": "[]",
                "policy_id": cls.policy.id,
                "user_id": cls.collector_2.id,
            }
        )

    def segment_of(self, partner):
        partner = partner.with_company(self.company).with_user(self.collector)
        partner.invalidate_recordset()
        return partner.collection_segment_id

    def test_first_matching_rule_wins_in_order(self):
        french = self.env["res.partner"].create(
            {"name": "Paris SARL", "is_company": True, "country_id": self.france.id}
        )
        self.assertEqual(self.segment_of(self.customer), self.segment_spain)
        self.assertEqual(self.segment_of(french), self.segment_rest)
        # The segment's collector goes to the customers without one.
        self.assertEqual(french.with_company(self.company).collection_user_id, self.collector_2)
        self.assertEqual(
            self.customer.with_company(self.company).collection_user_id, self.collector
        )
        # Put first, the catch-all takes everybody at the next assignment.
        self.segment_rest.sequence = 0
        self.env["collection.segment"]._cron_assign_segments()
        self.assertEqual(self.segment_of(self.customer), self.segment_rest)

    def test_a_change_of_the_customer_moves_it_at_once(self):
        self.assertEqual(self.segment_of(self.customer), self.segment_spain)
        self.customer.country_id = self.france
        self.assertEqual(self.segment_of(self.customer), self.segment_rest)

    def test_segment_policy_reminds_and_own_policy_comes_first(self):
        self.company.collection_policy_id = False
        own = self.make_customer("Own Policy Customer")
        own.with_company(self.company).collection_policy_id = self.policy
        self.invoice(self.customer, 1000.0, day(-12))
        self.invoice(own, 1000.0, day(-12))
        self.assertEqual(
            self.customer.with_company(self.company).collection_effective_policy_id, self.gentle
        )
        self.run_dunning(day(0))
        self.assertEqual(self.reminders(self.customer).level_id, self.gentle.level_ids)
        self.assertEqual(self.reminders(own).level_id, self.level_late)

    def test_invalid_rule_is_refused(self):
        with self.assertRaisesRegex(ValidationError, "not a valid filter"):
            self.segment_rest.domain = "[('no_such_field', '=', 1)]"

    def test_run_preview_says_which_segment_gave_the_policy(self):
        own = self.make_customer("Own Policy Customer")
        own.with_company(self.company).collection_policy_id = self.policy
        self.invoice(self.customer, 1000.0, day(-12))
        self.invoice(own, 1000.0, day(-12))
        run = self.env["collection.dunning.run"].with_user(self.collection_manager).create({})
        lines = {line.partner_id: line for line in run.line_ids}
        self.assertEqual(
            (lines[self.customer].policy_id, lines[self.customer].segment_id),
            (self.gentle, self.segment_spain),
        )
        self.assertEqual(
            (lines[own].policy_id, lines[own].segment_id),
            (self.policy, self.env["collection.segment"]),
        )
