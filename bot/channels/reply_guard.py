"""Every channel's reply deadline, and what a person gets when the assistant can't answer.

Within the deadline a person gets the assistant's answer or, when it timed out or failed
(action server down or hung, tracker store or lock store unreachable), a clear reply at
once:
- a red flag still gets the emergency reply, and an urgent sign the urgent reply: the NLU
  pipeline decides that alone, without the action server, the tracker store or a lock;
- anything else gets `utter_unavailable` ("can't answer right now", with the emergency
  numbers).
The fallback goes through the assistant's own response generator (bot/nlg.py), so it
carries the emergency numbers and, when the conversation or the message says the pain is
persistent, the doctor advice, exactly as an answer in time would.
A turn that did not finish is not stored, so nothing is half-stored: Rasa saves a
tracker only at the end of a turn, and REST replies collected before a failure are
replaced by the fallback. Logs name the failure, never what the user wrote.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any

import yaml
from rasa.core.agent import Agent
from rasa.core.channels.channel import CollectingOutputChannel, OutputChannel, UserMessage
from rasa.shared.core.events import SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import ENTITIES, ENTITY_ATTRIBUTE_TYPE, INTENT, INTENT_NAME_KEY

from bot.emergency import EMERGENCY_RESPONSE
from bot.nlu.names import PERSISTENCE_ENTITY, PERSISTENCE_SLOT, PERSISTENT
from bot.stores.tracker_store import TrackerStoreUnavailable
from ops.settings import ROOT

logger = logging.getLogger(__name__)

# The intents the safety layer sets, and their replies (data/rules/safety.yml).
SAFETY_REPLIES = {
    "report_red_flag": EMERGENCY_RESPONSE,
    "report_urgent_symptom": "utter_urgent_care",
}
UNAVAILABLE = "utter_unavailable"
# How long the fallback's own NLU parse may take before the plain fallback goes out.
SAFETY_PARSE_SECONDS = 1.0
# How long a turn already being delivered may take to finish: past this it is cancelled.
FINISH_SECONDS = 30.0


@cache
def domain_responses() -> dict[str, list[dict]]:
    """domain.yml's responses, read from the file: the fallback works without a model."""
    return yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"]


class CountingOutput(OutputChannel):
    """The channel's own output, counting the replies the assistant sends through it."""

    def __init__(self, output: OutputChannel) -> None:
        self.output = output
        self.replies = 0

    def name(self) -> str:  # type: ignore[override]  # responses may vary by channel
        return self.output.name()

    @property
    def delivered(self) -> bool:
        """Whether a reply already reached the person (collected REST replies have not)."""
        return self.replies > 0 and not isinstance(self.output, CollectingOutputChannel)

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        self.replies += 1
        await self.output.send_response(recipient_id, message)


async def fallback_reply(agent: Agent | None, message: UserMessage) -> dict[str, Any]:
    """The reply for a message the assistant could not answer in time."""
    if agent is None or agent.processor is None:
        return dict(domain_responses()[UNAVAILABLE][0])
    try:
        parsed = await asyncio.wait_for(
            agent.processor.parse_message(UserMessage(message.text or "")),
            SAFETY_PARSE_SECONDS,
        )
    except Exception as error:  # noqa: BLE001 - any failure still gets the plain fallback
        logger.warning("Safety check of an unanswered message failed: %s", type(error).__name__)
        parsed = {}
    intent = (parsed.get(INTENT) or {}).get(INTENT_NAME_KEY)
    response = SAFETY_REPLIES.get(intent, UNAVAILABLE)
    # The safety replies carry no advice (endpoints.yml), so only the plain fallback asks.
    persistent = response == UNAVAILABLE and (
        any(
            entity.get(ENTITY_ATTRIBUTE_TYPE) == PERSISTENCE_ENTITY
            for entity in parsed.get(ENTITIES, ())
        )
        or await stored_persistence(agent, message.sender_id)
    )
    said = UserUttered(message.text, parsed or None, metadata=message.metadata)
    remembered = [SlotSet(PERSISTENCE_SLOT, PERSISTENT)] if persistent else []
    tracker = DialogueStateTracker.from_events(
        message.sender_id, [said, *remembered], slots=agent.domain.slots
    )
    try:
        return await agent.nlg.generate(response, tracker, message.output_channel.name())
    except Exception as error:  # noqa: BLE001 - the reply itself must still go out
        logger.warning("Generating the fallback failed: %s", type(error).__name__)
        return dict(domain_responses()[response][0])


async def stored_persistence(agent: Agent, sender_id: str) -> bool:
    """Whether the stored conversation knows the pain is persistent; False if unreadable.

    The store may be what failed, so the read gets a short deadline of its own.
    """
    try:
        tracker = await asyncio.wait_for(
            agent.tracker_store.retrieve(sender_id), SAFETY_PARSE_SECONDS
        )
    except (Exception, TrackerStoreUnavailable) as error:  # noqa: BLE001
        logger.warning("Reading the unanswered conversation failed: %s", type(error).__name__)
        return False
    return tracker is not None and tracker.get_slot(PERSISTENCE_SLOT) == PERSISTENT


async def answer_in_time(
    handle: Callable[[UserMessage], Awaitable[Any]],
    message: UserMessage,
    agent: Agent | None,
    deadline_seconds: float,
) -> None:
    """Let the assistant answer `message`, or send the fallback once it can't.

    A turn whose answer the person is already reading (a streaming channel delivered part
    of it) is allowed to finish, so that it is stored whole; any other turn still
    unfinished at the deadline is cancelled, and nothing of it is stored.
    """
    output = CountingOutput(message.output_channel)
    message.output_channel = output
    turn = asyncio.ensure_future(handle(message))
    try:
        done, _ = await asyncio.wait({turn}, timeout=deadline_seconds)
        if not done and output.delivered:
            done, _ = await asyncio.wait({turn}, timeout=FINISH_SECONDS)
    except asyncio.CancelledError:  # the client went away: its turn goes too
        turn.cancel()
        raise
    if not done:
        turn.cancel()
        await asyncio.wait({turn})
        logger.warning("No answer within %s s; sending the fallback.", deadline_seconds)
    elif turn.exception() is not None:
        failure = type(turn.exception()).__name__
        logger.warning("The assistant failed (%s); sending the fallback.", failure)
    elif output.replies:
        return
    else:
        logger.warning("The assistant sent no reply; sending the fallback.")
    if output.delivered:
        return  # the person already has part of an answer; "can't answer" would confuse
    if isinstance(output.output, CollectingOutputChannel):
        output.output.messages.clear()  # never delivered: replaced by the fallback
    await output.output.send_response(message.sender_id, await fallback_reply(agent, message))
