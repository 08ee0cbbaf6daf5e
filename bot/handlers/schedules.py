"""/chaser schedule and the schedule modal: list them, edit one (admins), put a customer on one.

The modal is pushed over /chaser settings (its "Edit chasing schedules" button) or opened by
`/chaser schedule edit`; a submission is checked whole, answered with Slack's
`response_action: "errors"` keyed by block_id when anything is wrong, and saved by the
ScheduleEditor (admins only, audited) otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError

from bot import messages
from bot.blocks.schedule_modal import (
    NEW,
    ListedSchedule,
    ScheduleChoice,
    ScheduleListing,
    ScheduleModalValues,
    block_id,
    customer_choice_blocks,
    notice_modal,
    read_submission,
    schedule_list_blocks,
    schedule_modal,
)
from bot.chasing.lookup_views import CustomerChoice
from bot.chasing.lookups import find_customers
from bot.chasing.organisations import pick_organisations, workspace_organisations
from bot.chasing.permissions import NotAllowed
from bot.chasing.recipients import BadEmail, sender_address
from bot.chasing.schedule_editor import ScheduleBook, Sender
from bot.chasing.schedule_form import FormField, read_form
from bot.chasing.schedules import sender_name
from bot.errors import BadInput, UserFacingError
from bot.handlers import errors
from bot.handlers.chaser_command import BadArguments, Call, Route
from bot.handlers.support import actor_of, call_actor, services
from bot.ids import Action, Block, Subcommand, View
from bot.messages import SLACK
from bot.payloads import ScheduleAssign, ScheduleRef, SettingsForm, decode_as
from storage.db import session_scope

if TYPE_CHECKING:
    from slack_bolt import Ack, App, Respond
    from slack_sdk import WebClient

    from bot.deps import AppDeps

DEFAULT = -1  # modal_values: show the organisation's default schedule


@dataclass(frozen=True)
class ScheduleArgs:
    """What follows `/chaser schedule`: nothing (list), `edit [org]` or `customer <words>`."""

    action: str = "list"
    words: tuple[str, ...] = ()


def parse_schedule(words: Sequence[str]) -> ScheduleArgs:
    """list | edit [org] | customer <name> <schedule> (the schedule is read at run time)."""
    if not words:
        return ScheduleArgs()
    first, rest = words[0].lower(), tuple(words[1:])
    if first == "edit":
        return ScheduleArgs("edit", rest)
    if first == "customer" and len(rest) >= 2:
        return ScheduleArgs("customer", rest)
    raise BadArguments("schedule takes edit or customer")


def split_customer(words: Sequence[str], names: Sequence[str]) -> tuple[str, str] | None:
    """(customer, schedule) where the words end with a schedule's name (the longest such
    name wins, any case), or None when they end with none."""
    known = {name.casefold(): name for name in names}
    for start in range(1, len(words)):
        found = known.get(" ".join(words[start:]).strip().casefold())
        if found is not None:
            return " ".join(words[:start]).strip(), found
    return None


def modal_values(book: ScheduleBook, chosen: int | None, *,
                 root: bool = False) -> ScheduleModalValues:
    """The modal's values showing schedule `chosen` (DEFAULT: the default; None: a new one,
    starting from the default's steps)."""
    default = next((s for s in book.schedules if s.is_default), book.schedules[0])
    stored = next((s for s in book.schedules if s.id == chosen), default)
    return ScheduleModalValues(
        connection_id=book.connection_id, organisation=book.organisation,
        choices=[ScheduleChoice(s.id, s.spec.name, s.is_default) for s in book.schedules],
        chosen=None if chosen is None else stored.id, spec=stored.spec,
        is_default=chosen is not None and stored.is_default,
        sender_name=book.sender.name, sender_email=book.sender.email,
        escalated_sender_name=book.escalated_sender.name,
        escalated_sender_email=book.escalated_sender.email, root=root)


def _listing(book: ScheduleBook) -> ScheduleListing:
    return ScheduleListing(book.organisation, [
        ListedSchedule(s.spec, s.is_default, book.customers.get(s.id, 0))
        for s in book.schedules])


