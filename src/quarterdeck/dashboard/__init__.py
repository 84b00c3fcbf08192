"""The web dashboard: what the platform is doing, for the user signed in, from the
operator's informer caches (see docs/dashboard.md)."""
