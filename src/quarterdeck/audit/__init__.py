"""The audit trail of an Application: what changed its live objects, when, and why."""
