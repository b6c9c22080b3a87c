"""Trainer workbench: add examples, review what the bot misunderstood, retrain with a gate.

The CLI (`python -m trainer`) and the web workbench (`trainer.web`) share the
functions in `examples`, `inbox` and `evaluation`; every change goes through them.
"""
