"""The live dashboard the local runtime serves at /ui/ (where OpenFaaS puts its UI)."""
