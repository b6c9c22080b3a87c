"""Rasa's response generator: doctor advice once pain persists, numbers on the emergency reply.

Once the conversation knows the pain is persistent (slot `pain_persistence`), every later
reply recommends a doctor (issue 11). Health answers get the advice from their action;
this generator adds it to domain.yml's other responses (greeting, "not understood", scope,
thanks...), as its own paragraph, in the knowledge file's words, so the advice has one
source. Responses listed in endpoints.yml's `without_advice` keep their own wording: the
safety replies, which carry no self-care and already send the person onward, and the
disclaimer, which is always followed by an answer that has the advice.

Once the user has reported a red flag (slot `emergency_reported`), every later reply
starts by reminding them to call the emergency number: this generator puts the reminder
before domain.yml's other responses, and the health answers' action sends it first.

The emergency reply and the reminder get the emergency numbers for where the person seems
to be, from the message's `locale` and `time_zone` metadata (bot/emergency.py), in their
response metadata.
It is a domain response generated in the Rasa server, so it needs no action server.

endpoints.yml:  nlg: {type: bot.nlg.PersistentAdviceNLG, without_advice: [...]}
"""

from __future__ import annotations

from typing import Any

from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot.emergency import EMERGENCY_RESPONSE, with_numbers
from bot.knowledge import knowledge_base, sources_metadata
from bot.nlu.names import EMERGENCY_REMINDER, EMERGENCY_SLOT, PERSISTENCE_SLOT, PERSISTENT

ADVICE = "persistent_pain"


class PersistentAdviceNLG(TemplatedNaturalLanguageGenerator):
    def __init__(self, endpoint_config: EndpointConfig, domain: Domain) -> None:
        super().__init__(domain.responses)
        self.without_advice = frozenset(endpoint_config.kwargs.get("without_advice", ()))
        self.advice = knowledge_base().advice[ADVICE]

    async def generate(
        self,
        utter_action: str,
        tracker: DialogueStateTracker,
        output_channel: str,
        **kwargs: Any,
    ) -> dict[str, Any] | None:
        message = await super().generate(utter_action, tracker, output_channel, **kwargs)
        if message and utter_action in (EMERGENCY_RESPONSE, EMERGENCY_REMINDER):
            latest = tracker.latest_message
            return with_numbers(message, latest.metadata if latest else None)
        if not message or not message.get("text") or utter_action in self.without_advice:
            return message
        if tracker.get_slot(EMERGENCY_SLOT):
            reminder = await super().generate(EMERGENCY_REMINDER, tracker, output_channel)
            message["text"] = f"{reminder['text']}\n\n{message['text']}"
        if tracker.get_slot(PERSISTENCE_SLOT) == PERSISTENT:
            message["text"] = f"{message['text']}\n\n{self.advice.answer}"
            message["metadata"] = {**message.get("metadata", {}), **sources_metadata(self.advice)}
        return message
