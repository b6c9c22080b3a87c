"""The safety layer: red flags, urgent signs and persistent pain, read apart from intents.

concepts.py (what is mentioned) -> context.py (whose, when, denied?) -> classifier.py (a
second signal) -> assessor.py (the decision and its explanation); persistence.py reads
how long the pain has lasted. bot/nlu/safety_layer.py runs it inside Rasa.
"""
