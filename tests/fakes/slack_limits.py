"""What real Slack rejects in a message or view: Block Kit limits, checked the way Slack does.

Figures from docs.slack.dev (block-kit, section-block, actions-block, button-element,
chat.postMessage, surfaces/modals) as gathered in shared/reference/slack-platform.md §3-4.
Errors read like Slack's: `invalid_blocks` with "[ERROR] ... [json-pointer:/blocks/3/text]".
"""

from __future__ import annotations

from typing import Any

MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
MESSAGE_TEXT = 40_000
SECTION_TEXT = 3_000
SECTION_FIELDS = 10
FIELD_TEXT = 2_000
HEADER_TEXT = 150
BLOCK_ID = 255
ACTION_ID = 255
ACTIONS_ELEMENTS = 25
CONTEXT_ELEMENTS = 10
BUTTON_TEXT = 75
BUTTON_VALUE = 2_000
URL = 3_000
VIEW_TITLE = 24
VIEW_BUTTON = 24
PRIVATE_METADATA = 3_000
CALLBACK_ID = 255
OPTION_TEXT = 75
OPTION_VALUE = 150
OPTIONS = 100
PLACEHOLDER = 150
INPUT_LABEL = 2_000
TEXT_TYPES = ("plain_text", "mrkdwn")


def _text(obj: Any, limit: int, where: str, problems: list[str], *,
          plain_only: bool = False) -> None:
    if not isinstance(obj, dict) or obj.get("type") not in TEXT_TYPES:
        problems.append(f"must be a text object [json-pointer:{where}]")
        return
    if plain_only and obj["type"] != "plain_text":
        problems.append(f"must be plain_text [json-pointer:{where}/type]")
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        problems.append(f"must provide text [json-pointer:{where}/text]")
    elif len(text) > limit:
        problems.append(f"must be less than {limit + 1} characters [json-pointer:{where}/text]")


def _element(element: Any, where: str, problems: list[str]) -> None:
    if not isinstance(element, dict) or "type" not in element:
        problems.append(f"must provide an element type [json-pointer:{where}]")
        return
    if len(str(element.get("action_id", ""))) > ACTION_ID:
        problems.append(f"must be less than {ACTION_ID + 1} characters "
                        f"[json-pointer:{where}/action_id]")
    kind = element["type"]
    if kind == "button":
        _text(element.get("text"), BUTTON_TEXT, f"{where}/text", problems, plain_only=True)
        if len(str(element.get("value", ""))) > BUTTON_VALUE:
            problems.append(f"must be less than {BUTTON_VALUE + 1} characters "
                            f"[json-pointer:{where}/value]")
        if len(str(element.get("url", ""))) > URL:
            problems.append(f"must be less than {URL + 1} characters [json-pointer:{where}/url]")
    if "placeholder" in element:
        _text(element["placeholder"], PLACEHOLDER, f"{where}/placeholder", problems,
              plain_only=True)
    options = element.get("options")
    if options is not None:
        if not isinstance(options, list) or len(options) > OPTIONS:
            problems.append(f"must be less than {OPTIONS + 1} items [json-pointer:{where}/options]")
        else:
            for i, option in enumerate(options):
                _text(option.get("text"), OPTION_TEXT, f"{where}/options/{i}/text", problems)
                if len(str(option.get("value", ""))) > OPTION_VALUE:
                    problems.append(f"must be less than {OPTION_VALUE + 1} characters "
                                    f"[json-pointer:{where}/options/{i}/value]")


def block_problems(blocks: Any, limit: int) -> list[str]:
    """Slack-style error lines for `blocks` ([] when Slack would accept them)."""
    if not isinstance(blocks, list):
        return ["must be an array [json-pointer:/blocks]"]
    problems: list[str] = []
    if len(blocks) > limit:
        problems.append(f"must be less than {limit + 1} items [json-pointer:/blocks]")
    for i, block in enumerate(blocks):
        where = f"/blocks/{i}"
        if not isinstance(block, dict) or "type" not in block:
            problems.append(f"must provide a block type [json-pointer:{where}]")
            continue
        if len(str(block.get("block_id", ""))) > BLOCK_ID:
            problems.append(f"must be less than {BLOCK_ID + 1} characters "
                            f"[json-pointer:{where}/block_id]")
        kind = block["type"]
        if kind == "section":
            if "text" not in block and "fields" not in block:
                problems.append(f"must provide text or fields [json-pointer:{where}]")
            if "text" in block:
                _text(block["text"], SECTION_TEXT, f"{where}/text", problems)
            fields = block.get("fields") or []
            if len(fields) > SECTION_FIELDS:
                problems.append(f"must be less than {SECTION_FIELDS + 1} items "
                                f"[json-pointer:{where}/fields]")
            for j, field in enumerate(fields):
                _text(field, FIELD_TEXT, f"{where}/fields/{j}", problems)
            if "accessory" in block:
                _element(block["accessory"], f"{where}/accessory", problems)
        elif kind == "header":
            _text(block.get("text"), HEADER_TEXT, f"{where}/text", problems, plain_only=True)
        elif kind == "actions":
            elements = block.get("elements") or []
            if not elements or len(elements) > ACTIONS_ELEMENTS:
                problems.append(f"must have 1 to {ACTIONS_ELEMENTS} items "
                                f"[json-pointer:{where}/elements]")
            for j, element in enumerate(elements):
                _element(element, f"{where}/elements/{j}", problems)
        elif kind == "context":
            elements = block.get("elements") or []
            if not elements or len(elements) > CONTEXT_ELEMENTS:
                problems.append(f"must have 1 to {CONTEXT_ELEMENTS} items "
                                f"[json-pointer:{where}/elements]")
            for j, element in enumerate(elements):
                if isinstance(element, dict) and element.get("type") in TEXT_TYPES:
                    _text(element, SECTION_TEXT, f"{where}/elements/{j}", problems)
        elif kind == "input":
            _text(block.get("label"), INPUT_LABEL, f"{where}/label", problems, plain_only=True)
            _element(block.get("element"), f"{where}/element", problems)
    return problems


def view_problems(view: Any) -> list[str]:
    """Slack-style error lines for a modal or Home tab view."""
    if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
        return ["must be a modal or home view [json-pointer:/view/type]"]
    problems = block_problems(view.get("blocks"), VIEW_BLOCKS)
    if view["type"] == "modal":
        _text(view.get("title"), VIEW_TITLE, "/view/title", problems, plain_only=True)
        for button in ("submit", "close"):
            if button in view:
                _text(view[button], VIEW_BUTTON, f"/view/{button}", problems, plain_only=True)
        has_input = any(isinstance(b, dict) and b.get("type") == "input"
                        for b in view.get("blocks") or [])
        if has_input and "submit" not in view:
            problems.append("must provide submit when there are input blocks "
                            "[json-pointer:/view/submit]")
    if len(str(view.get("private_metadata", ""))) > PRIVATE_METADATA:
        problems.append(f"must be less than {PRIVATE_METADATA + 1} characters "
                        "[json-pointer:/view/private_metadata]")
    if len(str(view.get("callback_id", ""))) > CALLBACK_ID:
        problems.append(f"must be less than {CALLBACK_ID + 1} characters "
                        "[json-pointer:/view/callback_id]")
    return problems
