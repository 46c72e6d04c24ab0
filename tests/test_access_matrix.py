from datetime import datetime, time, timedelta

import psycopg2

from odoo import Command
from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import TODAY, CollectionCommon, on_day

# Who may do what on a collection record of Bolt, a customer of Cody's portfolio: R
# read, C create, W write, U unlink ("" none). The same table is in README.md,
# "Security". Roles: portal (a contact of Bolt on the portal), public (the website's
# visitor: the statement link works through the portal controller only), restricted
# (Carla, a collector the company restricts to her portfolio), collector (Carla,
# unrestricted), billing (Billing), accountant (Bookkeeper), manager (Collections /
# Manager, working in every company as in a database of one company), other (a
# collection manager of another company only), employee (an internal user with no
# collections or accounting group). Another company's users work the shared contact
# Bolt in their own company (its records there are theirs), and do not change what
# every company shares (stages, dispute reasons without a company); evidence in use (a
# dispute, a policy or level that reminders refer to) is not deleted.
ROLES = (
    "portal",
    "public",
    "restricted",
    "collector",
    "billing",
    "accountant",
    "manager",
    "other",
    "employee",
)
MATRIX = {
    # model: one cell per role of ROLES, in order
    "collection.interaction": ("", "", "", "RC", "R", "R", "RCW", "C", ""),
    "collection.promise": ("", "", "", "RCW", "R", "R", "RCWU", "C", ""),
    "collection.dispute": ("", "", "", "RCW", "R", "R", "RCW", "", ""),
    "collection.agreement": ("", "", "", "RCW", "R", "R", "RCWU", "", ""),
    "collection.agreement.instalment": ("", "", "", "RCWU", "R", "R", "RCWU", "", ""),
    "collection.communication": ("", "", "", "RW", "R", "R", "RWU", "", ""),
    "collection.communication.delivery": ("", "", "", "R", "", "", "R", "", ""),
    # A reply of Bolt: W corrects its suggestion; replies come from the channels only.
    "collection.reply": ("", "", "", "RW", "R", "R", "RWU", "", ""),
    "collection.invoice.dunning": ("", "", "", "R", "R", "R", "R", "", ""),
    "collection.policy": ("", "", "R", "R", "", "", "RCW", "", ""),
    "collection.level": ("", "", "R", "R", "", "", "RCW", "", ""),
    "collection.stage": ("", "", "R", "R", "R", "R", "RCWU", "R", ""),
    "collection.dispute.reason": ("", "", "R", "R", "R", "R", "RCW", "R", "R"),
    "collection.aging.bucket": ("", "", "R", "R", "R", "R", "RCWU", "", ""),
    "collection.cash.forecast": ("", "", "", "R", "R", "R", "R", "", ""),
    # The analytics: a row of Bolt's invoice at an age (recovery curve) and of a reminder
    # sent about it (effectiveness); SQL views, read only.
    "collection.recovery.report": ("", "", "", "R", "R", "R", "R", "", ""),
    "collection.effectiveness.report": ("", "", "", "R", "R", "R", "R", "", ""),
    "collection.segment": ("", "", "R", "R", "R", "R", "RCWU", "", ""),
    # The statutory interest rates: one table for every company, kept by its managers.
    "collection.interest.rate": ("", "", "R", "R", "R", "R", "RCWU", "R", "R"),
    # Bolt's collection fields (status, collector, figures); W: its next action date.
    "res.partner": ("", "", "R", "R", "R", "R", "RW", "RW", "R"),
    # Bolt's invoice's collection fields (days overdue, promises); W: its reminder level.
    "account.move": ("", "", "", "R", "R", "R", "R", "", ""),
    # The ledger beyond the collection fields: Bolt's payment (W: its memo), a vendor
    # bill of the company (W: its reference).
    "account.payment": ("", "", "", "R", "RW", "RW", "R", "", ""),
    "account.move/vendor bill": ("", "", "", "", "RW", "RW", "", "", ""),
    # Bolt's invoice placed with an agency: placed by its button only; W: its instructions.
    "collection.placement": ("", "", "", "R", "R", "R", "RW", "", ""),
}


