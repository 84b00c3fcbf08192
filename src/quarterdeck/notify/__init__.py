"""Notifications: events of Applications (and other objects) sent to webhooks and chat.

Pure decisions (``notice``, ``changes``, ``matching``, ``payload``, ``limits``) inside a
thin shell (``sender``: a queue and one thread off every reconcile path).
"""
