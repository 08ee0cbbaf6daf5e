"""The digest's figures from a synced sandbox organisation, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from sqlalchemy import select, update

from bot.chasing.digest_builder import DigestBuilder
from bot.chasing.policy import ChaseFacts, SkipReason, skip_reason
from bot.chasing.receivables_service import ReceivablesService
from storage.db import session_scope
from storage.models import Contact, ContactEmail, Invoice
from storage.settings import update_organisation_settings


def synced(make_world, **kwargs):
    world = make_world(**kwargs)
    (report,) = world.ctx.sync_service().sync_all()
    assert report.outcome == "ok", report
    return world


def test_totals_buckets_and_ranking_agree_with_the_receivables_summary(make_world):
    world = synced(make_world, contacts=15, invoices=150)
    builder = DigestBuilder(world.ctx.session_factory, world.ctx.clock)
    digest = builder.build(world.connection_id, page_size=5)
    summary = ReceivablesService(world.ctx.session_factory, world.ctx.clock).for_connection(
        world.connection_id
    ).summary

    assert digest.today == summary.today
    assert digest.open.count == summary.open.count > 0
    assert digest.open.totals == summary.open.totals
    assert digest.overdue.totals == summary.overdue.totals
    assert abs(digest.overdue.base - summary.overdue.base) < Decimal("0.0001")
    for bucket, figures in summary.buckets.items():
        assert (digest.buckets[bucket].count, digest.buckets[bucket].totals) == (
            figures.count, figures.totals)
    ranked = [line.receivable.invoice_id for line in summary.overdue_lines]
    assert [line.invoice_id for line in digest.lines] == ranked[:5]
    second = builder.build(world.connection_id, page=1, page_size=5)
    assert [line.invoice_id for line in second.lines] == ranked[5:10]
    assert second.first_line_number == 6


def test_not_chased_counts_are_what_the_policy_says_for_each_invoice(make_world):
    world = synced(make_world, contacts=12, invoices=120)
    factory = world.ctx.session_factory
    with session_scope(factory) as session:
        ids = list(session.scalars(select(Invoice.id).where(Invoice.type == "ACCREC",
                                                            Invoice.status == "AUTHORISED")))
        session.execute(update(Invoice).where(Invoice.id.in_(ids[:3])).values(chasing_paused=True))
        session.execute(update(Invoice).where(Invoice.id.in_(ids[3:5])).values(disputed=True))
        contact_id = session.scalar(select(Invoice.contact_id).where(Invoice.id == ids[10]))
        session.execute(update(ContactEmail).where(ContactEmail.contact_id == contact_id)
                        .values(include_in_emails=False))
        update_organisation_settings(session, world.connection_id, by="test",
                                     minimum_chase_amount=Decimal("500"))

    digest = DigestBuilder(factory, world.ctx.clock).build(world.connection_id)

    expected: Counter[SkipReason] = Counter()
    with session_scope(factory) as session:
        rows = session.execute(
            select(Invoice, Contact).outerjoin(Contact, Contact.id == Invoice.contact_id)
            .where(Invoice.connection_id == world.connection_id, Invoice.type == "ACCREC",
                   Invoice.status == "AUTHORISED", Invoice.amount_due > 0)
        ).all()
        for invoice, contact in rows:
            has_email = contact is not None and any(e.include_in_emails for e in contact.emails)
            reason = skip_reason(ChaseFacts(
                status=invoice.status, amount_due=invoice.amount_due,
                currency_rate=invoice.currency_rate,
                expected_payment_date=invoice.expected_payment_date,
                invoice_paused=invoice.chasing_paused, disputed=invoice.disputed,
                customer_paused=bool(contact and contact.chasing_paused),
                has_email=has_email, minimum_amount=Decimal("500"),
                has_due_date=invoice.due_date is not None,
            ), digest.today)
            if reason is not None:
                expected[reason] += 1
    assert expected[SkipReason.INVOICE_PAUSED] == 3
    assert expected[SkipReason.DISPUTED] == 2
    assert expected[SkipReason.BELOW_MINIMUM] > 0
    assert digest.not_chased == dict(expected)
