"""A function that cannot start: its import fails, as with a missing model or dependency."""
raise RuntimeError("broken on purpose: this handler never imports")
