"""Entity and role names shared by the NLU components and the actions.

Kept apart from the components so the action server does not import Rasa itself.
"""

PERSISTENCE_ENTITY = "pain_persistence"
PERSISTENT = "persistent"
# The safety layer's decision and its evidence, in the parse data of each user message.
SAFETY_KEY = "safety"
# The slot that remembers it: filled from the entity of the same name (domain.yml).
PERSISTENCE_SLOT = PERSISTENCE_ENTITY
# True once the user has reported a red flag (domain.yml maps it from report_red_flag).
EMERGENCY_SLOT = "emergency_reported"
EMERGENCY_REMINDER = "utter_emergency_reminder"
# The intent of a message's question alone, when it also has a statement (parse data).
QUESTION_INTENT = "question_intent"
