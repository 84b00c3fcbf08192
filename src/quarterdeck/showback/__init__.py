"""Showback: GPU-hours, idle GPUs, cost, budgets and SLOs per team (see docs/showback.md).

`account` (pure) turns usage records and prices into an Allocation table; the shell
(controller, API server route, CLI) gathers the records and carries decisions out.
"""
