"""Progressive delivery: canary and blue/green Rollouts gated by analysis."""
