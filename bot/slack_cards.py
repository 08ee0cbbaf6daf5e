"""The SlackCards port with slack_sdk: escalation cards and forewarns posted and updated."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.blocks.escalation import escalation_blocks, escalation_text
from bot.blocks.forewarn import forewarn_blocks, forewarn_text
from bot.chasing.ports import CardRef

if TYPE_CHECKING:
    from bot.chasing.escalation_view import EscalationView
    from bot.chasing.forewarn_view import ForewarnView
    from bot.slack_clients import SlackClients


class SlackCardPoster:
    """Posts with the workspace's own bot token; a user id as destination is a DM."""

    def __init__(self, clients: SlackClients) -> None:
        self._clients = clients

    def _post(self, team_id: str, channel: str, blocks: list, text: str) -> CardRef:
        # chat.postMessage to a user id posts in the app's DM with them and answers with the
        # DM's channel id, which chat.update needs later (docs: chat.postMessage "channel").
        response = self._clients.for_team(team_id).chat_postMessage(
            channel=channel, blocks=blocks, text=text, unfurl_links=False, unfurl_media=False,
        )
        return CardRef(str(response["channel"]), str(response["ts"]))

    def _update(self, team_id: str, card: CardRef, blocks: list, text: str) -> None:
        self._clients.for_team(team_id).chat_update(
            channel=card.channel_id, ts=card.ts, blocks=blocks, text=text,
        )

    def post_escalation(self, team_id: str, destination: str, view: EscalationView) -> CardRef:
        return self._post(team_id, destination, escalation_blocks(view), escalation_text(view))

    def update_escalation(self, team_id: str, card: CardRef, view: EscalationView) -> None:
        self._update(team_id, card, escalation_blocks(view), escalation_text(view))

    def post_forewarn(self, team_id: str, channel_id: str, view: ForewarnView) -> CardRef:
        return self._post(team_id, channel_id, forewarn_blocks(view), forewarn_text(view))

    def update_forewarn(self, team_id: str, card: CardRef, view: ForewarnView) -> None:
        self._update(team_id, card, forewarn_blocks(view), forewarn_text(view))
