"""Trainer workbench: add examples, review what the bot misunderstood, retrain with a gate.

The CLI (`python -m bot.trainer`) and the web workbench (`bot.trainer.web`) share the
functions in `examples`, `inbox` and `evaluation`; every change goes through them.
"""