def routes(app: App, deps: AppDeps) -> list[Route]:
    """schedule [edit [org] | customer <name> <schedule>], the modal and its buttons."""
    editor = services(app, deps).schedules

    def schedule(call: Call, args: ScheduleArgs, ack: Ack, respond: Respond,
                 client: WebClient) -> None:
        ack()
        if args.action == "list":
            books = editor.books(call.workspace_id)
            if not books:
                raise UserFacingError(messages.NO_CONNECTIONS)
            respond(text=messages.SCHEDULES_HEADING, response_type="ephemeral",
                    blocks=schedule_list_blocks([_listing(b) for b in books]))
        elif args.action == "edit":
            editor.require(call_actor(call))
            with session_scope(deps.session_factory) as session:
                (connection,) = pick_organisations(
                    workspace_organisations(session, call.workspace_id),
                    " ".join(args.words).strip() or None, one=True)
                connection_id = connection.id
            book = editor.book(call.workspace_id, connection_id)
            client.views_open(trigger_id=call.trigger_id,
                              view=schedule_modal(modal_values(book, DEFAULT, root=True)))
        else:
            assign_typed(call, args.words, respond)

    def assign_typed(call: Call, words: Sequence[str], respond: Respond) -> None:
        split = split_customer(words, editor.schedule_names(call.workspace_id))
        if split is None:
            raise UserFacingError(messages.no_schedule_named(
                " ".join(words), sorted(set(editor.schedule_names(call.workspace_id)))))
        customer, schedule_name = split
        with session_scope(deps.session_factory) as session:
            found = find_customers(session, call.workspace_id, customer)
            if isinstance(found, CustomerChoice):
                respond(text=messages.SCHEDULE_CUSTOMER_CHOOSE.format(
                            asked=customer, schedule=schedule_name),
                        blocks=customer_choice_blocks(customer, found.matches, schedule_name),
                        response_type="ephemeral")
                return
            contact_id = found.id
        assigned = editor.assign(call_actor(call), contact_id, schedule_name)
        respond(text=messages.schedule_assigned(assigned.customer, assigned.organisation,
                                                assigned.schedule, assigned.default),
                response_type="ephemeral")

    def customer_picked(ack: Ack, body: dict[str, Any], context: Any, respond: Respond,
                        client: WebClient) -> None:
        ack()
        try:
            picked = decode_as(body["actions"][0].get("value"), ScheduleAssign)
            assigned = editor.assign(actor_of(body, context), picked.k, picked.n)
            respond(text=messages.schedule_assigned(assigned.customer, assigned.organisation,
                                                    assigned.schedule, assigned.default),
                    response_type="ephemeral", replace_original=True)
        except Exception as error:  # after the ack: see errors.report
            errors.report(error, body, client)

    def edit_clicked(ack: Ack, body: dict[str, Any], context: Any, client: WebClient) -> None:
        ack()
        try:
            form = decode_as(body["actions"][0].get("value"), SettingsForm)
            actor = actor_of(body, context)
            try:
                editor.require(actor, form.c)
            except NotAllowed as refused:  # said in a modal: only they see it (audited)
                client.views_push(trigger_id=body["trigger_id"],
                                  view=notice_modal(refused.text(SLACK)))
                return
            book = editor.book(actor.workspace_id, form.c)
            client.views_push(trigger_id=body["trigger_id"],
                              view=schedule_modal(modal_values(book, DEFAULT)))
        except Exception as error:  # after the ack: see errors.report
            errors.report(error, body, client)

    def schedule_picked(ack: Ack, body: dict[str, Any], context: Any,
                        client: WebClient) -> None:
        ack()
        try:
            view = body["view"]
            ref = decode_as(view.get("private_metadata"), ScheduleRef)
            value = (body["actions"][0].get("selected_option") or {}).get("value") or NEW
            book = editor.book(actor_of(body, context).workspace_id, ref.c)
            # The hash makes Slack refuse the update if the view changed meanwhile.
            client.views_update(view_id=view["id"], hash=view.get("hash"), view=schedule_modal(
                modal_values(book, None if value == NEW else int(value), root=ref.r)))
        except SlackApiError as error:
            if (error.response or {}).get("error") != "hash_conflict":
                errors.report(error, body, client)
            # else a second pick raced the first's redraw, which stands with its picker showing
            # it (views.update: "The view may have been updated by another process").
        except Exception as error:  # after the ack: see errors.report
            errors.report(error, body, client)

    def submitted(ack: Ack, body: dict[str, Any], context: Any, view: dict[str, Any],
                  client: WebClient) -> None:
        ref = decode_as(view.get("private_metadata"), ScheduleRef)
        actor = actor_of(body, context)
        book = editor.book(actor.workspace_id, ref.c)
        current = next((s for s in book.schedules if s.id == ref.s), None)
        chosen = None if current is None else current.id
        submission = read_submission(view["state"]["values"], chosen,
                                     current.spec.name if current else None)
        result = read_form(submission.form,
                           thank_you=current.spec.thank_you if current else None)
        problems = {submission.error_for(f): m.render(SLACK) for f, m in result.errors.items()}
        taken = next((s.spec.name for s in book.schedules if result.spec is not None
                      and s.spec.name.casefold() == result.spec.name.casefold()), None)
        if current is None and taken is not None:
            problems[submission.error_for(FormField.NAME)] = \
                messages.SCHEDULE_NAME_TAKEN.format(name=taken)
        for block, email in ((Block.SENDER_EMAIL, submission.sender_email),
                             (Block.ESCALATED_SENDER_EMAIL, submission.escalated_sender_email)):
            try:
                if email:
                    sender_address(email)
            except BadEmail as bad:
                problems[block_id(block, chosen)] = bad.text(SLACK)
        # The inputs' max_length binds Slack's clients only: past it, the save would fail
        # after this modal closed, losing what was typed.
        for block, typed in ((Block.SENDER_NAME, submission.sender_name),
                             (Block.ESCALATED_SENDER_NAME, submission.escalated_sender_name)):
            try:
                sender_name(typed)
            except BadInput as bad:
                problems[block_id(block, chosen)] = bad.text(SLACK)
        if problems or result.spec is None:
            ack(response_action="errors", errors=problems)
            return
        try:
            saved = editor.save(
                actor, ref.c, result.spec, make_default=submission.make_default,
                sender=Sender(submission.sender_name, submission.sender_email),
                escalated_sender=Sender(submission.escalated_sender_name,
                                        submission.escalated_sender_email))
        except NotAllowed as refused:
            ack(response_action="errors",
                errors={block_id(Block.SCHEDULE_OVERDUE, chosen): refused.text(SLACK)[:150]})
            return
        ack()  # closes this modal only: a pushed one goes back to the settings under it
        try:
            client.chat_postMessage(channel=actor.user_id, text=messages.SCHEDULE_SAVED.format(
                schedule=saved.spec.name, name=book.organisation))
        except Exception as error:  # after the ack: see errors.report
            errors.report(error, body, client)

    app.action(Action.SETTINGS_EDIT_SCHEDULE)(edit_clicked)
    app.action(Action.SCHEDULE_PICK)(schedule_picked)
    app.action(re.compile(f"^{Action.SCHEDULE_CUSTOMER_PICK}(:|$)"))(customer_picked)
    app.view(View.SCHEDULE)(submitted)
    return [Route(Subcommand.SCHEDULE, parse_schedule, schedule)]
