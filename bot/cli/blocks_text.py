"""Block Kit shown in a terminal: the digest the CLI prints is the message Slack would show."""

from __future__ import annotations

import re
from typing import Any

from rich.markup import escape
from rich.text import Text

# The few emoji codes our messages use, as the characters Slack would draw.
EMOJI = {
    ":warning:": "⚠",
    ":tada:": "🎉",
    ":calendar:": "📅",
    ":double_vertical_bar:": "⏸",
    ":white_check_mark:": "✅",
}
_LINK = re.compile(r"<([^|>]+)\|([^>]+)>|<([^>]+)>")
_BOLD = re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_([^_\n]+)_(?![\w_])")
_CODE = re.compile(r"`([^`\n]+)`")


def mrkdwn(text: str) -> str:
    """Slack mrkdwn as rich markup: bold, italics, code, links (shown by their text), emoji."""
    links: list[str] = []

    def keep_link(match: re.Match[str]) -> str:
        url, label, bare = match.group(1), match.group(2), match.group(3)
        links.append(f"[link={url or bare}]{escape(_unescape(label or bare))}[/link]")
        return f"\x00{len(links) - 1}\x00"

    text = _LINK.sub(keep_link, text)
    text = escape(_unescape(text))
    for code, char in EMOJI.items():
        text = text.replace(code, char)
    text = _CODE.sub(r"[cyan]\1[/cyan]", text)
    text = _BOLD.sub(r"[bold]\1[/bold]", text)
    text = _ITALIC.sub(r"[italic]\1[/italic]", text)
    return re.sub("\x00(\\d+)\x00", lambda m: links[int(m.group(1))], text)


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _element(element: dict[str, Any]) -> str:
    kind = element.get("type")
    if kind == "button":
        label = escape(element["text"]["text"])
        if "url" in element:
            return f"[link={element['url']}][blue]\\[{label} ↗][/blue][/link]"
        return f"[blue]\\[{label}][/blue]"
    if kind == "datepicker":
        when = element.get("initial_date") or element.get("placeholder", {}).get("text", "date")
        return f"[blue]\\[📅 {escape(when)}][/blue]"
    if kind in ("mrkdwn", "plain_text"):
        return mrkdwn(element["text"]) if kind == "mrkdwn" else escape(element["text"])
    return ""


def render_blocks(blocks: list[dict[str, Any]], width: int = 100) -> list[Text]:
    """Each block as one rich Text, in order (headers bold, context dim, buttons bracketed)."""
    out: list[Text] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            out.append(Text.from_markup(f"[bold underline]{escape(block['text']['text'])}"))
        elif kind == "divider":
            out.append(Text("─" * min(width, 60), style="dim"))
        elif kind == "context":
            joined = "  ".join(_element(e) for e in block.get("elements", []))
            out.append(Text.from_markup(f"[dim]{joined}[/dim]"))
        elif kind == "section":
            parts = []
            if "text" in block:
                parts.append(_element(block["text"]))
            for field in block.get("fields", []):
                parts.append("  " + _element(field).replace("\n", ": ", 1))
            if "accessory" in block:
                parts.append(_element(block["accessory"]))
            out.append(Text.from_markup("\n".join(parts)))
        elif kind == "actions":
            out.append(Text.from_markup("  ".join(_element(e) for e in block["elements"])))
        else:  # a kind the terminal does not draw (images, inputs...)
            out.append(Text(""))
    return out