class _Done(Exception):
    """Raised once an operation succeeded, to roll it back."""


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionAccessMatrix(CollectionCommon):
    """Every role against every collection record: the allowed operations are exactly
    those of MATRIX."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.env
        cls.bolt = env["res.partner"].create({"name": "Bolt Industries", "is_company": True})
        cls.collector_2 = cls.make_user(
            "collector_2", "account_collection.group_collection_user", name="Cody Collector"
        )
        cls.bolt.with_company(cls.company).collection_user_id = cls.collector_2
        cls.bolt_invoice = cls.invoice(cls.bolt, 700.0, TODAY - timedelta(days=20))
        cls.bolt_invoice_2 = cls.invoice(cls.bolt, 300.0, TODAY - timedelta(days=10))
        cls.bolt_invoice_3 = cls.invoice(cls.bolt, 200.0, TODAY - timedelta(days=5))
        cls.bolt_invoice_4 = cls.invoice(cls.bolt, 100.0, TODAY - timedelta(days=1))
        company_2 = cls.setup_other_company(name="Other Company")["company"]
        portal = cls.make_user("bolt_portal", "base.group_portal", name="Pat Portal")
        portal.partner_id.parent_id = cls.bolt
        # Works in company 1, and may act in every company.
        cls.collection_manager.company_ids = env["res.company"].search([])
        cls.users = {
            "portal": portal,
            "public": env.ref("base.public_user"),
            "restricted": cls.collector,
            "collector": cls.collector,
            "billing": cls.make_user("billing", "account.group_account_invoice"),
            "accountant": cls.make_user("bookkeeper", "account.group_account_user"),
            "manager": cls.collection_manager,
            "other": cls.make_user(
                "manager_2", "account_collection.group_collection_manager", company_2
            ),
            "employee": cls.make_user("employee", "base.group_user"),
        }
        cls.reason = env.ref("account_collection.collection_dispute_reason_wrong_price")
        level = cls.make_policy("Matrix policy", [{"name": "Late", "delay": 5}])
        cls.level = level
        cls.agency = env["res.partner"].create(
            {"name": "Matrix Agency", "email": "agency@example.com", "collection_is_agency": True}
        )
        placement = env["collection.placement"]._collection_place(cls.bolt_invoice_4, cls.agency)
        cls.records = {
            "collection.interaction": env["collection.interaction"].create(
                {"partner_id": cls.bolt.id, "channel": "call", "outcome": "no_answer"}
            ),
            "collection.promise": env["collection.promise"].create(
                {"partner_id": cls.bolt.id, "amount": 100.0, "date": TODAY + timedelta(5)}
            ),
            "collection.dispute": env["collection.dispute"].create(
                {
                    "partner_id": cls.bolt.id,
                    "reason_id": cls.reason.id,
                    "move_ids": [Command.set(cls.bolt_invoice_3.ids)],
                }
            ),
            # sudo: reminders and deliveries are the engine's.
            "collection.communication": env["collection.communication"]
            .sudo()
            .create(
                {
                    "partner_id": cls.bolt.id,
                    "company_id": cls.company.id,
                    "level_id": level.id,
                    "date": TODAY,
                    "move_ids": [Command.set(cls.bolt_invoice.ids)],
                }
            ),
            "collection.policy": level.policy_id,
            "collection.level": level,
            # A stage no customer is in (one holding customers is not deleted).
            "collection.stage": env["collection.stage"].create({"name": "Matrix stage"}),
            "collection.dispute.reason": cls.reason,
            "collection.aging.bucket": env["collection.aging.bucket"].search(
                [("company_id", "=", cls.company.id)], limit=1
            ),
            "collection.cash.forecast": env["collection.cash.forecast"].search(
                [("move_id", "=", cls.bolt_invoice.id)]
            ),
            "collection.segment": env["collection.segment"].create(
                {
                    "name": "Matrix segment",
                    "domain": "[('id', '=', 0)]",
                    "policy_id": level.policy_id.id,
                }
            ),
            "collection.interest.rate": env.ref(
                "account_collection.collection_interest_rate_2025_2"
            ),
            "res.partner": cls.bolt,
            "account.move": cls.bolt_invoice,
            "collection.placement": placement,
            "account.payment": cls.customer_payment(cls.bolt, 50.0, TODAY),
            "account.move/vendor bill": cls.invoice(
                env["res.partner"].create({"name": "Victor Vendor"}),
                800.0,
                TODAY + timedelta(days=10),
                move_type="in_invoice",
            ),
        }
        agreement = env["collection.agreement"].create(
            {
                "partner_id": cls.bolt.id,
                "move_ids": [Command.set(cls.bolt_invoice_2.ids)],
                "instalment_count": 2,
                "date_first": TODAY + timedelta(30),
                "user_id": cls.collector_2.id,
            }
        )
        cls.records["collection.agreement"] = agreement
        cls.records["collection.reply"] = env["collection.reply"]._collection_receive(
            "sms", cls.company, "+15005550001", "hola", partner=cls.bolt
        )
        cls.records["collection.agreement.instalment"] = agreement.instalment_ids[:1]
        cls.records["collection.communication.delivery"] = (
            env["collection.communication.delivery"]
            .sudo()
            .create(
                {
                    "communication_id": cls.records["collection.communication"].id,
                    "channel": "email",
                    "recipient": "bolt@example.com",
                }
            )
        )
        # A reminder about Bolt's invoice sent by SMS today: a row of the effectiveness.
        env["collection.communication.delivery"].sudo().create(
            {
                "communication_id": cls.records["collection.communication"].id,
                "channel": "sms",
                "recipient": "+15005550001",
                "state": "sent",
                "date_sent": datetime.combine(TODAY, time(12, 0)),
            }
        )
        env.flush_all()
        cls.records["collection.recovery.report"] = env["collection.recovery.report"].search(
            [("move_id", "=", cls.bolt_invoice.id), ("bucket", "=", "000_030")]
        )
        cls.records["collection.effectiveness.report"] = env[
            "collection.effectiveness.report"
        ].search([("move_id", "=", cls.bolt_invoice.id)])
        cls.records["collection.invoice.dunning"] = (
            env["collection.invoice.dunning"]
            .sudo()
            .create({"move_id": cls.bolt_invoice.id, "level_id": level.id})
        )

    # What each operation is, per model: the field read, the values created and written.
    def operations(self, model):
        record = self.records[model]
        later = TODAY + timedelta(days=3)
        values = {
            "collection.interaction": (
                ["note"],
                {"partner_id": self.bolt.id, "channel": "note", "note": "x"},
                {"active": False},
            ),
            "collection.promise": (
                ["amount"],
                {"partner_id": self.bolt.id, "amount": 10.0, "date": later},
                {"note": "x"},
            ),
            "collection.dispute": (
                ["description"],
                {
                    "partner_id": self.bolt.id,
                    "reason_id": self.reason.id,
                    "move_ids": [Command.set(self.bolt_invoice.ids)],
                },
                {"description": "x"},
            ),
            "collection.agreement": (
                ["amount_total"],
                {
                    "partner_id": self.bolt.id,
                    "move_ids": [Command.set(self.bolt_invoice.ids)],
                    "instalment_count": 2,
                    "date_first": TODAY + timedelta(40),
                },
                {"note": "x"},
            ),
            "collection.agreement.instalment": (
                ["amount"],
                {
                    "agreement_id": self.records["collection.agreement"].id,
                    "date": TODAY + timedelta(60),
                    "amount": 1.0,
                },
                {"date": TODAY + timedelta(35)},
            ),
            "collection.communication": (
                ["overdue_amount"],
                {
                    "partner_id": self.bolt.id,
                    "company_id": self.company.id,
                    "level_id": self.level.id,
                    "date": later,
                    "move_ids": [Command.set(self.bolt_invoice.ids)],
                },
                {"user_id": self.collector.id},
            ),
            "collection.communication.delivery": (
                ["recipient"],
                {"communication_id": self.records["collection.communication"].id, "channel": "sms"},
                {"recipient": "x@example.com"},
            ),
            "collection.reply": (
                ["text"],
                {"partner_id": self.bolt.id, "company_id": self.company.id, "channel": "sms"},
                {"kind": "other"},
            ),
            "collection.invoice.dunning": (
                ["level_id"],
                {"move_id": self.bolt_invoice_4.id},
                {"last_reminder_date": TODAY},
            ),
            "collection.policy": (
                ["name"],
                {"name": "New", "company_id": self.company.id},
                {"name": "Renamed"},
            ),
            "collection.level": (
                ["delay"],
                {"name": "New", "delay": 40, "policy_id": self.level.policy_id.id},
                {"name": "Renamed"},
            ),
            "collection.stage": (["name"], {"name": "New"}, {"name": "Renamed"}),
            "collection.dispute.reason": (
                ["name"],
                {"name": "New", "company_id": self.company.id},
                {"name": "Renamed"},
            ),
            "collection.aging.bucket": (
                ["name"],
                {"name": "New", "company_id": self.company.id, "days_from": 500},
                {"name": "Renamed"},
            ),
            "collection.cash.forecast": (
                ["predicted_date", "amount_residual"],
                {"move_id": self.bolt_invoice.id},
                {"amount_residual": 1.0},
            ),
            "collection.recovery.report": (
                ["bucket", "amount_open", "recovery_rate"],
                {"move_id": self.bolt_invoice.id},
                {"amount_open": 1.0},
            ),
            "collection.effectiveness.report": (
                ["channel", "amount_reminded", "paid_7_days_rate"],
                {"move_id": self.bolt_invoice.id},
                {"amount_reminded": 1.0},
            ),
            "collection.segment": (
                ["name", "policy_id"],
                {
                    "name": "New",
                    "domain": "[('id', '=', 0)]",
                    "policy_id": self.level.policy_id.id,
                    "company_id": self.company.id,
                },
                {"name": "Renamed"},
            ),
            "collection.interest.rate": (
                ["rate"],
                {"date_from": "2030-01-01", "rate": 5.0},
                {"note": "Corrected"},
            ),
            "res.partner": (
                ["collection_status", "collection_user_id", "collection_overdue_amount"],
                None,
                {"collection_next_action_date": later},
            ),
            "account.move": (
                ["collection_days_overdue", "collection_promise_ids"],
                None,
                {"collection_level_id": False},
            ),
            "collection.placement": (
                ["state", "amount_collected"],
                {
                    "partner_id": self.bolt.id,
                    "agency_id": self.agency.id,
                    "move_ids": [Command.set(self.bolt_invoice_2.ids)],
                },
                {"note": "x"},
            ),
            "account.payment": (["amount", "partner_id"], None, {"memo": "x"}),
            "account.move/vendor bill": (["amount_total", "ref"], None, {"ref": "x"}),
        }[model]
        return record, *values

    def allowed(self, user, model):
        """The operations ``user`` may do on ``model`` (each tried, then rolled back)."""
        record, read_fields, create_vals, write_vals = self.operations(model)
        # "model/what": a record of ``model`` other than the collection one.
        Model = self.env[model.split("/")[0]].with_user(user)

        def read():
            # A read that returns nothing (a row of another company's forecast, which
            # does not exist in the user's company) is no read.
            if not record.with_user(user).read(read_fields):
                raise UserError("nothing read")

        attempts = {
            "R": read,
            "C": (lambda: Model.create(create_vals)) if create_vals is not None else None,
            "W": lambda: record.with_user(user).write(write_vals),
            # Deleting the partner, an invoice or a payment is not a collection matter.
            "U": (lambda: record.with_user(user).unlink())
            if model.split("/")[0] not in ("res.partner", "account.move", "account.payment")
            else None,
        }
        result = ""
        for operation, attempt in attempts.items():
            if attempt is None:
                continue
            try:
                with mute_logger("odoo.sql_db"), self.env.cr.savepoint():
                    attempt()
                    self.env.flush_all()
                    raise _Done  # allowed: roll back what it did
            except _Done:
                result += operation
            except (UserError, psycopg2.IntegrityError):
                # Refused, by the rights or by the data (a level in use stays).
                pass
            finally:
                self.env.invalidate_all()
        return result

    def test_access_matrix(self):
        actual = {}
        for model in MATRIX:
            row = []
            for role in ROLES:
                self.company.collection_portfolio_restricted = role == "restricted"
                row.append(self.allowed(self.users[role], model))
            actual[model] = tuple(row)
        mismatches = [
            f"{model}: {role}: expected {expected!r}, got {got!r}"
            for model, row in MATRIX.items()
            for role, expected, got in zip(ROLES, row, actual[model], strict=True)
            if expected != got
        ]
        self.assertFalse(mismatches, "\n".join(mismatches))
